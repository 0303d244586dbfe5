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
exec .venv/bin/python run.py
