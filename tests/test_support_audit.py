"""Support grants / revokes roles (S1) without escalation; the audit trail (X1, T12), read-only for the auditor."""
from __future__ import annotations

import datetime
import re

import pytest
from sqlalchemy import func, select

from app.models import (Account, AuditLog, Membership, MembershipState, OrgKind, OrgState, Registration,
                        RegistrationState, RoleName)
from tests import factories
from tests.helpers import CAPTCHA, csrf_from, login, page, submit, zh

NEW_PASSWORD = "Neu#Pass2026"


def token_of(client, url="/account/password") -> str:
    return csrf_from(page(client.get(url)))


def memberships(db, account) -> list[tuple[str, int | None, str]]:
    db.session.expire_all()
    return sorted((m.role, m.org_id, m.state) for m in db.session.scalars(
        select(Membership).where(Membership.user_id == account.id)))


def professional(world, name="周老师", unit=None):
    unit = unit or world.unit
    return factories.make_account(name, [(RoleName.PROFESSIONAL, unit)], person_unit=unit)


def grant(client, account, role, org=None):
    token = token_of(client, f"/support/accounts/{account.id}")
    data = {"csrf_token": token, "role": role}
    if org is not None:
        data["org_id"] = str(org.id)
    r = client.post(f"/support/accounts/{account.id}/roles", data=data)
    return r, page(client.get(f"/support/accounts/{account.id}")) if r.status_code == 302 else ""


def can_log_in(app, account, role, password=factories.PASSWORD) -> bool:
    return login(app.test_client(), account.username, password, role=role, follow=False).status_code == 302


# ------------------------------------------------------------------ S1 grant and revoke

def test_support_grants_and_revokes_a_role(app, client, world, db):
    account = professional(world)
    assert not can_log_in(app, account, "UnitAdmin")
    login(client, world.support.username, role="Support")

    r, text = grant(client, account, "UnitAdmin", world.unit)
    assert r.status_code == 302
    assert zh("The role has been granted.") in text
    assert ("UnitAdmin", world.unit.id, "active") in memberships(db, account)
    holder = app.test_client()
    assert login(holder, account.username, role="UnitAdmin").request.path == "/home/"
    assert holder.get("/review/registrations/").status_code == 200

    membership_id = db.session.scalar(select(Membership.id).where(
        Membership.user_id == account.id, Membership.role == "UnitAdmin"))
    r = client.post(f"/support/memberships/{membership_id}/revoke", data={"csrf_token": token_of(client)})
    assert r.status_code == 302
    assert zh("The role has been revoked.") in page(client.get(r.headers["Location"]))
    assert ("UnitAdmin", world.unit.id, "revoked") in memberships(db, account)
    # The revoked role is gone at once: the open session loses it and a new login is refused.
    assert holder.get("/review/registrations/").status_code in (302, 403)
    refused = login(app.test_client(), account.username, role="UnitAdmin")
    assert zh("The role you chose is not registered for this account.") in page(refused)
    assert can_log_in(app, account, "Professional")  # the other role is untouched


def test_granting_the_same_role_twice_is_refused(client, world, db):
    account = professional(world)
    login(client, world.support.username, role="Support")
    grant(client, account, "UnitAdmin", world.unit)
    _, text = grant(client, account, "UnitAdmin", world.unit)
    assert zh("The account already holds this role.") in text
    assert [m for m in memberships(db, account) if m[0] == "UnitAdmin"] == [("UnitAdmin", world.unit.id, "active")]


def test_sysadmin_may_grant_the_auditor_role(app, client, world, db):
    """The control for the escalation tests below: the endpoint can grant it, to the right person."""
    account = professional(world)
    login(client, world.sysadmin.username, role="SysAdmin")
    grant(client, account, "Auditor")
    assert ("Auditor", None, "active") in memberships(db, account)
    assert can_log_in(app, account, "Auditor")


ACTING_ROLE = {"support": "Support", "sysadmin": "SysAdmin"}
ESCALATIONS = [
    # (who acts, role, target account attr or None for a fresh professional, org attr, msgid)
    ("support", "SysAdmin", None, None, "Only a system administrator may grant this role."),
    ("support", "Auditor", None, None, "Only a system administrator may grant this role."),
    ("support", "Auditor", "support", None, "Only a system administrator may grant this role."),
    ("support", "UnitAdmin", "support", "unit", "You cannot change your own roles."),
    ("support", "Support", "support", None, "You cannot change your own roles."),
    ("sysadmin", "UnitAdmin", "sysadmin", "unit", "You cannot change your own roles."),
    ("sysadmin", "Auditor", "sysadmin", None, "You cannot change your own roles."),
    ("support", "DeptAdmin", None, "unit", "This role does not fit the kind of organisation chosen."),
    ("support", "UnitAdmin", None, "dept", "This role does not fit the kind of organisation chosen."),
    ("support", "HRAdmin", None, "base", "This role does not fit the kind of organisation chosen."),
    ("support", "BaseAdmin", None, "city", "This role does not fit the kind of organisation chosen."),
    ("support", "UnitAdmin", None, "pending", "Choose an active organisation for this role."),
    ("support", "UnitAdmin", None, None, "Choose an active organisation for this role."),
]


