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

# With JSON logs (LOG_FORMAT=json, the production default) gunicorn's own lines are JSON objects too, with ID
# numbers masked (app/logs.py); its access line stays off unless GUNICORN_ACCESS_LOG is set: the app writes one per
# request with the request id and the user.
_log_format = (os.environ.get("LOG_FORMAT") or "").strip().lower() or (
    "json" if os.environ.get("APP_ENV", "production").strip().lower() == "production" else "text")
if _log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
        "filters": {"mask": {"()": "app.logs.MaskIdNumbers"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["mask"],
                                "stream": "ext://sys.stderr"}},
        "root": {"level": os.environ.get("LOG_LEVEL", "INFO").upper(), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO" if accesslog else "WARNING", "handlers": ["stderr"],
                                "propagate": False},
        },
    }


def post_fork(server, worker):
    """Connections opened by the preloaded app must not be shared by the forked workers."""
    from app.extensions import db

    flask_app = server.app.wsgi()
    with flask_app.app_context():
        db.engine.dispose(close=False)
