#!/usr/bin/env bash
# Install everything the project needs on a Debian machine without Docker, and start the services:
# system packages (through infra/stack.py), the Python virtualenv, and the Node check of the
# TimescaleDB SQL. Safe to run again: each step is skipped when it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 infra/stack.py up

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import aquafs, feast, great_expectations" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.aquafs-installed ] || [ constraints.txt -nt .venv/.aquafs-installed ]; then
    echo "[setup] installing the project into .venv (pinned by constraints.txt)"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -c constraints.txt -e '.[dev]'
    touch .venv/.aquafs-installed
fi

if [ -f sql/timescale_check/package.json ] && [ ! -d sql/timescale_check/node_modules ]; then
    if command -v npm >/dev/null; then
        echo "[setup] installing the TimescaleDB (PGlite) check"
        (cd sql/timescale_check && npm ci --no-audit --no-fund --loglevel=error)
    else
        echo "[setup] npm not found: the TimescaleDB SQL check will fail; install nodejs and npm" >&2
    fi
fi
