#!/usr/bin/env bash
# Serves the platform the production way on this machine, in one command:
#
#   scripts/prod.sh [--demo] [--check]      # then open http://127.0.0.1:8080/ ; Ctrl-C stops everything
#
# APP_ENV=production; PostgreSQL (DATABASE_URL, default the local database jxjy_prod, created if missing; the
# migrations applied; the demo data only with --demo); Redis (REDIS_URL, default local) for rate limits, the task
# queue and what the nodes share; two application nodes (gunicorn -c gunicorn.conf.py run:app on 127.0.0.1:8001 and
# 127.0.0.1:8002, GUNICORN_WORKERS workers each) sharing one file store (UPLOAD_FOLDER, LEARNING_FOLDER); nginx in
# front on 127.0.0.1:8080 with deploy/nginx.conf; one task-queue worker and the scheduler; e-mail through
# MAIL_SERVER:MAIL_PORT (default: a local SMTP debugging server started here, e-mails in instance/prod/mail.log).
# It waits until every node answers /readyz, prints the address, and stops every process it started on Ctrl-C or
# TERM. --check starts everything, checks both nodes and nginx, and stops (exit status 0 when all answered).
#
# Secrets: SECRET_KEY from the environment, else made once at random into instance/prod_secret_key (mode 0600) and
# reused. This local trial takes payments with the simulated provider (PAYMENT_SIMULATED=true, PAYMENT_SECRET made
# like the key into instance/prod_payment_secret); a real platform sets PAYMENT_PROVIDER to a real provider.
#
# Other settings (environment): PROD_HTTP_PORT (8080), PROD_NODE_PORTS ("8001 8002"), INSTANCE_PATH (instance/),
# PROD_RUN_DIR (instance/prod: logs, nginx's prefix files and pid), NGINX (nginx), PROD_NGINX_CONF (another file of
# the same shape as deploy/nginx.conf), and everything config.py reads.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

demo=0; check=0
for arg in "$@"; do
  case "$arg" in
    --demo) demo=1 ;;
    --check) check=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: scripts/prod.sh [--demo] [--check]" >&2; exit 2 ;;
  esac
done

say() { echo "[prod] $*"; }
fail() { echo "[prod] error: $*" >&2; exit 1; }

[ -x .venv/bin/gunicorn ] || fail "the virtualenv is missing: run scripts/setup.sh first"
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[ -x "$NGINX" ] || fail "nginx is not installed: run scripts/setup.sh first"
NGINX_CONF=${PROD_NGINX_CONF:-deploy/nginx.conf}
[ -f "$NGINX_CONF" ] || fail "$NGINX_CONF is missing"

export APP_ENV=production
export INSTANCE_PATH=${INSTANCE_PATH:-$ROOT/instance}
RUN_DIR=${PROD_RUN_DIR:-$INSTANCE_PATH/prod}
HTTP_PORT=${PROD_HTTP_PORT:-8080}
read -r -a NODE_PORTS <<< "${PROD_NODE_PORTS:-8001 8002}"
mkdir -p "$INSTANCE_PATH" "$RUN_DIR/nginx"
: > "$RUN_DIR/pids"

# ---------------------------------------------------------------- PostgreSQL and Redis
if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
  bash scripts/services.sh >/dev/null || true  # the local servers, started if installed and not running
fi
export DATABASE_URL=${DATABASE_URL:-postgresql+psycopg://postgres:postgres@127.0.0.1:5432/jxjy_prod}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
case "$DATABASE_URL" in postgresql*) ;; *) fail "DATABASE_URL must be a PostgreSQL database" ;; esac
.venv/bin/python - "$DATABASE_URL" <<'EOF' || fail "PostgreSQL is not reachable at DATABASE_URL"
import sys
import psycopg
from sqlalchemy.engine import make_url

url = make_url(sys.argv[1])
name = url.database
admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
        conn.execute(f'CREATE DATABASE "{name}"')
        print(f"[prod] database {name} created", flush=True)
EOF
.venv/bin/python -c "import redis, sys; redis.Redis.from_url(sys.argv[1], socket_timeout=3).ping()" \
  "$REDIS_URL" 2>/dev/null || fail "Redis is not reachable at REDIS_URL ($REDIS_URL)"

