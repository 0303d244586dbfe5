#!/usr/bin/env bash
# Installs everything the platform needs on a fresh Debian machine: system packages (Chinese fonts, Chromium for
# browser tests, ffmpeg for the demo lessons' videos, PostgreSQL and Redis for the test suite, Node.js and npm for
# the accessibility checker), the Python virtualenv and packages, the npm development packages (axe-core, package-lock.json), compiled
# translations. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# postgresql-client: pg_dump and pg_restore for `flask backup` / `flask restore`; nginx: the reverse proxy of
# deploy/nginx.conf (tests/test_ops.py runs `nginx -t` on it and serves through it on a free port).
APT_PACKAGES=(chromium ffmpeg fonts-noto-cjk fonts-wqy-zenhei poppler-utils postgresql postgresql-client redis-server
              nginx)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Node.js and npm (Debian's nodejs + npm), unless a Node.js that bundles npm is already installed.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing Python packages"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# axe-core for the browser tests' accessibility check: exactly the versions of package-lock.json.
npm_stamp=node_modules/.package-lock.sha
npm_want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_want" ]; then
  echo "[setup] installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_want" > "$npm_stamp"
fi

.venv/bin/pybabel compile -d translations >/dev/null
mkdir -p instance
echo "[setup] done"
