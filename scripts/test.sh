#!/usr/bin/env bash
# The test command: set up, start the local services, lint, type-check, then run every test
# against the real PostgreSQL, Redis and Kafka. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
eval "$(python3 infra/stack.py env)"

echo "[test] ruff"
.venv/bin/ruff check .
echo "[test] mypy"
.venv/bin/mypy
echo "[test] pytest"
.venv/bin/pytest "$@"