# ---------------------------------------------------------------- secrets (made once, owner-readable only)
secret_file() {  # secret_file PATH: prints the secret kept in PATH, making it first if missing
  .venv/bin/python - "$1" <<'EOF'
import os, secrets, sys
path = sys.argv[1]
if not os.path.exists(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
os.chmod(path, 0o600)
print(open(path).read().strip())
EOF
}
if [ -z "${SECRET_KEY:-}" ]; then
  SECRET_KEY=$(secret_file "$INSTANCE_PATH/prod_secret_key")
fi
export SECRET_KEY
if [ "${PAYMENT_PROVIDER:-simulated}" = "simulated" ]; then
  export PAYMENT_SIMULATED=true  # a trial platform only: anyone "pays" through the simulated provider
  if [ -z "${PAYMENT_SECRET:-}" ]; then
    PAYMENT_SECRET=$(secret_file "$INSTANCE_PATH/prod_payment_secret")
  fi
  export PAYMENT_SECRET
fi

# ---------------------------------------------------------------- what both nodes share
export UPLOAD_FOLDER=${UPLOAD_FOLDER:-$INSTANCE_PATH/uploads}
export LEARNING_FOLDER=${LEARNING_FOLDER:-$INSTANCE_PATH/learning}
mkdir -p "$UPLOAD_FOLDER" "$LEARNING_FOLDER"
export SENDFILE=${SENDFILE:-${LEARNING_SENDFILE:-nginx}}  # protected files leave through nginx (X-Accel-Redirect)
export PROXY_TRUSTED_HOPS=${PROXY_TRUSTED_HOPS:-1}     # the client's address from nginx's X-Forwarded-For
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-http://127.0.0.1:$HTTP_PORT}
export FLASK_APP=run.py

children=()
names=()
started() {  # started NAME PID
  children+=("$2"); names+=("$1")
  echo "$1 $2" >> "$RUN_DIR/pids"
}
stop_all() {
  trap - INT TERM EXIT
  local i
  for ((i = ${#children[@]} - 1; i >= 0; i--)); do
    kill -TERM "${children[$i]}" 2>/dev/null || true
  done
  for ((i = ${#children[@]} - 1; i >= 0; i--)); do
    local pid=${children[$i]} waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 150 ]; do sleep 0.2; waited=$((waited + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
      say "${names[$i]} ($pid) did not stop in 30 s: killed"
      kill -KILL "$pid" 2>/dev/null || true
      # a supervised process too (an RQ worker whose warm shutdown hangs, e.g. after Redis came back)
      if [ -f "$RUN_DIR/${names[$i]}.pid" ]; then kill -KILL "$(cat "$RUN_DIR/${names[$i]}.pid")" 2>/dev/null || true; fi
    fi
    wait "$pid" 2>/dev/null || true
    # a supervised process outliving its supervisor (a worker whose shutdown hangs): waited for, then killed
    if [ -f "$RUN_DIR/${names[$i]}.pid" ]; then
      local inner
      inner=$(cat "$RUN_DIR/${names[$i]}.pid")
      waited=0
      while running "$inner" && [ $waited -lt 150 ]; do sleep 0.2; waited=$((waited + 1)); done
      if running "$inner"; then
        say "${names[$i]} process ($inner) did not stop in 30 s: killed"
        kill -KILL "$inner" 2>/dev/null || true
      fi
    fi
  done
  [ ${#children[@]} -eq 0 ] || say "stopped: ${names[*]}"
}
running() {  # running PID: the process exists and is not a zombie (one whose parent is gone may wait to be reaped)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# ---------------------------------------------------------------- migrations, demo data
say "database: $(.venv/bin/python -c "from sqlalchemy.engine import make_url; import sys; print(make_url(sys.argv[1]).render_as_string(hide_password=True))" "$DATABASE_URL")"
.venv/bin/flask db upgrade > "$RUN_DIR/migrate.log" 2>&1 || { tail -n 20 "$RUN_DIR/migrate.log" >&2; fail "the migrations failed"; }
.venv/bin/flask db current 2>/dev/null | grep -q '(head)' || fail "the migrations did not reach the head"
say "migrations applied (log: $RUN_DIR/migrate.log)"
if [ $demo -eq 1 ]; then
  .venv/bin/flask seed-demo
fi

# ---------------------------------------------------------------- e-mail
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if [ -z "${MAIL_SERVER:-}" ]; then
  export MAIL_SERVER=127.0.0.1 MAIL_PORT=${MAIL_PORT:-8025}
  if port_open 127.0.0.1 "$MAIL_PORT"; then
    say "e-mail: the SMTP server already listening on 127.0.0.1:$MAIL_PORT"
  else
    .venv/bin/python -m aiosmtpd -n -l "127.0.0.1:$MAIL_PORT" > "$RUN_DIR/mail.log" 2>&1 &
    started smtp $!
    say "e-mail: a local SMTP debugging server on 127.0.0.1:$MAIL_PORT writes every e-mail to $RUN_DIR/mail.log"
  fi
fi

# ---------------------------------------------------------------- task queue
# The worker and the scheduler are restarted when they exit (as a service manager would): a worker killed in the
# middle of a job, or one that gave up while Redis was away. Their current pid is in $RUN_DIR/<name>.pid.
supervise() {  # supervise NAME COMMAND...
  local name=$1; shift
  (
    child=""
    trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; [ -n "$child" ] && wait "$child" 2>/dev/null; exit 0' \
      TERM INT
    while true; do
      "$@" &
      child=$!
      echo "$child" > "$RUN_DIR/$name.pid"
      status=0; wait "$child" || status=$?
      echo "[prod] $name exited (status $status): started again in 2 s"
      sleep 2
    done
  ) >> "$RUN_DIR/$name.log" 2>&1 &
  started "$name" $!
}
: > "$RUN_DIR/worker.log"; : > "$RUN_DIR/scheduler.log"
supervise worker .venv/bin/flask worker
supervise scheduler .venv/bin/flask scheduler

# ---------------------------------------------------------------- application nodes
for port in "${NODE_PORTS[@]}"; do
  port_open 127.0.0.1 "$port" && fail "127.0.0.1:$port is already in use (PROD_NODE_PORTS)"
  GUNICORN_BIND=127.0.0.1:$port .venv/bin/gunicorn -c gunicorn.conf.py run:app > "$RUN_DIR/node-$port.log" 2>&1 &
  started "node-$port" $!
done

# ---------------------------------------------------------------- nginx (deploy/nginx.conf, this machine's ports)
# The shipped file listens on port 80 and keeps its pid, logs and temporary files under instance/nginx/ of the
# checkout: this run listens on 127.0.0.1:$HTTP_PORT, keeps them under $RUN_DIR/nginx/, sends the application
# nodes of PROD_NODE_PORTS and serves the protected files from LEARNING_FOLDER and UPLOAD_FOLDER. Everything else is
# the file as shipped. (Started as root, nginx's workers run as nobody: the file stores must be readable by them.)
port_open 127.0.0.1 "$HTTP_PORT" && fail "127.0.0.1:$HTTP_PORT is already in use (PROD_HTTP_PORT)"
conf="$RUN_DIR/nginx/nginx.conf"
upstream=""
for port in "${NODE_PORTS[@]}"; do upstream+="        server 127.0.0.1:$port max_fails=2 fail_timeout=10s;\n"; done
awk -v listen="127.0.0.1:$HTTP_PORT" -v run="$RUN_DIR/nginx/" -v learning="${LEARNING_FOLDER%/}/" \
    -v uploads="${UPLOAD_FOLDER%/}/" -v upstream="$upstream" '
  /^[ \t]*server 127\.0\.0\.1:[0-9]+ / { if (!done_upstream) { printf "%s", upstream; done_upstream = 1 } next }
  { gsub(/instance\/nginx\//, run) }
  /^[ \t]*listen 80 default_server;/ { sub(/listen 80 default_server;/, "listen " listen " default_server;") }
  /^[ \t]*alias instance\/learning\/;/ { sub(/alias instance\/learning\/;/, "alias " learning ";") }
  /^[ \t]*alias instance\/uploads\/;/ { sub(/alias instance\/uploads\/;/, "alias " uploads ";") }
  { print }' "$NGINX_CONF" > "$conf"
grep -q "listen 127.0.0.1:$HTTP_PORT " "$conf" && grep -q "alias ${LEARNING_FOLDER%/}/;" "$conf" \
  && { ! grep -q "location /protected/uploads/" "$conf" || grep -q "alias ${UPLOAD_FOLDER%/}/;" "$conf"; } \
  && grep -q "server 127.0.0.1:${NODE_PORTS[0]} " "$conf" \
  || fail "$NGINX_CONF does not have the expected listen/alias/upstream lines: see $conf"
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null 2>&1; then
  for store in "$UPLOAD_FOLDER" "$LEARNING_FOLDER" "$RUN_DIR/nginx" "$ROOT/app/static"; do
    runuser -u nobody -- test -x "$store" 2>/dev/null \
      || say "warning: nginx's workers (user nobody) cannot enter $store: files sent from there will fail"
  done
fi
"$NGINX" -t -q -p "$ROOT/" -c "$conf" -e "$RUN_DIR/nginx/error.log" || fail "nginx refuses $conf"
"$NGINX" -p "$ROOT/" -c "$conf" -e "$RUN_DIR/nginx/error.log" -g "daemon off;" > "$RUN_DIR/nginx/stdout.log" 2>&1 &
started nginx $!

# ---------------------------------------------------------------- wait until every node is ready
probe() {  # probe URL: prints the HTTP status (000 when nothing answered)
  curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true
}
alive() {
  local i
  for i in "${!children[@]}"; do
    kill -0 "${children[$i]}" 2>/dev/null || { say "${names[$i]} exited: see $RUN_DIR/"; return 1; }
  done
}
for port in "${NODE_PORTS[@]}"; do
  deadline=$((SECONDS + ${PROD_START_TIMEOUT:-120}))
  until [ "$(probe "http://127.0.0.1:$port/readyz")" = 200 ]; do
    alive || exit 1
    if [ $SECONDS -ge $deadline ]; then
      say "node 127.0.0.1:$port is not ready: $(curl -s -m 5 "http://127.0.0.1:$port/readyz" || echo 'no answer')"
      exit 1
    fi
    sleep 1
  done
  say "node 127.0.0.1:$port ready (/readyz 200)"
done
until [ "$(probe "http://127.0.0.1:$HTTP_PORT/healthz")" = 200 ]; do
  alive || exit 1
  [ $SECONDS -lt $deadline ] || { say "nginx does not answer on 127.0.0.1:$HTTP_PORT"; exit 1; }
  sleep 0.5
done
say "serving on http://127.0.0.1:$HTTP_PORT/ (nginx -> ${NODE_PORTS[*]/#/127.0.0.1:}; logs in $RUN_DIR/)"

if [ $check -eq 1 ]; then
  ok=1
  for path in /readyz /login/ /static/appbuilder/css/ab.css; do
    status=$(probe "http://127.0.0.1:$HTTP_PORT$path")
    say "check: nginx $path -> $status"
    [ "$status" = 200 ] || ok=0
  done
  for port in "${NODE_PORTS[@]}"; do
    status=$(probe "http://127.0.0.1:$port/login/")
    say "check: node 127.0.0.1:$port /login/ -> $status"
    [ "$status" = 200 ] || ok=0
  done
  # every node answers through nginx: the upstream address nginx logged for each request
  for _ in 1 2 3 4 5 6; do probe "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null; done
  for port in "${NODE_PORTS[@]}"; do
    if ! grep -q "\"upstream\":\"127.0.0.1:$port\"" "$RUN_DIR/nginx/access.log" 2>/dev/null; then
      say "check: nginx never reached 127.0.0.1:$port"
      ok=0
    fi
  done
  stop_all
  for i in "${!children[@]}"; do
    if kill -0 "${children[$i]}" 2>/dev/null; then say "check: ${names[$i]} still running"; ok=0; fi
  done
  if [ $ok -eq 1 ]; then say "check passed"; exit 0; fi
  say "check failed"; exit 1
fi

wait -n "${children[@]}" || true
say "a process exited: stopping everything (logs in $RUN_DIR/)"
exit 1
