"""scripts/prod.sh --check: the production start (PostgreSQL, Redis, two gunicorn nodes, nginx, the task queue's
worker and scheduler) on a throwaway database and free ports; both nodes and nginx answer, and every process it
started has stopped when it returns."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("PROD_TEST_POSTGRES", "postgresql://postgres:postgres@127.0.0.1:5432")
REDIS = os.environ.get("PROD_TEST_REDIS", "redis://127.0.0.1:6379/13")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _services_or_skip() -> None:
    if shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"):
        pytest.skip("nginx is not installed (scripts/setup.sh installs it)")
    try:
        import psycopg

        psycopg.connect(SERVER + "/postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL is not reachable at {SERVER}: {exc}")
    try:
        import redis

        redis.Redis.from_url(REDIS, socket_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis is not reachable at {REDIS}: {exc}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by a parent that is gone) is stopped too
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_prod_check_serves_through_nginx_and_stops_everything(tmp_path):
    _services_or_skip()
    import psycopg

    name = f"jxjy_prodcheck_{uuid.uuid4().hex[:8]}"
    http_port, node_a, node_b, mail_port = _free_ports(4)
    env = dict(os.environ,
               DATABASE_URL=f"{SERVER.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}",
               REDIS_URL=REDIS, INSTANCE_PATH=str(tmp_path), PROD_HTTP_PORT=str(http_port),
               PROD_NODE_PORTS=f"{node_a} {node_b}", GUNICORN_WORKERS="1", MAIL_PORT=str(mail_port),
               TASK_QUEUE=f"prodcheck-{name}")
    for key in ("SECRET_KEY", "PAYMENT_SECRET", "MAIL_SERVER", "APP_ENV", "PROD_RUN_DIR", "LEARNING_FOLDER",
                "UPLOAD_FOLDER"):
        env.pop(key, None)
    try:
        done = subprocess.run(["bash", str(ROOT / "scripts/prod.sh"), "--check"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=400)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        # the database was made and migrated, both nodes were ready, nginx answered for each of them
        with psycopg.connect(SERVER + f"/{name}") as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
            assert conn.execute("SELECT count(*) FROM ab_user").fetchone()[0] == 0  # no demo data without --demo
        for port in (node_a, node_b):
            assert f"node 127.0.0.1:{port} ready (/readyz 200)" in out
            assert f"check: node 127.0.0.1:{port} /login/ -> 200" in out
        for path in ("/readyz", "/login/", "/static/appbuilder/css/ab.css"):
            assert f"check: nginx {path} -> 200" in out
        # nginx ran deploy/nginx.conf with this run's port, nodes and file stores
        conf = (tmp_path / "prod/nginx/nginx.conf").read_text()
        assert f"listen 127.0.0.1:{http_port} " in conf and "listen 80 " not in conf
        assert f"alias {tmp_path}/learning/;" in conf and f"alias {tmp_path}/uploads/;" in conf
        assert f"server 127.0.0.1:{node_a} " in conf and f"server 127.0.0.1:{node_b} " in conf
        access = (tmp_path / "prod/nginx/access.log").read_text()
        assert f'"upstream":"127.0.0.1:{node_a}"' in access and f'"upstream":"127.0.0.1:{node_b}"' in access
        # every process it started has stopped, and nothing listens on its ports any more
        pids = dict(line.split() for line in (tmp_path / "prod/pids").read_text().splitlines())
        assert set(pids) == {"smtp", "worker", "scheduler", f"node-{node_a}", f"node-{node_b}", "nginx"}
        # the supervised worker and scheduler processes themselves, not only their supervisors
        pids.update({f"{name} process": (tmp_path / f"prod/{name}.pid").read_text().strip()
                     for name in ("worker", "scheduler")})
        assert [n for n, pid in pids.items() if _alive(int(pid))] == []
        for port in (http_port, node_a, node_b, mail_port):
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", port)) != 0, f"127.0.0.1:{port} still answers"
        # the production secrets were made once, readable by their owner only
        for secret in ("prod_secret_key", "prod_payment_secret"):
            mode = stat.S_IMODE((tmp_path / secret).stat().st_mode)
            assert mode == 0o600, (secret, oct(mode))
            assert len((tmp_path / secret).read_text().strip()) >= 32
    finally:
        with psycopg.connect(SERVER + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
