"""X7 through the task queue (issue 13, point 4): a list past EXPORT_INLINE_ROWS rows is queued instead of written in
the web request; the worker replays the export address as the person who asked, with their rights at that moment;
导出记录 shows the progress and hands the file to that membership only; a worker gone, a login ended or a right
removed leaves no file and says why; files expire. The RQ queue is the machine's Redis; the jobs run in this process
(`exports.run`, as a worker calls it), and once through a real `flask worker --burst`."""
from __future__ import annotations

import datetime
import gc
import io
import os
import uuid

import redis
from openpyxl import load_workbook
from sqlalchemy import select, update

from app.extensions import db
from app.models import Account, AuditLog, ExportJob, ExportState, Membership, MembershipState, RoleName
from app.workflows import export, exports
from tests.helpers import QUEUE_REDIS_URL, login, make_person, page, register, run_worker_burst, zh

R = RoleName
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def client_of(app, account, role: RoleName):
    client = app.test_client()
    login(client, account.username, role=role.value)
    return client


def rows_of(content: bytes) -> list[list]:
    return [[c.value for c in row] for row in load_workbook(io.BytesIO(content)).worksheets[0].iter_rows()]


def record(export_id: int) -> ExportJob:
    db.session.expire_all()
    return db.session.get(ExportJob, export_id)


def queued_id(response) -> int:
    assert response.status_code == 302, response.status_code
    location = response.headers["Location"]
    assert "/exports/" in location, location
    return int(location.rstrip("/").rsplit("/", 1)[1])


def staff(world, n: int = 3):
    return [make_person(f"队列导出{chr(0x4e00 + i)}", world.unit) for i in range(n)]


def test_a_small_list_is_still_downloaded_at_once(queue_app, world):
    make_person("少量导出甲", world.unit)
    response = client_of(queue_app, world.city_admin, R.HR_ADMIN).get("/staff/export/")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert db.session.scalar(select(ExportJob.id)) is None


def test_a_big_list_is_queued_written_by_the_worker_and_downloaded_by_its_asker_only(queue_app, world, caplog,
                                                                                       monkeypatch):
    monkeypatch.setattr(export, "BATCH", 1)  # the list's cursor is still open after the rows read ahead
    staff(world, 3)
    client = client_of(queue_app, world.city_admin, R.HR_ADMIN)
    response = client.get("/staff/export/?_oc_StaffModelView=name&_od_StaffModelView=asc")
    export_id = queued_id(response)
    gc.collect()
    assert "Error closing cursor" not in caplog.text  # the rows read ahead were closed before the record's commit
    item = record(export_id)
    assert item.state == ExportState.WRITING.value and item.job_id and item.user_id == world.city_admin.id
    assert item.url == "/staff/export/?_oc_StaffModelView=name&_od_StaffModelView=asc"
    assert item.title == zh("Staff")
    html = page(client.get(f"/exports/{export_id}", follow_redirects=True))
    assert zh("The list is being written in the background. You may leave this page: the file will wait under "
              "the export records.") in html
    assert zh("The list has more than %(n)s rows: it is being written in the background. The file will wait "
              "here and under the export records.", n="2") in html
    assert client.get(f"/exports/{export_id}/status").get_json()["running"] is True
    assert client.get(f"/exports/{export_id}/file").status_code == 404  # nothing to download yet

    exports.run(export_id)  # as the worker runs it

    item = record(export_id)
    assert item.state == ExportState.DONE.value and item.rows == 3 and item.size > 0 and item.finished_at
    status = client.get(f"/exports/{export_id}/status").get_json()
    assert status["running"] is False and status["state"] == "done" and status["done"] == 3
    download = client.get(f"/exports/{export_id}/file")
    assert download.status_code == 200 and download.mimetype == XLSX
    assert "attachment" in download.headers["Content-Disposition"]
    assert "no-store" in download.headers["Cache-Control"]
    queued_rows = rows_of(download.get_data())
    # exactly the file the request would have made (same filters and order, the asker's scope)
    queue_app.config["TASKS_INLINE"] = True
    inline_rows = rows_of(client.get("/staff/export/?_oc_StaffModelView=name&_od_StaffModelView=asc").get_data())
    assert queued_rows == inline_rows and len(queued_rows) == 4
    index = page(client.get("/exports/"))
    assert zh("Export records") in index and zh("Ready to download") in index and f"/exports/{export_id}/file" in index
    actions = list(db.session.scalars(select(AuditLog.action).where(AuditLog.object_type == "export_job")
                                      .order_by(AuditLog.id)))
    assert actions == ["export_job.start", "export_job.done"]
    # another admin, or the same person in another role, never sees it
    for other, role in ((world.other_district_admin, R.HR_ADMIN), (world.district_admin, R.HR_ADMIN)):
        stranger = client_of(queue_app, other, role)
        for path in ("", "/status", "/file"):
            assert stranger.get(f"/exports/{export_id}{path}").status_code == 404
        assert f"/exports/{export_id}" not in page(stranger.get("/exports/"))
    for bad in ("abc", "0", "-1", "99999999999", str(export_id + 1000)):
        assert client.get(f"/exports/{bad}").status_code == 404, bad


