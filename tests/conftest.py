"""Test fixtures. The suite runs on SQLite by default and on PostgreSQL when TEST_DATABASE_URL is set.

One app per test process (FAB's appbuilder is a singleton); the schema is built by the Alembic migrations;
every test starts from empty tables.
"""
from __future__ import annotations

import os
import tempfile
import uuid

import pytest
from sqlalchemy import create_engine, text

from app import clock
from tests import factories
from tests.helpers import (CAPTCHA, DISTRIBUTION_PEOPLE, QUEUE_REDIS_URL, build_matrix, cheap_passwords, make_person,
                           person_of, snapshot_reference_data, truncate)

# One calendar day for the whole run: constants computed when a module is collected ("today", "this year") and the
# checks the platform makes while a test runs must agree, even when the run crosses midnight in the platform's zone.
RUN_DAY = clock.today()
clock.today = lambda: RUN_DAY

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


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
    # A test database is thrown away: a commit need not wait for its WAL to reach the disk.
    _pg_admin(f'ALTER DATABASE "{db_name}" SET synchronous_commit = off')
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
        TASKS_INLINE=True,  # jobs run in the request; tests/test_import_worker.py runs a real worker
        LOGIN_RATE_LIMIT="10000 per minute",
        PUBLIC_POST_RATE_LIMIT="10000 per minute",
        SERVER_NAME="localhost",
        PUBLIC_BASE_URL="http://localhost",
        UPLOAD_FOLDER=tempfile.mkdtemp(prefix="jxjy-uploads-"),
        LEARNING_FOLDER=tempfile.mkdtemp(prefix="jxjy-learning-"),
    )
    with application.app_context():
        upgrade()
        snapshot_reference_data()
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
        truncate(_db)
    limiter.reset()


def _sqlite_without_fsync() -> None:
    """Test databases are thrown away: skip SQLite's fsync at every commit (the suite's biggest cost)."""
    from sqlalchemy import event

    from app.extensions import db as _db

    event.listen(_db.engine, "connect", lambda conn, _record: conn.execute("PRAGMA synchronous=OFF"))
    _db.engine.dispose()


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


@pytest.fixture()
def fresh_id_sequence(monkeypatch):
    """factories.new_id_number() walks birth dates forward 13 days per call from 1970 and runs past today after
    ~1,500 calls in one process, producing invalid 证件号 (future birth date). Restart the sequence per test
    (tables are emptied between tests, so numbers never collide). Modules use it with
    `pytestmark = pytest.mark.usefixtures("fresh_id_sequence")`."""
    import itertools

    monkeypatch.setattr(factories, "_seq", itertools.count(1))


@pytest.fixture()
def fast_world(world):
    """The world with cheap password hashes, for tests that log in often."""
    cheap_passwords()
    return world


# ------------------------------------------------------------------ one shared world for the access matrix

_matrix_cache: dict = {}


@pytest.fixture(scope="module")
def _matrix_module(app):
    from app.extensions import db as _db

    yield _matrix_cache
    _matrix_cache.clear()
    with app.app_context():
        _db.session.remove()
        truncate(_db)


@pytest.fixture()
def matrix(app, _matrix_module):
    """Read-only tests share one world (built once per module and worker): they assert that nothing changes.

    Tests elsewhere empty the tables after themselves; the world is rebuilt when it has gone.
    """
    from app.extensions import db as _db
    from app.models import Account

    with app.app_context():
        data = _matrix_module
        if not data or _db.session.get(Account, data["unit_admin_id"]) is None:
            _db.session.remove()
            truncate(_db)
            data.clear()
            data.update(build_matrix())
        yield data
        _db.session.rollback()
        _db.session.remove()


# ------------------------------------------------------------------ a real SMTP server (X2 e-mails)

class SmtpCollector:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture()
def smtp_server(app, monkeypatch):
    """A local SMTP server in a thread, with the app's Flask-Mail state pointed at it (restored afterwards)."""
    import socket

    from aiosmtpd.controller import Controller

    from app.extensions import mail

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    handler = SmtpCollector()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": controller.port, "MAIL_USE_TLS": False,
                       "MAIL_USE_SSL": False, "MAIL_USERNAME": None, "MAIL_PASSWORD": None,
                       "MAIL_SUPPRESS_SEND": False}.items():
        monkeypatch.setitem(app.config, key, value)
    # Flask-Mail 0.10 reads the config once, in init_app, into app.extensions["mail"] (a _Mail state).
    monkeypatch.setitem(app.extensions, "mail", mail.init_mail(app.config, app.debug, app.testing))
    try:
        yield handler
    finally:
        controller.stop()


# ------------------------------------------------------------------ the distribution statistics' world

@pytest.fixture()
def distribution_world(fast_world):
    """The world with industries and the people of DISTRIBUTION_PEOPLE (titles, qualifications, staff or not)."""
    from app.extensions import db as _db
    from app.models import Org

    w = fast_world
    for org, industry in ((w.unit, "卫生健康"), (w.sub_unit, "卫生健康"), (w.other_unit, "教育")):
        _db.session.get(Org, org.id).industry = industry
    _db.session.commit()
    for attr, name, series, level, quals, staff in DISTRIBUTION_PEOPLE:
        unit = getattr(w, attr)
        account = make_person(name, unit) if staff else factories.make_account(name, person_unit=unit)
        person = person_of(account)
        person.title_series, person.title_level, person.vocational_qualifications = series, level, quals
    _db.session.commit()
    return w


@pytest.fixture()
def queue_app(app, monkeypatch):
    """The app on the machine's Redis task queue (a queue of this test's own): staff files of any size and exports
    of more than 2 rows go to it. A test runs its jobs in-process or starts a real `flask worker`."""
    import redis

    try:
        redis.Redis.from_url(QUEUE_REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (scripts/services.sh starts the machine's one)")
    name = f"test-{uuid.uuid4().hex[:8]}"
    for key, value in {"TASKS_INLINE": False, "REDIS_URL": QUEUE_REDIS_URL, "TASK_QUEUE": name,
                       "IMPORT_BACKGROUND_ROWS": 1, "EXPORT_INLINE_ROWS": 2, "TASK_STALE_SECONDS": 60}.items():
        monkeypatch.setitem(app.config, key, value)
    yield app
    connection = redis.Redis.from_url(QUEUE_REDIS_URL)
    for key in connection.scan_iter(f"*{name}*"):
        connection.delete(key)