@pytest.mark.parametrize("actor,role,target,org,msgid", ESCALATIONS,
                         ids=[f"{a}-{r}-{t or 'other'}-{o or 'no-org'}" for a, r, t, o, _ in ESCALATIONS])
def test_escalation_is_refused_and_changes_nothing(app, client, world, db, actor, role, target, org, msgid):
    account = getattr(world, target) if target else professional(world)
    if org == "pending":
        org_obj = factories.make_org(OrgKind.UNIT, "待审核单位", world.dept, state=OrgState.PENDING)
    else:
        org_obj = getattr(world, org) if org else None
    acting = getattr(world, actor)
    before = memberships(db, account)
    audit_before = db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "role.grant"))
    login(client, acting.username, role=ACTING_ROLE[actor])

    r, text = grant(client, account, role, org_obj)
    assert r.status_code in (302, 400, 403)
    if r.status_code == 302:
        assert zh(msgid) in text
    assert memberships(db, account) == before
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "role.grant")) == audit_before
    assert not can_log_in(app, account, role) or role in {m[0] for m in before if m[2] == "active"}


def test_support_cannot_revoke_a_sysadmin_or_its_own_role(client, world, db):
    login(client, world.support.username, role="Support")
    for account in (world.sysadmin, world.auditor, world.support):
        membership_id = db.session.scalar(select(Membership.id).where(Membership.user_id == account.id))
        before = memberships(db, account)
        r = client.post(f"/support/memberships/{membership_id}/revoke", data={"csrf_token": token_of(client)})
        assert r.status_code in (302, 403)
        assert memberships(db, account) == before, account.first_name


def test_support_posts_need_the_csrf_token(client, world, db):
    account = professional(world)
    login(client, world.support.username, role="Support")
    r = client.post(f"/support/accounts/{account.id}/roles", data={"role": "UnitAdmin", "org_id": world.unit.id})
    assert r.status_code == 400
    assert client.get(f"/support/accounts/{account.id}/roles").status_code == 405  # never by GET
    assert [m[0] for m in memberships(db, account)] == ["Professional"]


NOT_SUPPORT = [("unit_admin", "UnitAdmin"), ("dept_admin", "DeptAdmin"), ("city_admin", "HRAdmin"),
               ("base_admin", "BaseAdmin"), ("auditor", "Auditor"), (None, "Professional")]


@pytest.mark.parametrize("attr,role", NOT_SUPPORT, ids=[r for _, r in NOT_SUPPORT])
def test_other_roles_are_refused_by_every_support_endpoint(app, client, world, db, attr, role):
    acting = getattr(world, attr) if attr else professional(world, "吴老师")
    target = professional(world)
    target_membership = db.session.scalar(select(Membership.id).where(Membership.user_id == target.id))
    own_membership = db.session.scalar(select(Membership.id).where(Membership.user_id == acting.id))
    login(client, acting.username, role=role)
    token = token_of(client)
    before = memberships(db, target), memberships(db, acting)

    assert client.get("/support/accounts").status_code == 403
    assert client.post("/support/accounts", data={"csrf_token": token, "id_number": target.username}) \
        .status_code == 403
    assert client.get(f"/support/accounts/{target.id}").status_code == 403
    for who in (target, acting):  # another person, and oneself
        r = client.post(f"/support/accounts/{who.id}/roles",
                        data={"csrf_token": token, "role": "HRAdmin", "org_id": world.city.id})
        assert r.status_code == 403
    for membership_id in (target_membership, own_membership):
        assert client.post(f"/support/memberships/{membership_id}/revoke",
                           data={"csrf_token": token}).status_code == 403
    assert client.post(f"/support/accounts/{target.id}/reset-password", data={"csrf_token": token}) \
        .status_code == 403
    assert (memberships(db, target), memberships(db, acting)) == before
    assert can_log_in(app, target, "Professional")
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action.in_(["role.grant", "role.revoke", "password.admin_reset"]))) == 0


