"""X9 delegation: an admin hands their review rights to another admin of the same org for a period. Refused: a
deputy outside the org (or of another role, or inactive), oneself, overlapping periods, a deputy acting beyond the
delegator's rights (the delegator's own item, a module the delegator's org-defined role lacks), after the end
date, on their own item, after a revocation; a valid deputy's approval is audited and shown as "A 代 B"."""
from __future__ import annotations

import datetime
import json

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AuditLog, Declaration, Delegation, Membership, OrgRole, RoleName
from app.workflows import declaration as decl_flow
from app.workflows import delegation as flow
from app.workflows.accounts import display_name
from app.workflows.base import DomainError, PermissionDenied
from tests import factories
from tests.helpers import (log_in, make_declaration, make_person, membership_of, page, second_admin, zh)

R = RoleName
TODAY = clock.today()
pytestmark = pytest.mark.usefixtures("fresh_id_sequence")


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


@pytest.fixture()
def on_day(monkeypatch):
    """clock.today() is what the test sets (days after the real today)."""
    state = {"today": TODAY}
    monkeypatch.setattr(clock, "today", lambda: state["today"])

    def at(n: int):
        state["today"] = days(n)
    return at


def boss(w):
    return factories.actor_for(w.unit_admin, R.UNIT_ADMIN, w.unit)


def deputy_of(w, name="代理审核人"):
    return membership_of(second_admin(w, name), w.unit)


def pending(w, name="申报人") -> Declaration:
    return make_declaration(w, make_person(name, w.unit))


def delegate(w, deputy: Membership, start=0, end=3, delegator=None) -> Delegation:
    return flow.create(delegator or boss(w), deputy.id, days(start), days(end), "休假")


# ------------------------------------------------------------------ creating

def test_the_deputy_is_another_active_admin_of_the_same_org_and_role(fast_world):
    w = fast_world
    own = membership_of(w.unit_admin, w.unit)
    outside = membership_of(w.other_unit_admin, w.other_unit)
    below = membership_of(w.sub_unit_admin, w.sub_unit)  # an org inside the delegator's scope is still another org
    above = membership_of(w.dept_admin, w.dept)
    staff = membership_of(make_person("本单位专技人员", w.unit), w.unit, R.PROFESSIONAL)
    gone = deputy_of(w, "已撤销的管理员")
    db.session.get(Membership, gone.id).state = "revoked"  # noqa: state write of a test fixture
    db.session.commit()
    message = "The deputy must be an active administrator of your organisation."
    for membership in (outside, below, above, staff, gone):
        with pytest.raises(DomainError) as exc:
            delegate(w, membership)
        assert exc.value.field == "deputy_id" and str(exc.value.message) == zh(message)
    with pytest.raises(DomainError, match=zh("You cannot delegate to yourself.")):
        delegate(w, own)
    with pytest.raises(DomainError):
        flow.create(boss(w), None, days(0), days(1))
    assert db.session.scalars(select(Delegation)).all() == []
    # only the admins of the org with the role are offered
    assert [m.id for m in flow.candidates(boss(w))] == []
    good = deputy_of(w)
    assert [m.id for m in flow.candidates(boss(w))] == [good.id]


def test_dates_and_overlapping_periods(fast_world):
    w = fast_world
    a, b = deputy_of(w, "甲代理"), deputy_of(w, "乙代理")
    with pytest.raises(DomainError) as exc:
        delegate(w, a, start=-1, end=2)
    assert exc.value.field == "start_date"
    with pytest.raises(DomainError) as exc:
        delegate(w, a, start=3, end=2)
    assert exc.value.field == "end_date"
    with pytest.raises(DomainError) as exc:
        flow.create(boss(w), a.id, "2026-13-01", days(2))
    assert exc.value.field == "start_date"
    with pytest.raises(DomainError):
        delegate(w, a, start=0, end=400)
    first = delegate(w, a, start=0, end=10)
    for start, end in ((5, 20), (0, 0), (10, 12), (-0, 30)):
        with pytest.raises(DomainError) as exc:
            delegate(w, b, start=start, end=end)  # another deputy, the same delegator: never two at once
        assert exc.value.field == "start_date"
    later = delegate(w, b, start=11, end=20)  # right after: fine
    # another delegator may name the same deputy in the same period
    other_boss = second_admin(w, "另一位管理员")
    delegate(w, a, start=0, end=10, delegator=factories.actor_for(other_boss, R.UNIT_ADMIN, w.unit))
    flow.revoke(first, boss(w))
    assert delegate(w, b, start=0, end=10).id > later.id  # the revoked period is free again
    audited = db.session.scalars(select(AuditLog).where(AuditLog.action == "delegation.create")
                                 .order_by(AuditLog.id)).all()
    assert len(audited) == 4 and audited[0].actor == display_name(w.unit_admin)