def test_the_replay_keeps_a_queue_pages_filters_and_scope(queue_app, world):
    for name in ("队列待审甲一", "队列待审甲二", "队列待审甲三"):
        register(world.unit, name)
    register(world.other_unit, "队列待审乙一")
    client = client_of(queue_app, world.unit_admin, R.UNIT_ADMIN)
    export_id = queued_id(client.get("/review/registrations/export?q=队列待审甲"))
    exports.run(export_id)
    rows = rows_of(client.get(f"/exports/{export_id}/file").get_data())
    names = [row[2] for row in rows[1:]]
    assert sorted(names) == ["队列待审甲一", "队列待审甲三", "队列待审甲二"]


def test_an_export_whose_login_ended_or_whose_right_went_makes_no_file(queue_app, world):
    staff(world, 3)
    client = client_of(queue_app, world.city_admin, R.HR_ADMIN)
    ended = queued_id(client.get("/staff/export/"))
    removed = queued_id(client.get("/staff/export/?_oc_StaffModelView=name"))
    folder = os.path.join(queue_app.config["UPLOAD_FOLDER"], "exports")
    os.makedirs(folder, exist_ok=True)
    before = set(os.listdir(folder))
    # "log out everywhere" (or a password change) after asking: the replayed session is no longer valid
    db.session.execute(update(Account).where(Account.id == world.city_admin.id)
                       .values(sessions_valid_after=datetime.datetime.now() + datetime.timedelta(seconds=5)))
    db.session.commit()
    exports.run(ended)
    item = record(ended)
    assert item.state == ExportState.FAILED.value and item.stored_name is None
    assert item.message == zh("Your login ended before the export was written (logged out, password changed, or "
                              "the session's time was up). Log in and export again.")
    db.session.execute(update(Account).where(Account.id == world.city_admin.id).values(sessions_valid_after=None))
    # the role revoked after asking
    membership = db.session.scalar(select(Membership).where(Membership.user_id == world.city_admin.id,
                                                            Membership.role == R.HR_ADMIN.value))
    db.session.execute(update(Membership).where(Membership.id == membership.id)
                       .values(state=MembershipState.REVOKED.value))
    db.session.commit()
    exports.run(removed)
    assert record(removed).state == ExportState.FAILED.value
    assert set(os.listdir(folder)) == before  # no file, no part file left


def test_an_export_whose_worker_vanished_is_marked_interrupted(queue_app, world):
    staff(world, 3)
    client = client_of(queue_app, world.city_admin, R.HR_ADMIN)
    export_id = queued_id(client.get("/staff/export/"))
    redis.Redis.from_url(QUEUE_REDIS_URL).delete(f"rq:job:{record(export_id).job_id}")  # the job is gone from the queue
    status = client.get(f"/exports/{export_id}/status").get_json()
    assert status["running"] is False and status["state"] == "interrupted"
    assert zh("The background worker stopped before the end. Export the list again.") in page(
        client.get(f"/exports/{export_id}"))
    exports.run(export_id)  # a late worker makes nothing of it
    assert record(export_id).state == ExportState.INTERRUPTED.value