def test_anonymous_is_sent_to_login_by_support_endpoints(client, world, db):
    target = professional(world)
    r = client.post(f"/support/accounts/{target.id}/roles", data={"role": "SysAdmin"})
    assert r.status_code in (302, 400, 403)
    assert [m[0] for m in memberships(db, target)] == ["Professional"]


# ------------------------------------------------------------------ X1: the auditor reads, nobody edits

def _audit_row(db) -> AuditLog:
    db.session.expire_all()
    return db.session.scalars(select(AuditLog).order_by(AuditLog.id)).first()


def _snapshot(row: AuditLog) -> tuple:
    return tuple(getattr(row, c.name) for c in AuditLog.__table__.columns)


def test_auditor_lists_and_shows_but_cannot_change(client, world, db):
    account = professional(world)
    login(client, account.username, password="Wrong@2026x", follow=False)  # a failed login to look at
    login(client, world.auditor.username, role="Auditor")
    row = _audit_row(db)
    assert row is not None
    snapshot = _snapshot(row)
    count = db.session.scalar(select(func.count(AuditLog.id)))

    listing = client.get("/audit/list/")
    assert listing.status_code == 200
    text = page(listing)
    assert "登录" in text and "失败" in text and row.actor in text  # labels, not raw codes
    assert ">login<" not in text
    show = client.get(f"/audit/show/{row.id}")
    assert show.status_code == 200 and row.actor in page(show)

    token = token_of(client)
    attempts = [
        ("get", "/audit/add", None),
        ("post", "/audit/add", {"csrf_token": token, "action": "forged", "actor": "x", "result": "ok"}),
        ("get", f"/audit/edit/{row.id}", None),
        ("post", f"/audit/edit/{row.id}", {"csrf_token": token, "action": "forged", "result": "ok"}),
        ("get", f"/audit/delete/{row.id}", None),
        ("post", f"/audit/delete/{row.id}", {"csrf_token": token}),
        ("post", "/audit/action_post", {"csrf_token": token, "action": "muldelete", "rowid": [str(row.id)]}),
        ("post", f"/audit/action/muldelete/{row.id}", {"csrf_token": token}),
        ("get", f"/audit/api/delete/{row.id}", None),
        ("delete", f"/api/v1/auditlogmodelview/{row.id}", None),
    ]
    for method, url, data in attempts:
        # the session's CSRF token goes along (in the header for the API), so that what answers is the
        # permission check, not the token check
        r = getattr(client, method)(url, data=data) if data else \
            getattr(client, method)(url, headers={"X-CSRFToken": token})
        assert r.status_code in (403, 404, 405), (method, url, r.status_code)
    db.session.expire_all()
    assert _snapshot(db.session.get(AuditLog, row.id)) == snapshot
    assert db.session.scalar(select(func.count(AuditLog.id))) == count
    assert not db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "forged"))


@pytest.mark.parametrize("attr,role", [("support", "Support"), ("sysadmin", "SysAdmin"),
                                       ("city_admin", "HRAdmin"), ("unit_admin", "UnitAdmin")])
def test_only_the_auditor_reads_the_trail(client, world, attr, role):
    login(client, getattr(world, attr).username, role=role)
    assert client.get("/audit/list/").status_code == 403


def test_the_auditor_has_no_support_or_admin_screens(client, world):
    login(client, world.auditor.username, role="Auditor")
    for url in ("/support/accounts", "/staff/list/", "/orgs/list/", "/review/registrations/", "/regions/list/"):
        assert client.get(url).status_code == 403, url


# ------------------------------------------------------------------ T12: one row per important event

class Trail:
    """Rows written since the last mark."""

    def __init__(self, db):
        self.db = db
        self.mark()

    def mark(self) -> None:
        self.db.session.expire_all()
        self.last = self.db.session.scalar(select(func.max(AuditLog.id))) or 0

    def new(self) -> list[AuditLog]:
        self.db.session.expire_all()
        rows = list(self.db.session.scalars(select(AuditLog).where(AuditLog.id > self.last).order_by(AuditLog.id)))
        self.mark()
        return rows


def check(rows, action, *, actor: Account | None, result="ok", role=None, ip="127.0.0.1", **fields) -> AuditLog:
    """Exactly one new row, for this action, with who / when / what / result / IP."""
    assert [r.action for r in rows] == [action], [(r.action, r.result) for r in rows]
    row = rows[0]
    assert row.result == result
    assert row.ip == ip
    assert abs(datetime.datetime.now() - row.at) < datetime.timedelta(minutes=1)
    if actor is not None:
        assert row.actor_id == actor.id
        assert actor.first_name in row.actor
        assert actor.username[:6] in row.actor and actor.username[-4:] in row.actor
        assert actor.username not in row.actor
    if role is not None:
        assert row.role == role
    for name, value in fields.items():
        assert getattr(row, name) == value, name
    return row


