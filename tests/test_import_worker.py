"""The staff import on the real task queue: RQ on the machine's Redis, a `flask worker` process on the test
database. The page's own status endpoint is polled; a job waiting without a worker says so; a worker killed in
the middle of the write leaves nothing written and the page says it stopped; the same file imports afterwards."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time

import openpyxl
import pytest
from sqlalchemy import func, select, text

from app.demo import make_id_number
from app.extensions import db
from app.models import Account, ImportBatch
from app.workflows import staff_import as flow
from tests.helpers import QUEUE_REDIS_URL, csrf_from, login, page, zh

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The file's 证件号 walk birth dates from 1960 one day a row; the factories' walk 13 days a call from the same day,
# so the world's accounts collided with a row of the 12,000-row file (an "already has an account" row, and the
# all-or-nothing import refused) whenever this process's sequence stood near 75, 325, 575 … : restart it per test.
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def start_worker(app) -> subprocess.Popen:
    env = dict(os.environ, APP_ENV="development", SECRET_KEY="test-secret", TASKS_INLINE="0", REDIS_URL=QUEUE_REDIS_URL,
               DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"],
               TASK_QUEUE=app.config["TASK_QUEUE"], PLATFORM_TIMEZONE=app.config["PLATFORM_TIMEZONE"])
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run.py", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def staff_file(n: int) -> bytes:
    import datetime

    wb = openpyxl.Workbook(write_only=True)
    sheet = wb.create_sheet()
    sheet.append([f"{zh(c.header._args[0])}{'*' if c.required else ''}" for c in flow.COLUMNS])
    keys = [c.key for c in flow.COLUMNS]
    for i in range(n):
        born = datetime.date(1960, 1, 1) + datetime.timedelta(days=i)
        values = {"name": f"队列人员{chr(0x4e00 + i % 20000)}", "id_number": make_id_number("370102", born, 100 + i),
                  "education": "大学本科", "title_series": "工程技术", "title_level": "初级"}
        sheet.append([values.get(k) for k in keys])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def status(client, batch_id) -> dict:
    response = client.get(f"/import/batch/{batch_id}/status")
    assert response.status_code == 200
    return response.get_json()


def wait_for(client, batch_id, done, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = status(client, batch_id)
        if done(state):
            return state
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} stuck at {state}")


def upload(client, content: bytes, mode: str = "all") -> int:
    token = csrf_from(client.get("/import/").get_data(as_text=True))
    response = client.post("/import/upload", data={"csrf_token": token, "mode": mode,
                                                   "file": (io.BytesIO(content), "队列.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, page(response)
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def confirm(client, batch_id: int) -> None:
    html = client.get(f"/import/batch/{batch_id}").get_data(as_text=True)
    response = client.post(f"/import/batch/{batch_id}/confirm", data={"csrf_token": csrf_from(html), "mode": "all"})
    assert response.status_code == 302


@contextlib.contextmanager
def held_up_on_postgresql():
    """On PostgreSQL, hold the membership table so that the worker's write stops at its first membership INSERT
    (its accounts and profiles already written, uncommitted); yields the wait for that moment (None on SQLite)."""
    if db.engine.dialect.name != "postgresql":
        yield None
        return
    with db.engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE membership IN EXCLUSIVE MODE"))

        def caught_writing():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                blocker.execute(text("SELECT pg_stat_clear_snapshot()"))  # a fresh view inside this transaction
                waiting = blocker.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                    "pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO membership%'")).scalar()
                if waiting:
                    return
                time.sleep(0.05)
            raise AssertionError("the worker never reached its first membership INSERT")

        try:
            yield caught_writing
        finally:
            blocker.rollback()
    # the killed worker's server process notices its client is gone at its next reply: wait for its rollback
    with db.engine.connect() as watcher:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                "pg_backend_pid() AND query LIKE 'INSERT INTO membership%' AND state = 'active'")).scalar():
            watcher.execute(text("SELECT pg_stat_clear_snapshot()"))
            time.sleep(0.05)
        watcher.rollback()


def accounts() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Account.id)))


def test_a_worker_checks_and_imports_and_the_page_follows(queue_app, world, client):
    login(client, world.unit_admin.username, role="UnitAdmin")
    batch_id = upload(client, staff_file(40))
    # no worker yet: the job waits, and the page says why
    waiting = status(client, batch_id)
    assert waiting["running"] and waiting["no_worker"]
    assert zh("No background worker is running: the file waits in the queue until one starts. Tell the platform's "
              "operators.") in page(client.get(f"/import/batch/{batch_id}"))
    before = accounts()
    worker = start_worker(queue_app)
    try:
        checked = wait_for(client, batch_id, lambda s: not s["running"])
        assert checked["state"] == "checked" and accounts() == before
        confirm(client, batch_id)
        done = wait_for(client, batch_id, lambda s: not s["running"])
        assert done["state"] == "done"
    finally:
        stop(worker)
    assert accounts() == before + 40
    text = page(client.get(f"/import/batch/{batch_id}"))
    assert zh("Imported") in text and "队列.xlsx" in page(client.get("/import/"))


def test_a_worker_killed_while_writing_leaves_nothing_and_the_page_says_so(queue_app, world, client, monkeypatch):
    rows = 12_000
    content = staff_file(rows)
    login(client, world.unit_admin.username, role="UnitAdmin")
    before = accounts()
    worker = start_worker(queue_app)
    try:
        batch_id = upload(client, content)
        wait_for(client, batch_id, lambda s: s["state"] == "checked")
        with held_up_on_postgresql() as caught_writing:
            confirm(client, batch_id)
            # killed in the middle of the write: on SQLite once the first chunks are written (the progress says so),
            # on PostgreSQL (too fast to catch) once its first accounts and profiles are in and it waits on a lock
            if caught_writing is None:
                progress = wait_for(client, batch_id, lambda s: s["state"] == "importing" and s["done"] >= flow.CHUNK)
                assert progress["done"] < rows
            else:
                caught_writing()
            stop(worker)
    finally:
        stop(worker)
    assert accounts() == before  # one transaction: nothing of the written chunks survives the killed worker
    monkeypatch.setitem(queue_app.config, "TASK_STALE_SECONDS", 1)  # (a minute in the tests' slow writes)
    lost = wait_for(client, batch_id, lambda s: not s["running"], timeout=30)
    assert lost["state"] == "interrupted"
    message = zh("The background worker stopped before the end. Nothing was imported: upload the file again.")
    assert message in page(client.get(f"/import/batch/{batch_id}"))
    assert db.session.get(ImportBatch, batch_id).created_rows == 0
    # the same file, again, with a worker that runs to the end: every row exactly once
    monkeypatch.setitem(queue_app.config, "TASK_STALE_SECONDS", 60)
    worker = start_worker(queue_app)
    try:
        again = upload(client, content)
        wait_for(client, again, lambda s: s["state"] == "checked")
        confirm(client, again)
        final = wait_for(client, again, lambda s: not s["running"])
        assert final["state"] == "done", (final, db.session.get(ImportBatch, again).message)
    finally:
        stop(worker)
    assert accounts() == before + rows