def test_a_big_list_is_written_in_the_request_while_the_queue_is_out_of_reach(queue_app, world, monkeypatch):
    staff(world, 3)
    monkeypatch.setitem(queue_app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    response = client_of(queue_app, world.city_admin, R.HR_ADMIN).get("/staff/export/")
    assert response.status_code == 200 and response.mimetype == XLSX and len(rows_of(response.get_data())) == 4
    assert db.session.scalar(select(ExportJob.id)) is None


def test_a_queued_export_waiting_without_a_worker_says_so(queue_app, world):
    staff(world, 3)
    client = client_of(queue_app, world.city_admin, R.HR_ADMIN)
    export_id = queued_id(client.get("/staff/export/"))
    assert client.get(f"/exports/{export_id}/status").get_json()["no_worker"] is True


def test_files_expire_after_their_time(queue_app, world):
    staff(world, 3)
    client = client_of(queue_app, world.city_admin, R.HR_ADMIN)
    export_id = queued_id(client.get("/staff/export/"))
    exports.run(export_id)
    path = os.path.join(queue_app.config["UPLOAD_FOLDER"], "exports", record(export_id).stored_name)
    assert os.path.isfile(path)
    assert exports.expire() == 0  # still within EXPORT_KEEP_HOURS
    db.session.execute(update(ExportJob).where(ExportJob.id == export_id).values(
        finished_at=datetime.datetime.now() - datetime.timedelta(hours=73)))
    db.session.commit()
    assert client.get(f"/exports/{export_id}/file").status_code == 404  # past its time even before the sweep
    assert exports.expire() == 1
    item = record(export_id)
    assert item.state == ExportState.EXPIRED.value and not os.path.exists(path)
    assert zh("The file is no longer kept: export it again.") in page(client.get(f"/exports/{export_id}"))


def test_every_export_address_of_the_url_map_ends_in_the_one_export_response(app, world):
    """The queue is decided in views/export.xlsx_response, so every list's export must end there. Walk every rule of
    the URL map ending in /export as each role: in the worker's replay (its environ keys set) a view that answers
    through xlsx_response writes its file to the store and answers 204; one that built its own download would send
    a sheet (200) and escape the queue."""
    from app.models import Org
    from tests import factories

    base = db.session.get(Org, db.session.scalar(select(Membership.org_id).where(
        Membership.user_id == world.base_admin.id)))
    online_class = factories.make_online_class(base, world.city)
    db.session.commit()
    roles = [(world.city_admin, R.HR_ADMIN), (world.unit_admin, R.UNIT_ADMIN), (world.sysadmin, R.SYSADMIN),
             (world.auditor, R.AUDITOR), (world.base_admin, R.BASE_ADMIN), (world.support, R.SUPPORT)]
    clients = [client_of(app, account, role) for account, role in roles]
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.rstrip("/").endswith("/export")]
    assert len(rules) >= 15
    folder = os.path.join(app.config["UPLOAD_FOLDER"], "exports")
    for n, rule in enumerate(rules):
        path = rule.rule.replace("<int:class_id>", str(online_class.id))
        assert "<" not in path, f"{rule.rule}: give this walk a value for its argument"
        stored = f"walk-{uuid.uuid4().hex}.xlsx"
        answers = []
        for client in clients:
            response = client.get(path, environ_overrides={exports.JOB_KEY: n + 1, exports.STORED_KEY: stored})
            answers.append(response.status_code)
            if response.status_code not in (403, 404):
                break
        assert answers[-1] == 204, (rule.rule, answers)
        assert os.path.isfile(os.path.join(folder, stored)), rule.rule
        os.remove(os.path.join(folder, stored))


def test_a_real_worker_writes_the_queued_export(queue_app, world):
    staff(world, 3)
    client = client_of(queue_app, world.city_admin, R.HR_ADMIN)
    export_id = queued_id(client.get("/staff/export/"))
    run_worker_burst(queue_app)
    item = record(export_id)
    assert item.state == ExportState.DONE.value and item.rows == 3, (item.state, item.message)
    assert len(rows_of(client.get(f"/exports/{export_id}/file").get_data())) == 4


def test_a_worker_stops_at_once_when_its_command_thread_has_read_the_unsubscribe_reply_first(queue_app):
    """The worker's shutdown (every `--burst` run, every deploy) waited up to 60 s for RQ's pubsub thread when that
    thread read the unsubscribe reply before being told to stop (it then waits for a new subscription); forced here by
    a pause between the two steps."""
    import time

    from app import tasks

    with queue_app.app_context():
        queue = tasks.queue()
        worker = tasks.QueueWorker([queue], connection=queue.connection)
        worker.subscribe()
        assert worker.pubsub.subscribed_event.wait(5)
        send_unsubscribe = worker.pubsub.unsubscribe

        def unsubscribe_then_pause(*args):
            send_unsubscribe(*args)
            deadline = time.monotonic() + 5
            while worker.pubsub.subscribed and time.monotonic() < deadline:  # the thread reads the reply
                time.sleep(0.01)
            time.sleep(0.2)  # and goes back to waiting

        worker.pubsub.unsubscribe = unsubscribe_then_pause
        started = time.monotonic()
        worker.unsubscribe()
        assert time.monotonic() - started < 5
