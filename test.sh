#!/usr/bin/env bash
# One command: set up and run the whole test suite, on SQLite and on PostgreSQL (browser tests included).
set -uo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh || exit 1
PY=.venv/bin/python
export PYTHONDONTWRITEBYTECODE=1
status=0

pg_url=$(bash scripts/services.sh | tail -n1)

echo "=== test run 1/2: SQLite ==="
env -u TEST_DATABASE_URL $PY -m pytest -n 2 -q -p no:cacheprovider "$@" || status=1

if [ -n "$pg_url" ]; then
  echo "=== test run 2/2: PostgreSQL ($pg_url) ==="
  TEST_DATABASE_URL="$pg_url" $PY -m pytest -n 2 -q -p no:cacheprovider "$@" || status=1
else
  echo "!!! PostgreSQL run SKIPPED: no PostgreSQL server reachable on 127.0.0.1:5432 !!!"
  if [ "${CI:-}" = "true" ]; then
    echo "CI requires the PostgreSQL run: failing." >&2
    status=1
  fi
fi
exit $status
