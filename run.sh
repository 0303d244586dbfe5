#!/usr/bin/env bash
# One command: set up, migrate, load demo data and serve the platform on http://127.0.0.1:5000/ (SQLite).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
export FLASK_APP=run.py
# A local run: SQLite, in-memory rate limits, and a random SECRET_KEY made on the first start into
# instance/secret_key (mode 0600) and kept. Any other start is a production one (see config.py, APP_ENV).
export APP_ENV=development
.venv/bin/flask db upgrade
# A local SMTP debugging server prints every e-mail the platform sends (registration decisions, reset links).
if ! (exec 3<>/dev/tcp/127.0.0.1/8025) 2>/dev/null; then
  .venv/bin/python -m aiosmtpd -n -l 127.0.0.1:8025 > instance/mail.log 2>&1 &
  echo "[run] e-mails are written to instance/mail.log"
fi
.venv/bin/flask seed-demo
# Redis (installed by the setup) carries the task queue and the rate limits; a worker runs imports and other long
# work in the background. Without Redis the platform still runs: such work then runs inside the web request.
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --logfile "$PWD/instance/redis.log" >/dev/null 2>&1 || true
  sleep 0.5
fi
if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
  .venv/bin/flask worker > instance/worker.log 2>&1 &
  worker=$!
  # The scheduler puts the periodic jobs on the queue: pending notification e-mails, review reminders (X3).
  .venv/bin/flask scheduler > instance/scheduler.log 2>&1 &
  scheduler=$!
  trap 'kill $worker $scheduler 2>/dev/null' EXIT
  echo "[run] task-queue worker and scheduler started (logs: instance/worker.log, instance/scheduler.log)"
else
  echo "[run] Redis is not available: imports run inside the web request"
fi
.venv/bin/python run.py
