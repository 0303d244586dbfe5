"""Application factory."""
from __future__ import annotations

import logging
import os
import secrets

from flask import Flask, g, request
from sqlalchemy import event

from .extensions import appbuilder, csrf, db, mail, migrate
from .views.errors import error_page
from .workflows.errors import PermissionDenied


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class UnsafeConfiguration(RuntimeError):
    """The configuration must not be run as it is (see config.py, APP_ENV)."""


# Keys that are or were written somewhere public (this repository's old default, framework examples, tests): a
# session cookie signed with one of them is forgeable by anyone. (Most are also too short; the list says why.)
KNOWN_SECRET_KEYS = frozenset({
    "dev-only-secret-change-me", "test-secret", "bench-secret", "change-me", "changeme", "change-this",
    "changethis", "secret", "secret-key", "secretkey", "my-secret-key", "your-secret-key", "super-secret",
    "supersecret", "dev", "development", "default", "thisismyscretkey",
})
MIN_SECRET_KEY_LENGTH = 32


def create_app(config: object | None = None, **overrides) -> Flask:
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("INSTANCE_PATH") \
        or os.path.join(ROOT, "instance")
    app = Flask(__name__, instance_path=os.path.abspath(instance_path))
    app.config.from_object(config or "config.Config")
    app.config.update(overrides)
    _settle_secrets(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # psycopg prepares a statement from its 5th run; a generic plan made for a unit admin's two-org scope
        # would then serve the city bureau's 20,000-org scope too. Plan each statement for its own values.
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("options", "-c plan_cache_mode=force_custom_plan")
        # A connection the server dropped (PostgreSQL restarted, a failover) is found at checkout and replaced:
        # the requests after a restart succeed without restarting the app.
        options.setdefault("pool_pre_ping", True)
    os.makedirs(app.instance_path, exist_ok=True)
    from .logs import configure_logging

    configure_logging(app)  # JSON lines in production (LOG_FORMAT), ID numbers masked in every line

    from . import models  # noqa: F401  (register the tables)
    from .authz import fab_roles
    from .security import AppSecurityManager

    app.config["FAB_ROLES"] = fab_roles()
    app.config["FAB_SECURITY_MANAGER_CLASS"] = "app.security.AppSecurityManager"
    if app.config.get("TESTING") is not True:
        app.config["CAPTCHA_FIXED"] = None

    # Every <int:…> in a URL names a row of an INTEGER column: a larger number is simply not found (404), never a
    # database error.
    from werkzeug.routing import IntegerConverter

    class RowIdConverter(IntegerConverter):
        def __init__(self, url_map, *args, **kwargs):
            kwargs.setdefault("max", 2 ** 31 - 1)
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = RowIdConverter
    hops = int(app.config.get("PROXY_TRUSTED_HOPS") or 0)
    if hops:
        # Behind a reverse proxy (deploy/nginx.conf): the client's address, scheme and host come from the proxy's
        # X-Forwarded-* headers, trusted for that many proxies only; rate limits, lockouts and the audit log then
        # see the person's address, not the proxy's. Without a proxy (0) a client cannot forge them.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    with app.app_context():
        db.init_app(app)
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            _sqlite_concurrency(db.engine)
        csrf.init_app(app)
        mail.init_app(app)
        migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"),
                         render_as_batch=True)
        appbuilder.init_app(app, db.session)
        assert isinstance(appbuilder.sm, AppSecurityManager)
        from .views import register_views

        register_views(appbuilder)

    _register_request_hooks(app)
    from . import logs
    from .views import health

    health.init_app(app)  # /healthz, /readyz: answered by the first hook (no login, limits, session, CSRF)
    logs.init_app(app)  # the request id and the access line: first of all (before the probes' hook)
    from .cli import register_cli

    register_cli(app)
    return app


