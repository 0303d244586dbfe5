"""/healthz and /readyz for the load balancer and the monitoring.

- /healthz: the process answers (200, a tiny JSON). Touches nothing: no database, no Redis.
- /readyz: what the platform needs to serve is reachable: the database (`SELECT 1`), Redis (PING, when REDIS_URL
  is set) and the task queue (at least one RQ worker listening on TASK_QUEUE; without a queue, jobs run inline and
  the check says so). 200 with every check's result, or 503 naming the checks that failed.

Both are answered by the first before_request hook of the app: no login, no rate limit, no CSRF, no session (no
Set-Cookie), no password-change redirect, no database work for the visitor's identity; only the platform-wide
refusal of control characters in a URL applies. Routes stay in the URL map (the access matrix classifies them as
public).

A worker that is down makes /readyz fail on every node at once (the queue is shared): point a load balancer's node
check at /healthz, or at /readyz when a node should leave the pool while its database or Redis is out of reach.
"""
from __future__ import annotations

import time

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.sessions import SessionInterface
from redis import Redis
from sqlalchemy import text

from .. import tasks
from ..extensions import db
from .input_filter import refuse_bad_characters

blueprint = Blueprint("health", __name__)
ENDPOINTS = frozenset({"health.healthz", "health.readyz"})
PATHS = frozenset({"/healthz", "/readyz"})
# A database or Redis that accepts connections but does not answer must not hold the probe (nor a web worker).
TIMEOUT_SECONDS = 2


@blueprint.get("/healthz")
def healthz():
    return _json({"status": "ok"}, 200)


@blueprint.get("/readyz")
def readyz():
    checks = {"database": _check(_database), "redis": _check(_redis)}
    if tasks.inline():
        checks["queue"] = {"ok": True, "inline": True}  # no queue: a job runs in the process that asks for it
    elif checks["redis"]["ok"]:
        checks["queue"] = _check(_queue)
    else:
        checks["queue"] = {"ok": False, "error": "the queue is on Redis, which is not reachable"}
    failing = [name for name, result in checks.items() if not result["ok"]]
    if failing:
        current_app.logger.warning("not ready: %s", ", ".join(f"{name} ({checks[name].get('error')})"
                                                             for name in failing))
        return _json({"status": "fail", "failing": failing, "checks": checks}, 503)
    return _json({"status": "ok", "checks": checks}, 200)


def _json(body: dict, status: int):
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _check(probe) -> dict:
    started = time.perf_counter()
    try:
        result = probe() or {}
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency is a "not ready", never a 500
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        return {"ok": False, "error": f"{type(exc).__name__}: {first_line}".rstrip(": "),
                "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, **result, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _database() -> dict:
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # for this transaction only: the pooled connection keeps its settings
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {TIMEOUT_SECONDS * 1000}")
        conn.execute(text("SELECT 1")).scalar_one()
        conn.rollback()
    return {}


def _redis_client():
    """A client of its own, with short timeouts (the task queue's client waits as long as a job needs)."""
    url = current_app.config["REDIS_URL"]
    clients = current_app.extensions.setdefault("health_redis", {})
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
    return clients[url]


def _redis() -> dict:
    if not current_app.config.get("REDIS_URL"):
        return {"skipped": "REDIS_URL is not set"}
    _redis_client().ping()
    return {}


def _queue() -> dict:
    workers = tasks.workers_listening()
    if workers < 1:
        raise RuntimeError(f"no worker listens on the queue {current_app.config['TASK_QUEUE']!r} "
                           "(start one: flask worker)")
    return {"workers": workers}


def _answer_first():
    """The first before_request hook: a probe is answered here, so no other hook (identity, session, limits,
    input filter, password gate) runs for it."""
    if request.endpoint in ENDPOINTS:
        # a control character in the query is refused here as everywhere (the probes read no input)
        return refuse_bad_characters() or current_app.view_functions[request.endpoint]()
    return None


class _NoSessionForProbes(SessionInterface):
    """The app's session interface, except that a probe gets no session: one that comes with a session cookie
    (a browser, a monitoring check run with a login) neither reads nor refreshes it, so no Set-Cookie."""

    def __init__(self, inner: SessionInterface):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def open_session(self, app, request):
        if request.path in PATHS:
            return None  # Flask then uses a null session, which is never saved
        return self.inner.open_session(app, request)

    def save_session(self, app, session, response):
        return self.inner.save_session(app, session, response)


def init_app(app: Flask) -> None:
    """Called once all other request hooks are registered (create_app): the probes' hook goes first."""
    app.register_blueprint(blueprint)  # GET and HEAD only: nothing for CSRF to check
    app.before_request_funcs.setdefault(None, []).insert(0, _answer_first)
    app.session_interface = _NoSessionForProbes(app.session_interface)