def test_a_deputy_cannot_pass_the_rights_on(fast_world):
    w = fast_world
    a, b = deputy_of(w, "甲代理"), deputy_of(w, "乙代理")
    item = delegate(w, a)
    with pytest.raises(PermissionDenied):
        flow.create(flow.deputy_actor(item), b.id, days(0), days(1))


# ------------------------------------------------------------------ acting

def test_a_valid_deputy_approves_on_behalf_and_it_is_audited_and_shown(client, fast_world, outbox):
    w = fast_world
    deputy = deputy_of(w)
    item = pending(w)
    delegation = delegate(w, deputy)
    token = log_in(client, deputy.user.username, R.UNIT_ADMIN.value)
    response = client.post("/delegations/act", data={"csrf_token": token, "id": str(delegation.id)},
                           follow_redirects=True)
    assert zh("You now review on behalf of %(name)s.", name=display_name(w.unit_admin)) in page(response)
    response = client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item.id),
                                                                "action": "approve"}, follow_redirects=True)
    assert zh("%(n)s declaration(s) handled.", n=1) in page(response)
    db.session.expire_all()
    assert db.session.get(Declaration, item.id).state == "pending_dept"
    [row] = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "declaration",
                                                      AuditLog.object_id == item.id,
                                                      AuditLog.action == "declaration.approve"))
    assert (row.actor_id, row.actor) == (deputy.user_id, display_name(deputy.user))
    assert (row.on_behalf_of_id, row.on_behalf_of) == (w.unit_admin.id, display_name(w.unit_admin))
    assert row.role == R.UNIT_ADMIN.value
    [switch] = db.session.scalars(select(AuditLog).where(AuditLog.action == "delegation.act"))
    assert (switch.actor_id, switch.on_behalf_of_id) == (deputy.user_id, w.unit_admin.id)
    # the item's timeline, to the reviewers above and to the applicant: "A 代 B"
    shown = zh("%(actor)s on behalf of %(principal)s", actor=display_name(deputy.user),
               principal=display_name(w.unit_admin))
    assert "代" in shown
    assert shown in page(client.get(f"/review/declarations/{item.id}"))
    above = client.application.test_client()
    log_in(above, w.dept_admin.username, R.DEPT_ADMIN.value)
    assert shown in page(above.get(f"/review/declarations/{item.id}"))
    # every page says for whom the deputy acts, until when, and offers to stop
    banner = zh("You are reviewing on behalf of %(name)s.", name=display_name(w.unit_admin))
    for url in ("/home/", "/review/declarations/", "/notifications/"):
        assert banner in page(client.get(url)), url
        assert zh("Until %(date)s.", date=delegation.end_date.isoformat()) in page(client.get(url))
    assert banner not in page(above.get("/home/"))
    # back to acting as oneself: decisions are one's own again, and the banner is gone
    client.post("/delegations/act", data={"csrf_token": token}, follow_redirects=True)
    assert banner not in page(client.get("/home/"))
    other = pending(w, "另一申报人")
    client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(other.id), "action": "approve"})
    [own] = db.session.scalars(select(AuditLog).where(AuditLog.object_id == other.id,
                                                      AuditLog.action == "declaration.approve"))
    assert (own.actor_id, own.on_behalf_of, own.on_behalf_of_id) == (deputy.user_id, None, None)


def test_the_deputy_never_acts_on_the_delegators_own_item(fast_world):
    w = fast_world
    delegator = make_person("兼任管理员的医生", w.unit)  # a professional of the unit who is also its admin
    db.session.add(Membership(user_id=delegator.id, role=R.UNIT_ADMIN.value, org_id=w.unit.id, state="active"))
    db.session.commit()
    deputy = deputy_of(w)
    theirs = make_declaration(w, delegator)
    item = delegate(w, deputy, delegator=factories.actor_for(delegator, R.UNIT_ADMIN, w.unit))
    acting = flow.deputy_actor(item)
    as_self = factories.actor_for(deputy.user, R.UNIT_ADMIN, w.unit)
    assert decl_flow.can_decide(theirs, as_self)  # as themselves they may
    assert not decl_flow.can_decide(theirs, acting)  # for the delegator: their own item, never
    with pytest.raises(PermissionDenied):
        decl_flow.approve(theirs, acting)
    assert db.session.get(Declaration, theirs.id).state == "pending_unit"


def test_the_deputy_never_approves_their_own_item(fast_world):
    w = fast_world
    account = make_person("兼任管理员的代理人", w.unit)
    db.session.add(Membership(user_id=account.id, role=R.UNIT_ADMIN.value, org_id=w.unit.id, state="active"))
    db.session.commit()
    mine = make_declaration(w, account)
    item = delegate(w, membership_of(account, w.unit, R.UNIT_ADMIN))
    with pytest.raises(PermissionDenied):
        decl_flow.approve(mine, flow.deputy_actor(item))
    assert db.session.get(Declaration, mine.id).state == "pending_unit"