def _settle_secrets(app: Flask) -> None:
    """Refuse a production start with a missing or known key, SQLite or per-process rate limits; give a development
    start a random key of its own, kept in the instance folder."""
    config = app.config
    key = config.get("SECRET_KEY") or ""
    if config.get("TESTING") is True:
        config["SECRET_KEY"] = key or secrets.token_urlsafe(48)
        return
    env = str(config.get("APP_ENV") or "production").strip().lower()
    if env == "development":
        if not key:
            config["SECRET_KEY"] = _instance_secret_key(app.instance_path)
        elif _weak_key(key):
            logging.getLogger(__name__).warning("SECRET_KEY is a well-known or short value: never use it outside "
                                                "development")
        return
    if env != "production":
        raise UnsafeConfiguration(f"APP_ENV={env!r}: use APP_ENV=production, or APP_ENV=development for a local run.")
    problems = []
    if not key:
        problems.append("SECRET_KEY is not set")
    elif _weak_key(key):
        problems.append(f"SECRET_KEY is a well-known value or shorter than {MIN_SECRET_KEY_LENGTH} characters")
    if str(config.get("SQLALCHEMY_DATABASE_URI") or "").startswith("sqlite"):
        problems.append("DATABASE_URL is SQLite (use PostgreSQL)")
    if str(config.get("RATELIMIT_STORAGE_URI") or "").startswith("memory://"):
        problems.append("rate limits are kept per process (set REDIS_URL)")
    if config.get("PAYMENT_PROVIDER") == "simulated":
        if not config.get("PAYMENT_SIMULATED"):
            problems.append("PAYMENT_PROVIDER is the simulated provider, on which anyone pays for a class without "
                            "money (name a real provider, or set PAYMENT_SIMULATED=true for a trial platform)")
        elif _weak_key(str(config.get("PAYMENT_SECRET") or "")) or config.get("PAYMENT_SECRET") == "dev-payment-secret":
            problems.append("PAYMENT_SECRET is not set or is the development value (payment notices would be "
                            "forgeable)")
    if problems:
        raise UnsafeConfiguration(
            "Refusing to start in production (APP_ENV=production): " + "; ".join(problems) + ". Set SECRET_KEY to a "
            "random value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or set "
            "APP_ENV=development for a local run.")


def _sqlite_concurrency(engine) -> None:
    """The embedded default serves pages while a worker process writes (an import): in WAL mode readers never wait
    for a writer, and a writer waits up to 30 s for another one instead of failing at once."""
    @event.listens_for(engine, "connect")
    def _pragmas(conn, _record):
        cursor = conn.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] not in ("wal", "memory"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def _weak_key(key: str) -> bool:
    return (len(key) < MIN_SECRET_KEY_LENGTH or key.strip().lower() in KNOWN_SECRET_KEYS
            or len(set(key)) < 10)  # "xxxxxxxx…", "12121212…": long but guessable


def _instance_secret_key(instance_path: str) -> str:
    """The development key: made once, at random, into instance/secret_key (readable by its owner only), and read
    back by every later start. Several processes starting at once agree on one key (the file appears atomically)."""
    path = os.path.join(instance_path, "secret_key")
    os.makedirs(instance_path, exist_ok=True)
    if not os.path.exists(path):
        temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)  # fails if another process made it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            os.remove(temporary)
    with open(path) as f:
        key = f.read().strip()
    if _weak_key(key):
        raise UnsafeConfiguration(f"{path} does not hold a usable key: delete it and start again.")
    return key