def post(client, url, data, get_url=None, trail=None, captcha=False):
    """GET the form, mark the trail, then POST (so only the POST's rows count)."""
    token = token_of(client, get_url or url)
    if captcha or data.get("captcha") == factories.FRESH_CAPTCHA:
        client.get("/captcha.png")
        data = {**data, "captcha": CAPTCHA}
    if trail is not None:
        trail.mark()
    return client.post(url, data={"csrf_token": token, **data})


def do_login(client, account, trail, password=factories.PASSWORD, role="Professional"):
    return post(client, "/login/", {"role": role, "id_number": account.username, "password": password},
                trail=trail, captcha=True)


def test_logins_and_logout_are_audited(app, client, world, db):
    account = professional(world)
    trail = Trail(db)

    do_login(client, account, trail, password="Wrong@2026x")
    check(trail.new(), "login", actor=account, result="fail", object_id=account.id)

    unknown = factories.new_id_number()
    post(client, "/login/", {"role": "Professional", "id_number": unknown, "password": "Wrong@2026x"},
         trail=trail, captcha=True)
    row = check(trail.new(), "login", actor=None, result="fail")
    assert row.actor_id is None and unknown not in (row.actor or "")

    post(client, "/login/", {"role": "Professional", "id_number": account.username, "password": "x",
                             "captcha": "0000"}, trail=trail)  # wrong captcha: refused before the password check
    assert trail.new() == []

    r = do_login(client, account, trail)
    assert r.status_code == 302
    check(trail.new(), "login", actor=account, result="ok")

    r = post(client, "/logout/", {}, trail=trail)
    assert r.status_code == 302
    check(trail.new(), "logout", actor=account, role="Professional", object_id=account.id)


def test_login_with_a_role_not_held_is_audited_as_failed(client, world, db):
    account = professional(world)
    trail = Trail(db)
    do_login(client, account, trail, role="UnitAdmin")
    check(trail.new(), "login", actor=account, result="fail")


def test_registration_events_are_audited(app, client, world, db, outbox):
    trail = Trail(db)
    forms = [factories.person_form(world.unit) for _ in range(3)]
    for form in forms:
        r = post(client, "/public/register/person", form, trail=trail)
        assert r.status_code == 200
        check(trail.new(), "registration.submit", actor=None, result="ok", to_state="pending")
    regs = {form["id_number"]: db.session.scalar(select(Registration).join(Account, Registration.user_id == Account.id)
                                                 .where(Account.username == form["id_number"])) for form in forms}
    approve_id, reject_id, withdraw_id = (regs[f["id_number"]].id for f in forms)

    reviewer = app.test_client()
    login(reviewer, world.unit_admin.username, role="UnitAdmin")
    r = post(reviewer, "/review/registrations/decide", {"ids": [str(approve_id)], "action": "approve"},
             get_url="/review/registrations/", trail=trail)
    assert r.status_code == 302
    check(trail.new(), "registration.approve", actor=world.unit_admin, role="UnitAdmin", object_id=approve_id,
          from_state="pending", to_state="approved")

    r = post(reviewer, "/review/registrations/decide", {"ids": [str(reject_id)], "action": "reject",
                                                         "reason": "单位信息不符"},
             get_url="/review/registrations/", trail=trail)
    check(trail.new(), "registration.reject", actor=world.unit_admin, role="UnitAdmin", object_id=reject_id,
          from_state="pending", to_state="rejected", comment="单位信息不符")

    # A refused action (the same registration again) writes no success row.
    post(reviewer, "/review/registrations/decide", {"ids": [str(approve_id)], "action": "approve"},
         get_url="/review/registrations/", trail=trail)
    assert [r for r in trail.new() if r.result == "ok"] == []

    applicant = app.test_client()
    withdrawing = forms[2]
    r = submit(applicant, "/public/progress", {"id_number": withdrawing["id_number"], "captcha": None})
    assert r.status_code == 200
    r = post(applicant, "/public/progress/withdraw", {"registration_id": str(withdraw_id),
                                                      "password": factories.PASSWORD},
             get_url="/public/progress", trail=trail)
    assert r.status_code == 302
    owner = db.session.get(Account, regs[withdrawing["id_number"]].user_id)
    check(trail.new(), "registration.withdraw", actor=owner, object_id=withdraw_id, from_state="pending",
          to_state="withdrawn")
    assert db.session.get(Registration, withdraw_id).state == RegistrationState.WITHDRAWN.value


