"""Measuring helpers shared by run.py (our app) and fab_baseline.py (plain Flask-AppBuilder)."""
from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field

from sqlalchemy import event

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Security-manager methods whose SQL counts as "authentication + permissions" (those that exist are wrapped).
AUTH_METHODS = (
    "load_user", "get_user_by_id", "has_access", "_has_view_access", "get_user_roles", "is_item_public",
    "get_user_menu_access", "_get_user_permission_view_menus", "get_user_permissions",
    "get_user_roles_permissions", "exist_permission_on_roles", "find_roles_permission_view_menus",
)


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    if not match:
        raise RuntimeError("no csrf_token in page")
    return match.group(1)


@dataclass
class Statement:
    sql: str
    auth: bool
    ms: float = 0.0
    params: object = None


@dataclass
class SqlRecorder:
    """Every statement sent to the database while `active`, flagged `auth` when issued inside a wrapped
    security-manager method (see instrument_security_manager)."""

    active: bool = False
    auth_depth: int = 0
    statements: list[Statement] = field(default_factory=list)

    def attach(self, engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.active:
            self.statements.append(Statement(statement, self.auth_depth > 0, params=parameters))
            conn.info.setdefault("_bench_t0", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        stack = conn.info.get("_bench_t0")
        if self.active and stack:
            self.statements[-1].ms = (time.perf_counter() - stack.pop()) * 1000

    def start(self) -> None:
        self.statements = []
        self.active = True

    def stop(self) -> list[Statement]:
        self.active = False
        return self.statements

    @property
    def sql_ms(self) -> float:
        return sum(s.ms for s in self.statements)


def instrument_security_manager(sm, recorder: SqlRecorder) -> None:
    """Flag the SQL issued inside the security manager (user loading, roles, permission checks)."""
    for name in AUTH_METHODS:
        fn = getattr(sm, name, None)
        if fn is None:
            continue

        def wrapper(*args, __fn=fn, **kwargs):
            recorder.auth_depth += 1
            try:
                return __fn(*args, **kwargs)
            finally:
                recorder.auth_depth -= 1

        setattr(sm, name, wrapper)
    sm.lm.user_loader(sm.load_user)  # Flask-Login kept the unwrapped bound method


class WsgiTimer:
    """Times the application's WSGI call (request in, response body produced), without the test client."""

    def __init__(self, app):
        self.inner = app.wsgi_app
        self.last = 0.0
        app.wsgi_app = self

    def __call__(self, environ, start_response):
        t0 = time.perf_counter()
        body = self.inner(environ, start_response)
        chunks = list(body)
        if hasattr(body, "close"):
            body.close()
        self.last = time.perf_counter() - t0
        return chunks


def instrumented_app(overrides: dict):
    """(app, recorder, timer): the app made with `overrides`, every statement it sends recorded (those of the
    security manager flagged) and its WSGI call timed."""
    from app import create_app
    from app.extensions import appbuilder, db

    app = create_app(**overrides)
    recorder = SqlRecorder()
    with app.app_context():
        recorder.attach(db.engine)
    instrument_security_manager(appbuilder.sm, recorder)
    return app, recorder, WsgiTimer(app)


@dataclass
class Result:
    label: str
    url: str
    times_ms: list[float]
    size: int
    status: int
    statements: int
    auth_statements: int
    sql_ms: float
    sample_sql: list[Statement] = field(default_factory=list)
    body: bytes = b""
    matches: int = 0
    target: float = 0.0  # ms; 0 = none
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p90(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]

    def as_dict(self) -> dict:
        return {"label": self.label, "url": self.url, "median_ms": round(self.median, 2), "p90_ms": round(self.p90, 2),
                "min_ms": round(min(self.times_ms), 2), "reps": len(self.times_ms), "size": self.size,
                "status": self.status, "statements": self.statements, "auth_statements": self.auth_statements,
                "sql_ms": round(self.sql_ms, 2), "target_ms": self.target, "note": self.note,
                "sql": [{"auth": s.auth, "ms": round(s.ms, 2), "sql": " ".join(s.sql.split())[:300]}
                        for s in self.sample_sql]}


def measure(client, timer: WsgiTimer, recorder: SqlRecorder, label: str, url: str, reps: int, warmup: int,
            expect: int = 200, keep_body: bool = False, method: str = "GET", data: dict | None = None,
            check=None) -> Result:
    """Warm up, then time `reps` requests (GET, or `method` with form `data`); statements are counted on every
    repetition (they must not vary). `check(response)` may raise if a response is not the expected page."""

    def call():
        response = client.open(url, method=method, data=data) if method != "GET" else client.get(url)
        if response.status_code != expect:
            raise RuntimeError(f"{url}: HTTP {response.status_code}\n{response.get_data(as_text=True)[:2000]}")
        if check is not None:
            check(response)
        return response

    for _ in range(warmup):
        call()
    times, sql_ms, counts = [], [], set()
    statements: list[Statement] = []
    size = status = 0
    for _ in range(reps):
        recorder.start()
        try:
            response = call()
        finally:
            statements = recorder.stop()
        times.append(timer.last * 1000)
        sql_ms.append(sum(s.ms for s in statements))
        counts.add((len(statements), sum(s.auth for s in statements)))
        size, status = len(response.get_data()), response.status_code
    total, auth = max(counts)
    return Result(label, url, times, size, status, total, auth, statistics.median(sql_ms), statements,
                  response.get_data() if keep_body else b"")
