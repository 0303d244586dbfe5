"""gunicorn settings: `gunicorn -c gunicorn.conf.py run:app`. Every value comes from the environment.

GUNICORN_BIND (default 127.0.0.1:8000), GUNICORN_WORKERS (default 2 × cores + 1), GUNICORN_THREADS (1),
GUNICORN_TIMEOUT (60 s), GUNICORN_GRACEFUL_TIMEOUT (30 s). The app is loaded once before the workers fork
(preload_app); each worker then opens its own database connections. `kill -HUP <master>` restarts the workers
gracefully (requests in flight finish)."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * multiprocessing.cpu_count() + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"


def post_fork(server, worker):
    """Connections opened by the preloaded app must not be shared by the forked workers."""
    from app.extensions import db

    flask_app = server.app.wsgi()
    with flask_app.app_context():
        db.engine.dispose(close=False)