def test_password_events_are_audited(app, client, world, db, outbox):
    account = professional(world)
    trail = Trail(db)
    login(client, account.username)

    r = post(client, "/account/password", {"old_password": factories.PASSWORD, "password": NEW_PASSWORD,
                                           "confirm": NEW_PASSWORD}, trail=trail)
    assert r.status_code == 302
    check(trail.new(), "password.change", actor=account, role="Professional", object_id=account.id)

    # A refused change (wrong old password) changes nothing and writes no success row.
    post(client, "/account/password", {"old_password": "Wrong@2026x", "password": "Other#Pass2026",
                                       "confirm": "Other#Pass2026"}, trail=trail)
    assert [r for r in trail.new() if r.action == "password.change" and r.result == "ok"] == []

    anonymous = app.test_client()
    post(anonymous, "/password/forgot", {"id_number": account.username, "channel": "email",
                                         "contact": account.email}, trail=trail, captcha=True)
    check(trail.new(), "password.reset_request", actor=account, result="ok", comment="email")
    link = re.search(r"(/password/reset/\S+)", outbox[-1].body).group(1)
    r = post(anonymous, link, {"password": "Reset#Pass2026", "confirm": "Reset#Pass2026"}, trail=trail)
    assert r.status_code == 302
    check(trail.new(), "password.reset", actor=account, object_id=account.id, comment="link")

    support = app.test_client()
    login(support, world.support.username, role="Support")
    r = post(support, f"/support/accounts/{account.id}/reset-password", {},
             get_url=f"/support/accounts/{account.id}", trail=trail)
    assert r.status_code == 302
    check(trail.new(), "password.admin_reset", actor=world.support, role="Support", object_id=account.id)


def test_role_events_are_audited(client, world, db):
    account = professional(world)
    trail = Trail(db)
    login(client, world.support.username, role="Support")
    r = post(client, f"/support/accounts/{account.id}/roles", {"role": "UnitAdmin", "org_id": str(world.unit.id)},
             get_url=f"/support/accounts/{account.id}", trail=trail)
    assert r.status_code == 302
    membership = db.session.scalar(select(Membership).where(Membership.user_id == account.id,
                                                            Membership.role == "UnitAdmin"))
    row = check(trail.new(), "role.grant", actor=world.support, role="Support", object_id=membership.id,
                to_state="active")
    assert "UnitAdmin" in row.comment and world.unit.name in row.comment

    r = post(client, f"/support/memberships/{membership.id}/revoke", {}, get_url=f"/support/accounts/{account.id}",
             trail=trail)
    assert r.status_code == 302
    check(trail.new(), "role.revoke", actor=world.support, role="Support", object_id=membership.id,
          from_state="active", to_state="revoked")
    assert db.session.get(Membership, membership.id).state == MembershipState.REVOKED.value


def test_no_full_id_number_anywhere_in_the_trail(app, client, world, db, outbox):
    """Every event above, then a scan of every column of every row (and of the auditor's screens)."""
    account = professional(world)
    unknown = factories.new_id_number()
    login(app.test_client(), account.username, "Wrong@2026x")
    login(app.test_client(), unknown, "Wrong@2026x")
    login(app.test_client(), account.username)
    submit(app.test_client(), "/public/register/person", factories.person_form(world.unit))
    submit(app.test_client(), "/password/forgot", {"id_number": account.username, "channel": "email",
                                                   "contact": account.email, "captcha": None})
    support = app.test_client()
    login(support, world.support.username, role="Support")
    submit(support, f"/support/accounts/{account.id}/roles", {"role": "UnitAdmin", "org_id": str(world.unit.id)},
           get_url=f"/support/accounts/{account.id}")
    submit(support, f"/support/accounts/{account.id}/reset-password", {}, get_url=f"/support/accounts/{account.id}")

    db.session.expire_all()
    numbers = set(db.session.scalars(select(Account.username))) | {unknown}
    rows = list(db.session.scalars(select(AuditLog)))
    assert len(rows) >= 8
    actions = {r.action for r in rows}
    assert {"login", "registration.submit", "password.reset_request", "role.grant",
            "password.admin_reset"} <= actions
    for row in rows:
        values = " ".join(str(getattr(row, c.name)) for c in AuditLog.__table__.columns)
        for number in numbers:
            assert number not in values, (row.action, number)

    login(client, world.auditor.username, role="Auditor")
    listing = page(client.get("/audit/list/"))
    shown = page(client.get(f"/audit/show/{rows[0].id}"))
    for number in numbers:
        assert number not in listing and number not in shown
