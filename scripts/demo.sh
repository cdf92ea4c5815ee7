#!/usr/bin/env bash
# The main job: install and start the stack if needed, then run the whole path on the real data
# (migrate, apply, load, backfill, Kafka replay, materialize, quality, train, predict).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
eval "$(python3 infra/stack.py env)"
.venv/bin/aquafs demo "$@"