def _as_private_download(response) -> None:
    """Every file the platform sends (evidence, ID-card images, licence scans, generated PDFs) is kept by no cache,
    never sniffed into another type, and saved rather than opened by the browser; only a PNG or JPEG (decoded on
    upload) may be shown inline, inside a page's <img>."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    disposition = response.headers.get("Content-Disposition", "")
    if not disposition.lower().startswith("attachment") and response.mimetype not in ("image/png", "image/jpeg"):
        rest = disposition[len("inline"):] if disposition.lower().startswith("inline") else ""
        response.headers["Content-Disposition"] = "attachment" + rest


# Posted fields never shown back on an error page (secrets, one-time answers, full ID numbers).
def _register_request_hooks(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    def _fresh_identity():
        """Resolve the user anew on every request, even when an outer app context (CLI, tests) keeps `g`."""
        g.pop("_login_user", None)
        g.pop("user", None)  # FAB sets it in its own before_request, which a refused request may never reach
        g.pop("membership", None)
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF caches the token in g
        db.session.expire_all()
        g.csp_nonce = secrets.token_urlsafe(16)

    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_identity)

    from .views.input_filter import init_app as _input_filter

    _input_filter(app)  # control characters in any input refused (400); number, date and text checks on every form

    @app.before_request
    def _password_gate():
        from .views.auth import forced_password_change_redirect

        return forced_password_change_redirect()

    app.jinja_env.globals["csp_nonce"] = lambda: getattr(g, "csp_nonce", "")

    @app.after_request
    def _security_headers(response):
        nonce = getattr(g, "csp_nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'self' 'nonce-{nonce}'; object-src 'none'; base-uri 'self'; "
            "frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint and not request.endpoint.endswith("static"):
            response.headers.setdefault("Cache-Control", "no-store")
            if response.direct_passthrough or "Content-Disposition" in response.headers:
                _as_private_download(response)
        return response

    from flask_babel import gettext

    @app.errorhandler(CSRFError)
    def _csrf(_):
        return error_page(400, gettext("The page has expired. Please refresh it and try again."),
                      hint=gettext("What you entered was not saved."), keep_input=True)

    @app.errorhandler(400)
    def _bad(_):
        return error_page(400, gettext("The request could not be understood."))

    @app.errorhandler(403)
    def _forbidden(_):
        return error_page(403, gettext("You do not have permission to view this page."))

    @app.errorhandler(PermissionDenied)
    def _denied(exc):
        """A workflow's refusal that no view turned into a message of its own: a 403 with the workflow's words,
        never a server error."""
        db.session.rollback()
        return error_page(403, str(exc))

    @app.errorhandler(404)
    def _missing(_):
        return error_page(404, gettext("The page you asked for does not exist."))

    @app.errorhandler(405)
    def _method(_):
        return error_page(405, gettext("This action is not allowed."))

    @app.errorhandler(413)
    def _too_big(_):
        limit = max(1, (request.max_content_length or 0) // (1024 * 1024))  # a route may set its own (lessons)
        return error_page(413, gettext("The upload is too large: at most %(mb)s MB can be sent at once.", mb=limit),
                      hint=gettext("What you entered was not saved. Go back, choose smaller files and send the "
                                   "form again."))

    @app.errorhandler(429)
    def _too_many(_):
        return error_page(429, gettext("Too many requests. Please wait a moment and try again."))

    from limits.errors import StorageError

    @app.errorhandler(StorageError)
    def _limits_unreachable(exc):
        """The rate limits' store (Redis) is out of reach: the limited form is refused before its view runs, never
        served without its limit."""
        app.logger.error("rate-limit storage unreachable: %s", exc.storage_error)
        return error_page(503, gettext("This form cannot be accepted right now: the service that counts attempts "
                                       "(against password guessing) cannot be reached. Nothing was done. Please "
                                       "try again in a few minutes."))

    from sqlalchemy.exc import DataError

    @app.errorhandler(DataError)
    def _bad_value(exc):
        """A value the database refuses (PostgreSQL: a NUL character in a text field, a number out of range) is bad
        input, not a server fault: nothing of the request is kept (the transaction is rolled back)."""
        db.session.rollback()
        app.logger.warning("value refused by the database: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return error_page(400, gettext("The request could not be understood."))

    @app.errorhandler(500)
    def _server(_):
        db.session.rollback()
        return error_page(500, gettext("Something went wrong on our side. Please try again later."))
