#!/usr/bin/env bash
# Generate the bench database (or only its hours, issue 3) if missing, then print the figures (ours + FAB 5.3).
# Arguments go to bench/run.py, e.g.  bench/run_all.sh --no-slow-baseline   or   bench/run_all.sh --show-sql
# Database: $BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/jxjy_bench).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
"$PY" bench/generate.py --if-missing
exec "$PY" bench/run.py "$@"