def test_the_deputy_has_the_delegators_modules_only(client, fast_world):
    w = fast_world
    role = OrgRole(org_id=w.unit.id, name="注册审核员", modules_json=json.dumps(["registrations"]))
    db.session.add(role)
    db.session.flush()
    narrow = second_admin(w, "只审注册的管理员")
    membership_of(narrow, w.unit).org_role_id = role.id
    db.session.commit()
    deputy = deputy_of(w)
    item = pending(w)
    delegation = delegate(w, deputy, delegator=factories.actor_for(narrow, R.UNIT_ADMIN, w.unit))
    acting = flow.deputy_actor(delegation)
    with pytest.raises(PermissionDenied):  # declarations: a module the delegator lacks
        decl_flow.approve(item, acting)
    token = log_in(client, deputy.user.username, R.UNIT_ADMIN.value)
    assert client.get("/review/declarations/").status_code == 200  # as themselves
    client.post("/delegations/act", data={"csrf_token": token, "id": str(delegation.id)})
    assert client.get("/review/declarations/").status_code == 403  # for the delegator
    assert client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item.id),
                                                            "action": "approve"}).status_code == 403
    assert client.get("/review/registrations/").status_code == 200
    assert client.get("/delegations/").status_code == 200
    db.session.expire_all()
    assert db.session.get(Declaration, item.id).state == "pending_unit"


def test_outside_the_org_and_beyond_its_scope_nothing(fast_world):
    w = fast_world
    deputy = deputy_of(w)
    elsewhere = make_declaration(w, make_person("乙校教师", w.other_unit))
    acting = flow.deputy_actor(delegate(w, deputy))
    with pytest.raises(PermissionDenied):
        decl_flow.approve(elsewhere, acting)
    # a delegation whose deputy left the org is over at once
    item = pending(w)
    db.session.get(Membership, deputy.id).org_id = w.other_unit.id  # noqa: a test's change of the row
    db.session.commit()
    with pytest.raises(PermissionDenied):
        decl_flow.approve(item, acting)


def test_it_ends_by_itself_after_its_end_date(client, fast_world, on_day):
    w = fast_world
    deputy = deputy_of(w)
    item = pending(w)
    delegation = delegate(w, deputy, start=1, end=2)
    acting = flow.deputy_actor(delegation)
    with pytest.raises(PermissionDenied):  # not yet
        decl_flow.approve(item, acting)
    token = log_in(client, deputy.user.username, R.UNIT_ADMIN.value)
    response = client.post("/delegations/act", data={"csrf_token": token, "id": str(delegation.id)},
                           follow_redirects=True)
    assert zh("This delegation is not in force.") in page(response)
    on_day(2)
    client.post("/delegations/act", data={"csrf_token": token, "id": str(delegation.id)})
    assert zh("You are reviewing on behalf of %(name)s.", name=display_name(w.unit_admin)) in \
        page(client.get("/delegations/"))
    on_day(3)  # the day after the end date
    with pytest.raises(PermissionDenied):
        decl_flow.approve(item, acting)
    # the session's switch is forgotten: the deputy acts as themselves again
    assert zh("You are reviewing on behalf of %(name)s.", name=display_name(w.unit_admin)) not in \
        page(client.get("/delegations/"))
    client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item.id), "action": "approve"})
    [row] = db.session.scalars(select(AuditLog).where(AuditLog.object_id == item.id,
                                                      AuditLog.action == "declaration.approve"))
    assert row.on_behalf_of is None and row.actor_id == deputy.user_id
    assert delegation.status(clock.today()) == "ended"
    with pytest.raises(DomainError):
        flow.revoke(delegation, boss(w))


def test_revoke_ends_it_at_once(client, fast_world):
    w = fast_world
    deputy = deputy_of(w)
    item = pending(w)
    delegation = delegate(w, deputy)
    acting = flow.deputy_actor(delegation)
    assert decl_flow.can_decide(item, acting)
    token = log_in(client, deputy.user.username, R.UNIT_ADMIN.value)
    client.post("/delegations/act", data={"csrf_token": token, "id": str(delegation.id)})
    # only the delegator revokes: not the deputy, not another admin
    for who in (flow.deputy_actor(delegation), factories.actor_for(deputy.user, R.UNIT_ADMIN, w.unit),
                factories.actor_for(w.other_unit_admin, R.UNIT_ADMIN, w.other_unit)):
        with pytest.raises(PermissionDenied):
            flow.revoke(delegation, who)
    owner = client.application.test_client()
    owner_token = log_in(owner, w.unit_admin.username, R.UNIT_ADMIN.value)
    response = owner.post(f"/delegations/{delegation.id}/revoke", data={"csrf_token": owner_token},
                          follow_redirects=True)
    assert zh("The delegation has been revoked.") in page(response)
    db.session.expire_all()
    assert db.session.get(Delegation, delegation.id).state == "revoked"
    assert not decl_flow.can_decide(item, acting)
    with pytest.raises(PermissionDenied):
        decl_flow.approve(item, acting)
    assert zh("You are reviewing on behalf of %(name)s.", name=display_name(w.unit_admin)) not in \
        page(client.get("/delegations/"))
    [row] = db.session.scalars(select(AuditLog).where(AuditLog.action == "delegation.revoke"))
    assert row.actor_id == w.unit_admin.id
    # another admin's delegation is not found by someone else
    assert client.post(f"/delegations/{delegation.id}/revoke", data={"csrf_token": token}).status_code == 404


