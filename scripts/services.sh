#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis servers if they are installed but not running.
# Prints the PostgreSQL URL to use for tests on stdout's last line, or nothing if no server could be reached.
set -uo pipefail

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if ! pg_ready && command -v pg_lsclusters >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [ -n "$version" ]; then
    echo "[services] starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 2>&1 || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
  fi
fi
if pg_ready; then
  # A freshly installed server only trusts local peer logins: give the postgres role a known password for TCP.
  if ! psql "postgresql://postgres:postgres@127.0.0.1:5432/postgres" -Atqc "select 1" >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
      su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >&2 2>&1 || true
    fi
  fi
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
  echo "[services] starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 2>&1 || true
fi

if pg_ready && psql "postgresql://postgres:postgres@127.0.0.1:5432/postgres" -Atqc "select 1" >/dev/null 2>&1; then
  echo "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/jxjy_test"
fi
