"""Test fixtures. The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL is set.

One app per test process (FAB's appbuilder is a singleton); the schema is built by the Alembic migrations;
every test starts from empty tables.
"""
from __future__ import annotations

import html
import os
import re
import tempfile
import uuid

import pytest
from sqlalchemy import create_engine, text

from app import clock
from tests import factories

# One calendar day for the whole run: constants computed when a module is collected ("today", "this year") and the
# checks the platform makes while a test runs must agree, even when the run crosses midnight in the platform's zone.
RUN_DAY = clock.today()
clock.today = lambda: RUN_DAY

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
CAPTCHA = "2468"


def _pg_admin(sql: str) -> None:
    base = PG_URL.rpartition("/")[0]
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(sql))
    admin.dispose()


def _database_url(worker: str) -> tuple[str, str | None]:
    """A fresh database for this test process; PostgreSQL names are unique per run so runs never collide."""
    if not PG_URL:
        path = os.path.join(tempfile.mkdtemp(prefix="jxjy-test-"), f"test-{worker}.db")
        return f"sqlite:///{path}", None
    base, _, name = PG_URL.rpartition("/")
    db_name = f"{name}_{worker}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{db_name}"')
    return f"{base}/{db_name}", db_name


@pytest.fixture(scope="session")
def app(worker_id):
    from flask_migrate import upgrade

    from app import create_app

    url, pg_name = _database_url(worker_id)
    application = create_app(
        TESTING=True,
        SQLALCHEMY_DATABASE_URI=url,
        SECRET_KEY="test-secret",
        PASSWORD_HASH_METHOD="pbkdf2:sha256:1000",
        CAPTCHA_FIXED=CAPTCHA,
        MAIL_SUPPRESS_SEND=True,
        RATELIMIT_STORAGE_URI="memory://",
        LOGIN_RATE_LIMIT="10000 per minute",
        PUBLIC_POST_RATE_LIMIT="10000 per minute",
        SERVER_NAME="localhost",
        PUBLIC_BASE_URL="http://localhost",
        UPLOAD_FOLDER=tempfile.mkdtemp(prefix="jxjy-uploads-"),
    )
    with application.app_context():
        upgrade()
        _snapshot_reference_data()
        if not pg_name:
            _sqlite_without_fsync()
    yield application
    if pg_name:
        from app.extensions import db as _db

        with application.app_context():
            _db.engine.dispose()
        _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture()
def db(app):
    from app.extensions import db as _db
    from app.extensions import limiter

    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        _truncate(_db)
    limiter.reset()


# Reference data that the migrations load (learning-form catalogue, yearly standards): restored after each test.
REFERENCE_TABLES = ("learning_form", "annual_standard")
_reference: dict[str, list[dict]] = {}


def _sqlite_without_fsync() -> None:
    """Test databases are thrown away: skip SQLite's fsync at every commit (the suite's biggest cost)."""
    from sqlalchemy import event

    from app.extensions import db as _db

    event.listen(_db.engine, "connect", lambda conn, _record: conn.execute("PRAGMA synchronous=OFF"))
    _db.engine.dispose()


def _snapshot_reference_data() -> None:
    from app.extensions import db as _db

    with _db.engine.connect() as conn:
        for table in REFERENCE_TABLES:
            _reference[table] = [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]


def _truncate(_db) -> None:
    from flask_appbuilder import Model

    tables = [t.name for t in reversed(Model.metadata.sorted_tables)]
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
        for table, rows in _reference.items():
            if rows:
                conn.execute(Model.metadata.tables[table].insert(), rows)
                if conn.dialect.name == "postgresql":
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM \"{table}\"))"))


@pytest.fixture()
def client(app, db):
    return app.test_client()


@pytest.fixture()
def outbox(app):
    from app.extensions import mail

    with mail.record_messages() as messages:
        yield messages


@pytest.fixture()
def world(db):
    """A small org tree: city HR > district HR > department > unit > sub-unit, and a sibling branch."""
    return factories.World.build()


# ------------------------------------------------------------------ form helpers

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in page"
    return match.group(1)


def submit(client, url: str, data: dict, *, get_url: str | None = None, follow: bool = False):
    """Load the page that holds the form (for its CSRF token and captcha), then post the form."""
    page = client.get(get_url or url)
    token = csrf_from(page.get_data(as_text=True))
    if "captcha" in data and data["captcha"] in (None, factories.FRESH_CAPTCHA):
        client.get("/captcha.png")
        data = {**data, "captcha": CAPTCHA}
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=follow)


def login(client, id_number: str, password: str = factories.PASSWORD, role: str = "Professional", follow=True):
    return submit(client, "/login/", {"role": role, "id_number": id_number, "password": password,
                                      "captcha": None}, follow=follow)


CJK = re.compile(r"[\u4e00-\u9fff]")


def zh(msgid: str, **kwargs) -> str:
    """The Chinese text a user sees for an English msgid (fails while the translation is missing)."""
    from flask_babel import force_locale, gettext

    with force_locale("zh"):
        text = gettext(msgid, **kwargs)
    assert CJK.search(text), f"no Chinese translation for msgid {msgid!r}"
    return text


def page(response) -> str:
    """The response body with HTML entities resolved, as a person reads it."""
    return html.unescape(response.get_data(as_text=True))
