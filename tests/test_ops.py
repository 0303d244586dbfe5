"""Operations (issue 13, point 3, and the proxy of point 1): /healthz and /readyz, request ids and JSON logs with ID
numbers masked, `flask backup` / `flask restore` round trips, deploy/nginx.conf."""
from __future__ import annotations

import hashlib
import http.client
import http.server
import io
import json
import pathlib
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid

import pytest
from flask_appbuilder import Model
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app import backup as ops_backup
from app.logs import JsonFormatter, MaskIdNumbers, TextFormatter, log_format
from tests.helpers import cheap_passwords, credit_year, log_in, make_person

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NGINX_CONF = os.path.join(ROOT, "deploy", "nginx.conf")
ID_18 = "11010519900307283X"   # a well-formed 18-character number (check digit X)
ID_18_MASKED = "110105********283X"
ID_15 = "110105900307283"      # the old 15-digit form
ID_15_MASKED = "110105*****7283"


# ------------------------------------------------------------------ /healthz and /readyz


def _no_cookie(response):
    assert "Set-Cookie" not in response.headers, response.headers.get("Set-Cookie")


def _broken_engine(app):
    """An engine of the same kind as the test database that cannot connect (a closed port, a missing directory)."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return create_engine("postgresql+psycopg://postgres:postgres@127.0.0.1:1/nowhere", poolclass=NullPool,
                             connect_args={"connect_timeout": 2})
    return create_engine("sqlite:////nonexistent-directory-of-jxjy/app.db", poolclass=NullPool)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def test_healthz_answers_without_database_session_or_login(app, db, fast_world):
    client = app.test_client()
    log_in(client, fast_world.unit_admin.username, "UnitAdmin")
    with _counting(db.engine) as page_statements:
        home = client.get("/home/")
    with _counting(db.engine) as probe_statements:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    _no_cookie(response)
    # the logged-in page ran queries (identity, membership); the probe none, though the same session came with it
    assert home.status_code == 200 and len(page_statements) > 0
    assert probe_statements == []
    with _counting(db.engine) as ready_statements:
        assert client.get("/readyz").status_code == 200
    assert [s for s in ready_statements if "SELECT 1" in s] == ["SELECT 1"]
    assert all("SELECT 1" in s or s.startswith("SET LOCAL statement_timeout") for s in ready_statements)


class _counting:
    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def _record(self, conn, cursor, statement, *rest):
        self.seen.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.seen

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_probes_skip_login_csrf_and_session(app, db, fast_world, monkeypatch):
    client = app.test_client()
    log_in(client, fast_world.unit_admin.username, "UnitAdmin")
    for url in ("/healthz?x=1", "/readyz?x=1"):
        response = client.get(url)
        assert response.status_code == 200, url
        _no_cookie(response)
    # a control character in the URL is refused as on every page (the platform-wide rule), still without a session
    response = client.get("/healthz?q=%00")
    assert response.status_code == 400 and "U+0000" in response.get_data(as_text=True)
    _no_cookie(response)
    assert client.post("/healthz").status_code == 405  # GET and HEAD only
    assert client.head("/readyz").status_code == 200
    # a broken database: /healthz does not notice (it does not touch it)
    monkeypatch.setitem(db.engines, None, _broken_engine(app))
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_reports_each_check(app, db):
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "queue"}
    assert body["checks"]["database"]["ok"] is True
    redis = body["checks"]["redis"]
    assert redis["ok"] is True and redis["skipped"] == "REDIS_URL is not set"
    assert body["checks"]["queue"] == {"ok": True, "inline": True}  # the tests run jobs inline
    _no_cookie(response)


def test_readyz_names_a_failing_database(app, db, monkeypatch):
    monkeypatch.setitem(db.engines, None, _broken_engine(app))
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == 503
    assert body["status"] == "fail" and body["failing"] == ["database"]
    assert body["checks"]["database"]["ok"] is False and "OperationalError" in body["checks"]["database"]["error"]
    assert "postgres:postgres" not in response.get_data(as_text=True)  # no password in the answer
    _no_cookie(response)


def test_readyz_names_a_failing_redis(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["redis"]  # jobs run inline: the queue needs no Redis
    monkeypatch.setitem(app.config, "TASKS_INLINE", False)
    response = app.test_client().get("/readyz")
    body = response.get_json()
    assert response.status_code == 503 and body["failing"] == ["redis", "queue"]
    assert "ConnectionError" in body["checks"]["redis"]["error"]
    _no_cookie(response)


@pytest.mark.skipif(not _redis_up(), reason="needs the Redis server of the machine (127.0.0.1:6379)")
def test_readyz_needs_a_worker_listening_on_the_queue(app, db, monkeypatch):
    from redis import Redis
    from rq import Queue, Worker

    name = f"ops-test-{uuid.uuid4().hex[:8]}"  # a queue of this test's own: other workers of the machine do not count
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setitem(app.config, "TASKS_INLINE", False)
    monkeypatch.setitem(app.config, "TASK_QUEUE", name)
    client = app.test_client()
    response = client.get("/readyz")
    body = response.get_json()
    assert response.status_code == 503 and body["failing"] == ["queue"]
    assert name in body["checks"]["queue"]["error"] and body["checks"]["redis"]["ok"] is True

    connection = Redis.from_url("redis://127.0.0.1:6379/0")
    worker = Worker([Queue(name, connection=connection)], connection=connection, name=f"{name}-worker")
    worker.register_birth()
    try:
        response = client.get("/readyz")
        body = response.get_json()
        assert response.status_code == 200, body
        assert body["checks"]["queue"]["ok"] is True and body["checks"]["queue"]["workers"] == 1
    finally:
        worker.register_death()
        connection.delete(worker.key)
    assert client.get("/readyz").status_code == 503  # the worker has gone


# ------------------------------------------------------------------ request ids


def test_request_id_is_echoed_when_well_formed_else_generated(app, db):
    client = app.test_client()
    given = "lb-7f3a9c2e-0001"
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given
    assert client.get("/", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given
    made = set()
    for bad in (None, "", "short", "x" * 200, "abc def ghi", "abcdefgh\r\nX-Evil: 1", "../../etc/passwd",
                '{"level":"ERROR"}'):
        headers = {} if bad is None else {"X-Request-ID": bad}
        try:
            response = client.get("/healthz", headers=headers)
        except ValueError:  # werkzeug refuses a header with a newline before it is sent
            continue
        rid = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), (bad, rid)
        made.add(rid)
    assert len(made) >= 6  # a new id each time


# ------------------------------------------------------------------ logs


class _Capture(logging.Handler):
    def __init__(self, formatter):
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.addFilter(MaskIdNumbers())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture()
def json_lines(app, monkeypatch):
    handler = _Capture(JsonFormatter())
    root = logging.getLogger()
    # the production level and loggers (the migrations' logging.fileConfig in conftest raised the level to WARNING
    # and disabled the loggers that existed then)
    level = root.level
    root.setLevel(logging.INFO)
    for name in ("app", "app.access", "app.test_ops"):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    root.addHandler(handler)
    monkeypatch.setitem(app.config, "ACCESS_LOG", True)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


def test_access_line_is_one_json_object_with_the_request_fields(app, db, fast_world, json_lines, monkeypatch):
    client = app.test_client()
    log_in(client, fast_world.unit_admin.username, "UnitAdmin")
    json_lines.clear()
    response = client.get("/home/", headers={"X-Request-ID": "req-0000-abcd"})
    assert response.status_code == 200
    entries = [json.loads(line) for line in json_lines]  # every line is one JSON object
    access = [e for e in entries if e["logger"] == "app.access"]
    assert len(access) == 1
    line = access[0]
    assert line["level"] == "INFO" and line["request_id"] == "req-0000-abcd"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/home/", 200)
    assert isinstance(line["duration_ms"], (int, float)) and 0 <= line["duration_ms"] < 60_000
    assert line["user_id"] == fast_world.unit_admin.id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["message"].startswith("GET /home/ 200 ")

    json_lines.clear()
    response = app.test_client().get("/")
    (line,) = [json.loads(x) for x in json_lines if json.loads(x)["logger"] == "app.access"]
    assert "user_id" not in line and line["request_id"] == response.headers["X-Request-ID"]

    # the probes, asked every few seconds, are logged only when they fail
    json_lines.clear()
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    assert not [x for x in json_lines if json.loads(x)["logger"] == "app.access"]
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    lines = [json.loads(x) for x in json_lines]
    assert [(x["path"], x["status"]) for x in lines if x["logger"] == "app.access"] == [("/readyz", 503)]
    assert any(x["level"] == "WARNING" and "redis" in x["message"] for x in lines)


def test_no_full_id_number_in_any_log_line(app, db, json_lines):
    client = app.test_client()
    client.get(f"/no-such-page/{ID_18}")
    log = logging.getLogger("app.test_ops")
    log.warning("login failed for %s", ID_18)
    log.warning("old number %s and %s in one line", ID_15, {"id_number": ID_18.lower()})
    log.info(f"inline {ID_18} in the message")
    try:
        raise ValueError(f"bad value {ID_18}")
    except ValueError:
        log.exception("import row %d refused", 7)
    output = "\n".join(json_lines)
    for full in (ID_18, ID_18.lower(), ID_15):
        assert full not in output
    entries = [json.loads(line) for line in json_lines]
    access = [e for e in entries if e["logger"] == "app.access"][0]
    assert access["path"] == f"/no-such-page/{ID_18_MASKED}" and access["status"] == 404
    messages = [e["message"] for e in entries if e["logger"] == "app.test_ops"]
    assert messages[0] == f"login failed for {ID_18_MASKED}"
    assert messages[1] == f"old number {ID_15_MASKED} and {{'id_number': '{ID_18_MASKED.lower()}'}} in one line"
    assert messages[2] == f"inline {ID_18_MASKED} in the message"
    failure = [e for e in entries if e["logger"] == "app.test_ops"][3]
    assert failure["level"] == "ERROR" and f"bad value {ID_18_MASKED}" in failure["exc_info"]
    # numbers that are not ID numbers stay as they are: 16 and 19 digits (an order, a card), 14 digits
    log.warning("order %s card %s stamp %s", "2026120712345678", "6222020200112233445", "20261207123456")
    assert json.loads(json_lines[-1])["message"] == ("order 2026120712345678 card 6222020200112233445 "
                                                      "stamp 20261207123456")


def test_text_format_masks_too_and_the_default_format_follows_the_environment():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "person %s", (ID_18,), None)
    assert ID_18_MASKED in TextFormatter().format(record) and ID_18 not in TextFormatter().format(record)

    class Fake:
        def __init__(self, **config):
            self.config = config

    assert log_format(Fake(APP_ENV="production")) == "json"
    assert log_format(Fake(APP_ENV="development")) == "text"
    assert log_format(Fake(APP_ENV="production", TESTING=True)) == "text"
    assert log_format(Fake(APP_ENV="development", LOG_FORMAT="json")) == "json"
    assert log_format(Fake(APP_ENV="production", LOG_FORMAT="TEXT")) == "text"


def test_json_logs_of_a_started_app_and_of_gunicorn(tmp_path):
    """create_app with LOG_FORMAT=json, and gunicorn.conf.py's logging dictionary: every line JSON, masked."""
    script = f"""
import logging, logging.config, runpy, sys
from app import create_app
app = create_app(SQLALCHEMY_DATABASE_URI="sqlite:///{tmp_path}/x.db", INSTANCE_PATH="{tmp_path}")
logging.getLogger("app.anything").warning("person %s", "{ID_18}")
with app.test_client() as c:
    c.get("/no-such-page", headers={{"X-Request-ID": "abcdefgh-42"}})
conf = runpy.run_path("gunicorn.conf.py")
logging.config.dictConfig(conf["logconfig_dict"])
logging.getLogger("gunicorn.error").error("worker saw %s", "{ID_15}")
logging.getLogger("gunicorn.access").info("access lines stay off by default")
"""
    env = dict(os.environ, APP_ENV="development", LOG_FORMAT="json", PYTHONPATH=ROOT)
    env.pop("GUNICORN_ACCESS_LOG", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # fails on any line that is not one JSON object
    assert ID_18 not in done.stderr and ID_15 not in done.stderr
    assert any(e["logger"] == "app.anything" and e["message"] == f"person {ID_18_MASKED}" for e in entries)
    access = [e for e in entries if e["logger"] == "app.access"]
    assert len(access) == 1 and access[0]["request_id"] == "abcdefgh-42" and access[0]["path"] == "/no-such-page"
    assert any(e["logger"] == "gunicorn.error" and e["message"] == f"worker saw {ID_15_MASKED}" for e in entries)
    assert not any(e["logger"] == "gunicorn.access" for e in entries)


# ------------------------------------------------------------------ backup and restore


def _fill_file_store(root: str) -> dict[str, str]:
    """A few files of each kind under uploads/ and learning/; returns member -> sha256 (computed here)."""
    files = {
        "uploads/declarations/2026/证书扫描.pdf": b"%PDF-1.4\n" + os.urandom(20_000),
        "uploads/changes/a1b2c3.jpg": b"\xff\xd8\xff" + os.urandom(5_000),
        "uploads/imports/empty.xlsx": b"",
        "learning/videos/lesson-1.mp4": os.urandom(300_000),
        "learning/covers/9.png": b"\x89PNG\r\n\x1a\n" + os.urandom(1_000),
    }
    digests = {}
    for member, content in files.items():
        path = os.path.join(root, *member.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        digests[member] = hashlib.sha256(content).hexdigest()
    return digests


def _counts(url) -> dict[str, int]:
    """Rows per table, counted here for every table the database's catalogue lists."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                names = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
            else:
                names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND name NOT LIKE 'sqlite_%'")).scalars()
            return {name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one() for name in names}
    finally:
        engine.dispose()


@pytest.fixture()
def stores(app, monkeypatch, tmp_path):
    """The file store of this test: fresh UPLOAD_FOLDER and LEARNING_FOLDER with known files."""
    source = tmp_path / "store"
    digests = _fill_file_store(str(source))
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(source / "uploads"))
    monkeypatch.setitem(app.config, "LEARNING_FOLDER", str(source / "learning"))
    return digests


@pytest.fixture()
def new_database_url(app):
    """A database URL of the same kind as the test database's, for a database that does not exist yet."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        yield url.set(database=os.path.join(tempfile.mkdtemp(prefix="jxjy-restore-"), "restored.db"))
        return
    name = f"{url.database}_restored_{uuid.uuid4().hex[:6]}"
    target = url.set(database=name)
    yield target
    admin = create_engine(url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _render(url) -> str:
    return url.render_as_string(hide_password=False)


def test_backup_and_restore_round_trip(app, db, fast_world, stores, new_database_url, tmp_path):
    cheap_passwords()
    person = make_person("备份测试人员", fast_world.unit)
    credit_year(person, 30, 60)
    db.session.commit()
    source_url = db.engine.url
    before = _counts(source_url)
    assert before["ab_user"] > 10 and before["hour_record"] == 2 and before["alembic_version"] == 1
    assert set(before) >= set(Model.metadata.tables) - {"ab_group", "ab_group_role", "ab_user_group", "ab_api_key"}

    runner = app.test_cli_runner()
    backup_dir = tmp_path / "backup"
    result = runner.invoke(args=["backup", "--to", str(backup_dir)])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(backup_dir)) == sorted(
        ["manifest.json", "files.tar", "database.dump" if source_url.get_backend_name() == "postgresql"
         else "database.sqlite3"])
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["files"]["entries"] == stores
    assert {k: v for k, v in manifest["database"]["tables"].items() if k in before} == before
    assert manifest["alembic_revision"] == db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if source_url.get_backend_name() == "postgresql":
        with open(backup_dir / "database.dump", "rb") as f:
            assert f.read(5) == b"PGDMP"  # pg_dump's custom format

    # the platform goes on writing after the backup: the restore brings back the backup's state, not today's
    make_person("备份之后的人员", fast_world.unit)
    db.session.commit()

    files_to = tmp_path / "restored-files"
    result = runner.invoke(args=["restore", "--from", str(backup_dir), "--database-url", _render(new_database_url),
                                 "--files-to", str(files_to)])
    assert result.exit_code == 0, result.output
    assert "Restored and verified." in result.output and "<-- differs" not in result.output
    assert f"files: {len(stores)} of {len(stores)} equal" in result.output

    assert _counts(new_database_url) == before  # counted independently on both databases
    restored = {}
    for folder, _, names in os.walk(files_to):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                restored[os.path.relpath(path, files_to).replace(os.sep, "/")] = hashlib.sha256(f.read()).hexdigest()
    assert restored == stores

    # the verification can fail: a row gone and a file changed after the restore are named
    engine = create_engine(new_database_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM hour_record WHERE id = (SELECT min(id) FROM hour_record)"))
    engine.dispose()
    with open(files_to / "learning" / "covers" / "9.png", "ab") as f:
        f.write(b"x")
    check = ops_backup.verify(manifest, new_database_url,
                              {"uploads": str(files_to / "uploads"), "learning": str(files_to / "learning")})
    assert not check.ok
    assert check.table_mismatches == [("hour_record", 2, 1)]
    assert [m[0] for m in check.file_mismatches] == ["learning/covers/9.png"]

    # --force restores over it again, and all is equal
    result = runner.invoke(args=["restore", "--from", str(backup_dir), "--database-url", _render(new_database_url),
                                 "--files-to", str(files_to), "--force"])
    assert result.exit_code == 0, result.output
    assert _counts(new_database_url) == before


def test_restore_refuses_a_non_empty_target_and_a_damaged_backup(app, db, fast_world, stores, new_database_url,
                                                                 tmp_path):
    runner = app.test_cli_runner()
    backup_dir = tmp_path / "backup"
    assert runner.invoke(args=["backup", "--to", str(backup_dir)]).exit_code == 0
    own = _counts(db.engine.url)

    # the platform's own database is not empty
    result = runner.invoke(args=["restore", "--from", str(backup_dir), "--database-url", _render(db.engine.url),
                                 "--files-to", str(tmp_path / "files")])
    assert result.exit_code == 1
    assert "is not empty" in result.output and "--force" in result.output
    assert _counts(db.engine.url) == own and not os.path.exists(tmp_path / "files")

    # a file store directory with something in it
    busy = tmp_path / "busy"
    (busy / "uploads").mkdir(parents=True)
    (busy / "uploads" / "keep.txt").write_text("mine")
    result = runner.invoke(args=["restore", "--from", str(backup_dir), "--database-url", _render(new_database_url),
                                 "--files-to", str(busy)])
    assert result.exit_code == 1 and "is not empty" in result.output
    assert (busy / "uploads" / "keep.txt").read_text() == "mine"

    # another kind of database
    other = "sqlite:////tmp/x.db" if db.engine.dialect.name == "postgresql" else \
        "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/x"
    result = runner.invoke(args=["restore", "--from", str(backup_dir), "--database-url", other,
                                 "--files-to", str(tmp_path / "files")])
    assert result.exit_code == 1 and "Restore it into a" in result.output

    # a backup inside the file store would archive itself
    result = runner.invoke(args=["backup", "--to", os.path.join(app.config["UPLOAD_FOLDER"], "backup")])
    assert result.exit_code == 1 and "inside the file store" in result.output
    assert not os.path.exists(os.path.join(app.config["UPLOAD_FOLDER"], "backup"))

    # a backup directory that already holds a backup is not written over
    result = runner.invoke(args=["backup", "--to", str(backup_dir)])
    assert result.exit_code == 1 and "not empty" in result.output

    # a damaged archive is refused before anything is restored
    with open(backup_dir / "files.tar", "r+b") as f:
        f.seek(700)
        f.write(b"\x00garbage\x00")
    result = runner.invoke(args=["restore", "--from", str(backup_dir), "--database-url", _render(new_database_url),
                                 "--files-to", str(tmp_path / "files")])
    assert result.exit_code == 1 and "damaged" in result.output
    assert not os.path.exists(tmp_path / "files")
    if new_database_url.get_backend_name() == "sqlite":
        assert not os.path.exists(new_database_url.database)
    else:
        admin = create_engine(make_url(_render(db.engine.url)).set(database="postgres"), poolclass=NullPool)
        with admin.connect() as conn:
            assert conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": new_database_url.database}).scalar() is None
        admin.dispose()

    # not a backup at all
    result = runner.invoke(args=["restore", "--from", str(tmp_path), "--database-url", _render(new_database_url)])
    assert result.exit_code == 1 and "not a backup" in result.output


def test_restore_refuses_an_archive_entry_outside_the_store(app, db, tmp_path):
    archive = tmp_path / "files.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("uploads/../../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    target = tmp_path / "target"
    with pytest.raises(ops_backup.BackupError, match="refused entry"):
        ops_backup._extract_files(str(archive), {"uploads": str(target / "uploads")})
    assert not (tmp_path / "escaped.txt").exists()


# ------------------------------------------------------------------ deploy/nginx.conf


def _nginx_text() -> str:
    with open(NGINX_CONF, encoding="utf-8") as f:
        return f.read()


def _size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", value.lower()).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit]


@pytest.fixture()
def nginx_prefix():
    """A prefix laid out like the checkout (static files, the learning store, instance/nginx), readable by nginx's
    workers (they run as nobody: not under pytest's private temporary directory)."""
    top = tempfile.mkdtemp(prefix="jxjy-nginx-")
    yield _prefix(top)
    shutil.rmtree(top, ignore_errors=True)


def _prefix(top: str) -> str:
    tmp_path = pathlib.Path(top)
    prefix = tmp_path / "prefix"
    (prefix / "instance" / "nginx").mkdir(parents=True)
    (prefix / "instance" / "learning" / "videos").mkdir(parents=True)
    (prefix / "app").mkdir()
    os.symlink(os.path.join(ROOT, "app", "static"), prefix / "app" / "static")
    for name in (".venv", "node_modules"):
        if os.path.isdir(os.path.join(ROOT, name)):
            os.symlink(os.path.join(ROOT, name), prefix / name)
    for folder in (tmp_path, prefix, prefix / "instance", prefix / "instance" / "learning",
                   prefix / "instance" / "learning" / "videos", prefix / "app"):
        os.chmod(folder, 0o755)  # nginx's workers run as nobody
    return str(prefix)


def test_nginx_config_is_valid(nginx_prefix):
    """`nginx -t` on the shipped file when nginx is installed (scripts/setup.sh installs it); otherwise the file is
    at least parsed: balanced blocks, every directive ended."""
    nginx = shutil.which("nginx")
    if nginx:
        done = subprocess.run([nginx, "-t", "-p", nginx_prefix, "-c", NGINX_CONF], capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "test is successful" in done.stderr
        return
    depth = 0
    for token in re.findall(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};'\"]+", re.sub(r"#[^\n]*", "", _nginx_text())):
        depth += {"{": 1, "}": -1}.get(token, 0)
        assert depth >= 0
    assert depth == 0


def test_nginx_config_agrees_with_the_app(app):
    conf = _nginx_text()
    # the protected location is the prefix the application's X-Accel-Redirect answers name, and it is internal
    for key, store in (("LEARNING_ACCEL_PREFIX", "learning"), ("UPLOAD_ACCEL_PREFIX", "uploads")):
        prefix = app.config[key]
        block = re.search(r"location %s \{(.*?)\}" % re.escape(prefix), conf, re.S)
        assert block and "internal;" in block.group(1), key
        assert re.search(r"alias\s+instance/%s/;" % store, block.group(1)), key  # the store's default folder
    # body limits: at least the application's (so that it answers with its own page), at most a little more
    general = _size(re.search(r"^        client_max_body_size (\w+);", conf, re.M).group(1))
    assert app.config["MAX_CONTENT_LENGTH"] <= general <= app.config["MAX_CONTENT_LENGTH"] + 2 * 1024 ** 2
    lesson = re.search(r"location ~ (\S+) \{\s*client_max_body_size (\w+);", conf)
    with app.test_request_context():
        from flask import url_for

        lesson_url = url_for("ClassAdminView.add_lesson", section_id=123)
    assert re.fullmatch(lesson.group(1).strip("^$"), lesson_url.replace("http://localhost", ""))
    from app.views.classes import UPLOAD_SLACK

    video = app.config["VIDEO_MAX_BYTES"] + UPLOAD_SLACK
    assert video <= _size(lesson.group(2)) <= video + 2 * 1024 ** 2
    # the static aliases are the folders Flask serves them from
    static = {"/static/": app.static_folder}
    for bp in app.blueprints.values():
        if bp.static_folder and bp.name in ("appbuilder", "vendor", "swagger_ui"):
            url = app.url_map.bind("localhost").build(f"{bp.name}.static", {"filename": "x"}).rsplit("x", 1)[0]
            static[url] = bp.static_folder
    for url, folder in static.items():
        alias = re.search(r"location %s \{\s*(?:#[^\n]*\n\s*)?alias ([^;]+);" % re.escape(url), conf)
        assert alias, url
        assert os.path.realpath(os.path.join(ROOT, alias.group(1))) == os.path.realpath(folder), url
    # the probes and the proxy headers
    assert "location = /healthz" in conf and "location = /readyz" in conf
    # a node's deliberate 503 (a login while Redis is away, /readyz) is an answer, not a failed node: counting it
    # took both nodes out of the upstream and the whole site down (bench/faults.py, redis-stop)
    [retry] = re.findall(r"proxy_next_upstream ([^;]*);", conf)
    assert "http_503" not in retry.split() and "error" in retry.split()
    for header in ("X-Request-ID", "X-Forwarded-For", "X-Forwarded-Proto", "Host"):
        assert re.search(r"proxy_set_header %s " % header, conf), header
    assert re.findall(r"server (127\.0\.0\.1:\d+)", conf) == ["127.0.0.1:8001", "127.0.0.1:8002"]


class _Upstream(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        _Upstream.seen.append((self.path, dict(self.headers)))
        if self.path == "/video":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Cache-Control", "private, no-store")
            self.send_header("X-Accel-Redirect", "/protected/learning/videos/lesson.mp4")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        while length:
            length -= len(self.rfile.read(min(length, 1 << 20)))
        _Upstream.seen.append((self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed (scripts/setup.sh installs it)")
def test_nginx_serves_static_protected_files_and_passes_the_request_id(nginx_prefix):
    """The shipped file, on free ports, in front of a stand-in application: static files with their cache time, a
    lesson video by X-Accel-Redirect (with ranges) and never directly, the request id and the client's address
    passed on, the body limits."""
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    prefix = nginx_prefix
    video = os.urandom(100_000)
    with open(os.path.join(prefix, "instance", "learning", "videos", "lesson.mp4"), "wb") as f:
        f.write(video)
    port = _free_port()
    conf = re.sub(r"127\.0\.0\.1:800[12]", f"127.0.0.1:{upstream.server_address[1]}", _nginx_text())
    conf = conf.replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;")
    conf = conf.replace("worker_processes auto;", "worker_processes 1;")
    conf_path = os.path.join(prefix, "nginx-test.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    proc = subprocess.Popen(["nginx", "-p", prefix, "-c", conf_path, "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        def get(path, headers=None, method="GET", body=None):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            conn.close()
            return response, data

        response, data = get("/static/app.css")
        with open(os.path.join(ROOT, "app", "static", "app.css"), "rb") as f:
            assert response.status == 200 and data == f.read()
        assert "max-age=86400" in response.getheader("Cache-Control") and response.getheader("Expires")
        response, _ = get("/static/appbuilder/css/bootstrap.min.css")
        assert response.status == 200 and "max-age=2592000" in response.getheader("Cache-Control")

        assert get("/protected/learning/videos/lesson.mp4")[0].status == 404  # internal only
        response, data = get("/video")
        assert response.status == 200 and data == video
        assert response.getheader("Content-Type") == "video/mp4"
        assert response.getheader("Cache-Control") == "private, no-store"
        response, data = get("/video", {"Range": "bytes=100-199"})
        assert response.status == 206 and data == video[100:200]

        _Upstream.seen.clear()
        get("/healthz", {"X-Request-ID": "lb-probe-000123"})
        get("/healthz")
        (_, given), (_, made) = _Upstream.seen
        assert given["X-Request-ID"] == "lb-probe-000123"
        assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
        assert made["X-Forwarded-For"] == "127.0.0.1" and made["X-Forwarded-Proto"] == "http"

        big = b"x" * (12 * 1024 * 1024)
        assert get("/hours/declare", method="POST", body=big)[0].status == 413
        response, data = get("/base/classes/sections/3/lessons", method="POST", body=big)
        assert response.status == 200 and data == b"ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        upstream.shutdown()
