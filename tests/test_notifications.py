"""X2 notifications: every decision tells the applicant, every item reaching a queue tells its next reviewers (not
those whose org-defined role lacks the queue's module), in the platform and by e-mail, never twice; e-mail off is
respected; the outbox delivers each e-mail exactly once over real SMTP even when the process dies between the
commit and the delivery; the bell costs one query a page; nobody reads or marks another's notification."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Notification, NotificationKind, RoleName
from app.workflows import declaration as decl_flow
from app.workflows import notifications as flow
from app.workflows import transfer as tr_flow
from tests.factories import actor_for
from app.workflows import admins as admin_flow
from tests.helpers import (boss, csrf_from, login, make_declaration, make_person, membership_of, page, reviewers_of,
                           second_admin, statements)

R = RoleName
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def notes_of(account, kind: str | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == account.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt.order_by(Notification.id)))


def restricted_deputy(world, modules: list[str], name: str):
    """A non-super admin of world.unit whose org-defined role opens only `modules`."""
    deputy = second_admin(world, name)
    admin_flow.set_role(boss(world), membership_of(deputy).id,
                        admin_flow.create_role(boss(world), f"{name}角色", modules).id)
    return deputy


def reviewer(world, org_id):
    admin, role = reviewers_of(world)[org_id]
    return actor_for(admin, role, db.session.get(type(world.unit), org_id))


# ------------------------------------------------------------------ who is told

def test_a_declaration_tells_each_level_and_the_applicant_every_decision(fast_world, outbox):
    w = fast_world
    applicant = make_person("申报人", w.unit)
    item = make_declaration(w, applicant)  # submitted: waits at the unit
    [queued] = notes_of(w.unit_admin, "queue")
    assert queued.link == f"/review/declarations/{item.id}" and queued.object_id == item.id
    assert notes_of(w.dept_admin) == [] and notes_of(applicant) == []
    assert [m.recipients for m in outbox] == [[w.unit_admin.email]]

    decl_flow.approve(item, reviewer(w, w.unit.id))  # unit approves: dept's turn, applicant told
    assert [n.kind for n in notes_of(applicant)] == ["decision"]
    assert len(notes_of(w.dept_admin, "queue")) == 1
    decl_flow.approve(item, reviewer(w, w.dept.id))
    assert len(notes_of(w.district_admin, "queue")) == 1
    decl_flow.reject(item, reviewer(w, w.district.id), "证明材料不清晰")
    decisions = notes_of(applicant, "decision")
    assert len(decisions) == 3 and "证明材料不清晰" in decisions[-1].body
    assert all(n.link == f"/hours/{item.id}" for n in decisions)
    # nobody is told of one event twice, and each in-app notification was e-mailed once
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 6
    assert sorted(r for m in outbox for r in m.recipients) == sorted(
        [w.unit_admin.email, w.dept_admin.email, w.district_admin.email] + [applicant.email] * 3)
    assert {n.email_state for n in db.session.scalars(select(Notification))} == {"sent"}


def test_queue_notices_skip_admins_whose_org_role_lacks_the_module(fast_world, outbox):
    w = fast_world
    without = restricted_deputy(w, ["transfers"], "只管调动")
    with_module = restricted_deputy(w, ["declarations"], "管学时")
    make_declaration(w, make_person("申报人", w.unit))
    assert len(notes_of(with_module, "queue")) == 1 and len(notes_of(w.unit_admin, "queue")) == 1
    assert notes_of(without) == []
    tr_flow.submit(actor_for(make_person("调动人", w.unit), R.PROFESSIONAL, w.unit), w.other_unit.id)
    assert len(notes_of(without, "queue")) == 1 and len(notes_of(with_module, "queue")) == 1


def test_registrations_title_changes_and_transfers_notify_reviewers_and_applicants(fast_world, outbox):
    from tests.helpers import make_change, register

    w = fast_world
    reg = register(w.unit, "注册人")
    [n] = notes_of(w.unit_admin, "queue")
    assert n.object_type == "registration" and n.link == f"/review/registrations/{reg.id}"
    from app.workflows import registration as reg_flow

    reg_flow.approve(reg, actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))
    [decided] = notes_of(reg.user, "decision")
    assert decided.object_id == reg.id

    person = make_person("调动人", w.unit)
    transfer = tr_flow.submit(actor_for(person, R.PROFESSIONAL, w.unit), w.other_unit.id)
    assert [n.object_id for n in notes_of(w.unit_admin, "queue") if n.object_type == "transfer"] == [transfer.id]
    tr_flow.release(transfer, actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit))
    assert [n.object_id for n in notes_of(w.other_unit_admin, "queue")] == [transfer.id]
    assert [n.kind for n in notes_of(person)] == ["decision"]

    change = make_change(w, make_person("改职称的人", w.unit))
    assert change.id in [n.object_id for n in notes_of(w.unit_admin, "queue") if n.object_type == "title_change"]


def test_one_event_never_notifies_a_person_twice(fast_world):
    w = fast_world
    note = flow.Note([w.unit_admin, w.unit_admin], NotificationKind.REMINDER, "提醒", "正文", "/home/")
    assert flow.write([note], event="test:1") == 1
    assert flow.write([note], event="test:1") == 0
    db.session.commit()
    assert flow.write([note], event="test:2") == 1
    db.session.commit()
    assert len(notes_of(w.unit_admin)) == 2


def test_e_mail_off_is_respected_and_in_app_still_shown(fast_world, outbox):
    w = fast_world
    flow.set_email(w.unit_admin.id, False)
    make_declaration(w, make_person("申报人", w.unit))
    [n] = notes_of(w.unit_admin, "queue")
    assert n.email_state == "skipped" and n.email_to is None
    assert outbox == []
    flow.set_email(w.unit_admin.id, True)
    make_declaration(w, make_person("申报人二", w.unit))
    assert [m.recipients for m in outbox] == [[w.unit_admin.email]]


def test_a_rolled_back_transition_leaves_no_notification(fast_world, outbox, monkeypatch):
    w = fast_world
    item = make_declaration(w, make_person("申报人", w.unit))
    before = db.session.scalar(select(func.count()).select_from(Notification))
    mails = len(outbox)

    def boom(*args, **kwargs):
        raise RuntimeError("crash inside the transaction")

    monkeypatch.setattr(decl_flow, "credit", boom)
    decl_flow.approve(item, reviewer(w, w.unit.id))
    decl_flow.approve(item, reviewer(w, w.dept.id))
    with pytest.raises(RuntimeError):
        decl_flow.approve(item, reviewer(w, w.district.id))  # the last approval credits the hours: it fails
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Notification)) == before + 4
    assert len(outbox) == mails + 4


# ------------------------------------------------------------------ the outbox: exactly once over SMTP

def test_a_crash_between_commit_and_delivery_then_sweeps_send_each_e_mail_once(app, fast_world, smtp_server,
                                                                                 monkeypatch):
    w = fast_world

    def crash(ids):
        raise RuntimeError("the worker dies after the commit, before the SMTP delivery")

    applicants = [make_person(f"申报人{i}", w.unit) for i in range(3)]
    with monkeypatch.context() as m:
        m.setattr(flow, "deliver", crash)
        items = [make_declaration(w, a) for a in applicants]
        decl_flow.approve(items[0], reviewer(w, w.unit.id))
    assert items[0].state == "pending_dept"  # the decisions are committed
    pending = list(db.session.scalars(select(Notification).where(Notification.email_state == "pending")))
    assert len(pending) == 5 and smtp_server.envelopes == []

    assert flow.deliver_pending() == 5  # the restart's sweep
    assert flow.deliver_pending() == 0  # and again: nothing more
    assert flow.deliver([n.id for n in pending]) == 0  # a redelivered job
    recipients = sorted(r for e in smtp_server.envelopes for r in e.rcpt_tos)
    assert recipients == sorted([w.unit_admin.email] * 3 + [w.dept_admin.email, applicants[0].email])
    db.session.expire_all()
    assert {n.email_state for n in db.session.scalars(select(Notification))} == {"sent"}


def test_an_smtp_failure_is_retried_by_the_sweep_and_sent_once(app, fast_world, smtp_server, monkeypatch):
    w = fast_world
    from app.extensions import mail

    real_send = mail.send
    monkeypatch.setattr(mail, "send", lambda message: (_ for _ in ()).throw(ConnectionError("SMTP down")))
    make_declaration(w, make_person("申报人", w.unit))
    [n] = notes_of(w.unit_admin, "queue")
    assert n.email_state == "pending" and n.email_attempts == 1
    monkeypatch.setattr(mail, "send", real_send)
    assert flow.deliver_pending() == 1 and flow.deliver_pending() == 0
    assert [e.rcpt_tos for e in smtp_server.envelopes] == [[w.unit_admin.email]]


# ------------------------------------------------------------------ the bell and the list

def test_the_bell_shows_the_unread_count_with_one_query_a_page(app, client, fast_world):
    w = fast_world
    for i in range(3):
        make_declaration(w, make_person(f"申报人{i}", w.unit))
    login(client, w.unit_admin.username, role="UnitAdmin")
    with statements() as seen:
        html = page(client.get("/home/"))
    assert 'id="bell-count">3<' in html
    queries = [s for s in seen if "notification" in s.lower()]
    assert len(queries) == 1, (queries, len(seen))
    assert "user_id" in queries[0].lower() and "read_at" in queries[0].lower()


def test_the_list_opens_an_item_and_marks_read(app, client, fast_world):
    w = fast_world
    item = make_declaration(w, make_person("申报人", w.unit))
    make_declaration(w, make_person("申报人二", w.unit))
    login(client, w.unit_admin.username, role="UnitAdmin")
    html = page(client.get("/notifications/"))
    first, second = notes_of(w.unit_admin)
    assert f"notification-{first.id}" in html and f"notification-{second.id}" in html
    token = csrf_from(html)
    resp = client.post("/notifications/open", data={"csrf_token": token, "id": str(first.id)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/review/declarations/{item.id}")
    db.session.expire_all()
    assert db.session.get(Notification, first.id).read_at is not None
    assert flow.unread_count(w.unit_admin.id) == 1
    client.post("/notifications/read-all", data={"csrf_token": token})
    assert flow.unread_count(w.unit_admin.id) == 0
    assert 'id="bell-count"' not in page(client.get("/home/"))
    client.post("/notifications/email", data={"csrf_token": token, "email_on": "0"})
    assert flow.email_on(w.unit_admin.id) is False


def test_nobody_reads_or_marks_another_persons_notification(app, client, fast_world):
    w = fast_world
    make_declaration(w, make_person("申报人", w.unit))
    [theirs] = notes_of(w.unit_admin)
    login(client, w.dept_admin.username, role="DeptAdmin")
    html = page(client.get("/notifications/"))
    assert f"notification-{theirs.id}" not in html
    token = csrf_from(html)
    for action in ("open", "read"):
        response = client.post(f"/notifications/{action}", data={"csrf_token": token, "id": str(theirs.id)})
        assert response.status_code == 404
    client.post("/notifications/read-all", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None
    for bad in ("99999999999", "-1", "x", ""):
        assert client.post("/notifications/read", data={"csrf_token": token, "id": bad}).status_code == 404