def test_the_page_lists_creates_and_refuses_with_a_message(client, fast_world):
    w = fast_world
    deputy = deputy_of(w)
    token = log_in(client, w.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get("/delegations/"))
    assert zh("Delegations") in html and deputy.user.first_name in html
    response = client.post("/delegations/new", data={"csrf_token": token, "deputy_id": str(deputy.id),
                                                     "start_date": days(3).isoformat(),
                                                     "end_date": days(1).isoformat(), "note": "出差"})
    assert response.status_code == 400
    assert zh("The end date cannot be before the start date.") in page(response)
    response = client.post("/delegations/new", data={"csrf_token": token, "deputy_id": str(deputy.id),
                                                     "start_date": days(0).isoformat(),
                                                     "end_date": days(5).isoformat(), "note": "出差"},
                           follow_redirects=True)
    assert zh("The delegation has been saved.") in page(response)
    [item] = db.session.scalars(select(Delegation))
    assert (item.deputy_id, item.start_date, item.end_date, item.note) == (deputy.id, days(0), days(5), "出差")
    response = client.post("/delegations/new", data={"csrf_token": token, "deputy_id": str(deputy.id),
                                                     "start_date": days(5).isoformat(),
                                                     "end_date": days(6).isoformat()})
    assert response.status_code == 400 and zh("You already have a delegation in this period.") in page(response)
    # the deputy sees it and the switch; someone else cannot switch to it
    other = client.application.test_client()
    log_in(other, deputy.user.username, R.UNIT_ADMIN.value)
    assert zh("Review on their behalf") in page(other.get("/delegations/"))
    stranger = client.application.test_client()
    stranger_token = log_in(stranger, w.other_unit_admin.username, R.UNIT_ADMIN.value)
    assert stranger.post("/delegations/act", data={"csrf_token": stranger_token, "id": str(item.id)}
                         ).status_code == 404


def test_every_kind_of_item_shows_the_deputys_decision(client, fast_world):
    """A title change (its detail page has the same timeline as registrations, transfers and base reports)."""
    from app.workflows import title_change as title_flow
    from tests.helpers import professional, NEW_TITLE, as_professional, PNG

    w = fast_world
    deputy = deputy_of(w)
    item = title_flow.submit(as_professional(professional(w.unit)), NEW_TITLE, [("职称证书.png", PNG)])
    title_flow.approve(item, flow.deputy_actor(delegate(w, deputy)))
    log_in(client, w.unit_admin.username, R.UNIT_ADMIN.value)
    html = page(client.get(f"/review/personnel/{item.id}"))
    assert zh("%(actor)s on behalf of %(principal)s", actor=display_name(deputy.user),
              principal=display_name(w.unit_admin)) in html
    assert zh("Title change approved") in html


def test_two_overlapping_delegations_at_once_leave_one(app, fast_world, db):
    """PostgreSQL: the delegator's membership row serialises two requests racing in at the same instant."""
    import threading

    from tests.helpers import needs_postgres

    needs_postgres(db)
    w = fast_world
    deputies = [deputy_of(w, f"并发代理{i}").id for i in range(2)]
    for round_no in range(1, 4):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def create(deputy_id: int) -> None:
            with app.app_context():
                from app.extensions import db as tdb

                barrier.wait(timeout=30)
                try:
                    flow.create(boss(w), deputy_id, days(0), days(5))
                    outcomes.append("ok")
                except DomainError:
                    outcomes.append("refused")
                except Exception as exc:  # noqa: BLE001
                    outcomes.append(f"error {exc!r}")
                tdb.session.remove()

        threads = [threading.Thread(target=create, args=(d,)) for d in deputies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes) == ["ok", "refused"], outcomes
        db.session.expire_all()
        live = db.session.scalars(select(Delegation).where(Delegation.state == "active")).all()
        assert len(live) == 1
        flow.revoke(live[0], boss(w))  # free the period for the next round
        assert len(db.session.scalars(select(Delegation)).all()) == round_no
