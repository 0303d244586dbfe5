"""U3 / D3 / H2: an org's super admin adds admins three ways, hands the right over, deletes admins.

Through the workflow (app.workflows.admins) and through the pages (/org/admins/), with the refusals: a non-super
admin, another org's people and memberships, a wrong password, bad input; the removed admin's session ends at once;
two hand-overs at once on PostgreSQL leave exactly one super admin."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, LoginThrottle, Membership, MembershipState, Org, Person, RoleName
from app.workflows import admins as flow
from app.validators import mask_id_number
from app.workflows.base import ConcurrentTransition, DomainError, PermissionDenied
from tests import factories
from tests.factories import actor_for
from tests.helpers import (assert_unchanged, audits, boss, is_login_redirect, log_in, login, make_person,
                           membership_of, page, person_of, register, second_admin, state_snapshot, zh)

R = RoleName
NEW_PASSWORD = "Admin#2026new"


def row(membership_id: int):
    return db.session.execute(select(Membership.state, Membership.is_super, Membership.org_role_id).where(
        Membership.id == membership_id)).one()


def supers(org) -> list[int]:
    return list(db.session.scalars(select(Membership.user_id).where(
        Membership.org_id == org.id, Membership.is_super.is_(True), Membership.state == "active")))


# ------------------------------------------------------------------ (a) from the org's own staff

def test_add_from_staff(fast_world):
    world = fast_world
    staff = make_person("院内张医生", world.unit)
    make_person("乙校张老师", world.other_unit)
    found = flow.search_staff(boss(world), "张")
    assert [p.name for p in found] == ["院内张医生"]  # never another unit's staff
    assert flow.search_staff(boss(world), "") == []   # no full list without a name
    membership = flow.add_from_staff(boss(world), person_of(staff).id)
    assert (membership.role, membership.org_id, membership.state, membership.is_super) == \
        (R.UNIT_ADMIN.value, world.unit.id, "active", False)
    [entry] = audits("admin.add")
    assert (entry.actor_id, entry.object_type, entry.object_id, entry.to_state) == \
        (world.unit_admin.id, "membership", membership.id, "active")
    assert flow.search_staff(boss(world), "张") == []  # already an admin: no longer offered
    with pytest.raises(DomainError):
        flow.add_from_staff(boss(world), person_of(staff).id)
    assert len(audits("admin.add")) == 1


@pytest.mark.parametrize("case", ["sibling unit", "sub-unit", "pending applicant", "no such person"])
def test_add_from_staff_refuses_anyone_but_the_orgs_active_staff(fast_world, case):
    world = fast_world
    if case == "sibling unit":
        person_id = person_of(make_person("乙校职工", world.other_unit)).id
    elif case == "sub-unit":
        person_id = person_of(make_person("分院职工", world.sub_unit)).id
    elif case == "pending applicant":
        reg = register(world.unit, "待审核人")
        person_id = db.session.scalar(select(Person.id).where(Person.user_id == reg.user_id))
    else:
        person_id = 999999
    before = state_snapshot()
    with pytest.raises(DomainError) as exc:
        flow.add_from_staff(boss(world), person_id)
    assert exc.value.field == "person_id"
    assert_unchanged(before)


# ------------------------------------------------------------------ (b) a new person

def new_admin(**overrides) -> flow.NewAdmin:
    data = dict(id_type="resident_id", id_number=factories.new_id_number(), name="新管理员", email="new.admin@example.cn",
                mobile="13912345678", password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    data.update(overrides)
    return flow.NewAdmin(**data)


def test_register_a_new_person_as_admin(fast_world):
    world = fast_world
    data = new_admin()
    membership = flow.register_admin(boss(world), data)
    account = db.session.get(Account, membership.user_id)
    assert account.username == data.id_number and account.first_name == "新管理员"
    assert account.must_change_password  # a password someone else chose is changed at the first login
    assert (membership.org_id, membership.role, membership.is_super) == (world.unit.id, R.UNIT_ADMIN.value, False)
    assert len(audits("admin.add")) == 1


@pytest.mark.parametrize("field,overrides", [
    ("id_number", "existing"),
    ("password", {"password": "weakpass", "confirm": "weakpass"}),
    ("confirm", {"confirm": "Other#2026x"}),
    ("email", "taken e-mail"),
])
def test_register_refusals_change_nothing(fast_world, field, overrides):
    world = fast_world
    if overrides == "existing":
        overrides = {"id_number": make_person("已有账号的人", world.unit).username}
    elif overrides == "taken e-mail":
        overrides = {"email": world.other_unit_admin.email}
    before = state_snapshot()
    with pytest.raises(DomainError) as exc:
        flow.register_admin(boss(world), new_admin(**overrides))
    assert exc.value.field == field
    assert_unchanged(before)


def test_existing_id_number_gets_a_hint_to_add_an_existing_user(fast_world):
    world = fast_world
    with pytest.raises(DomainError) as exc:
        flow.register_admin(boss(world), new_admin(id_number=world.other_unit_admin.username))
    from flask_babel import force_locale
    with force_locale("zh"):
        assert str(exc.value.message) == zh(
            "This ID number already has an account: add the person as an existing user with their password instead.")


# ------------------------------------------------------------------ (c) an existing user

def test_add_an_existing_user_with_their_password(fast_world):
    world = fast_world
    someone = world.other_unit_admin  # an admin elsewhere may also become one here
    membership = flow.add_existing(boss(world), someone.username.lower(), factories.PASSWORD)
    assert (membership.user_id, membership.org_id) == (someone.id, world.unit.id)
    assert [a.result for a in audits("admin.add")] == ["ok"]


@pytest.mark.parametrize("case", ["wrong password", "unknown ID number"])
def test_existing_user_wrong_password_or_unknown_account_same_message(fast_world, case):
    world = fast_world
    id_number = world.other_unit_admin.username if case == "wrong password" else factories.new_id_number()
    before = state_snapshot()
    with pytest.raises(DomainError) as exc:
        flow.add_existing(boss(world), id_number, "Wrong#Pass2026")
    assert exc.value.message == flow.WRONG_ACCOUNT and exc.value.field == "password"
    assert_unchanged(before)
    [entry] = audits("admin.add")
    assert entry.result == "fail" and id_number not in (entry.comment or "")


def test_existing_user_password_guessing_locks_like_a_login(fast_world):
    world = fast_world
    target = world.other_unit_admin
    for _ in range(5):
        with pytest.raises(DomainError):
            flow.add_existing(boss(world), target.username, "Wrong#Pass2026")
    assert db.session.get(LoginThrottle, target.username).locked_until is not None
    with pytest.raises(DomainError) as exc:  # even the right password now gets the same answer
        flow.add_existing(boss(world), target.username, factories.PASSWORD)
    assert exc.value.message == flow.WRONG_ACCOUNT
    assert membership_of(target, world.unit) is None


def test_an_active_admin_is_not_added_twice(fast_world):
    world = fast_world
    other = second_admin(world)
    before = state_snapshot()
    with pytest.raises(DomainError):
        flow.add_existing(boss(world), other.username, factories.PASSWORD)
    with pytest.raises(DomainError):
        flow.add_existing(boss(world), world.unit_admin.username, factories.PASSWORD)
    assert_unchanged(before)


@pytest.mark.parametrize("how", ["staff", "new", "existing", "make_super", "remove"])
def test_a_non_super_admin_changes_nothing(fast_world, how):
    world = fast_world
    deputy = second_admin(world)
    third = second_admin(world, "第三管理员")
    staff = make_person("院内职工", world.unit)
    actor = actor_for(deputy, R.UNIT_ADMIN, world.unit)
    before = state_snapshot()
    with pytest.raises(PermissionDenied):
        if how == "staff":
            flow.add_from_staff(actor, person_of(staff).id)
        elif how == "new":
            flow.register_admin(actor, new_admin())
        elif how == "existing":
            flow.add_existing(actor, world.other_unit_admin.username, factories.PASSWORD)
        elif how == "make_super":
            flow.make_super(actor, membership_of(third).id)
        else:
            flow.remove_admin(actor, membership_of(third).id)
    assert_unchanged(before)
    assert supers(world.unit) == [world.unit_admin.id]


def test_an_actor_claiming_another_org_acts_for_nobody(fast_world):
    """A forged actor (another org's id with one's own account) matches no membership: refused."""
    world = fast_world
    forged = actor_for(world.unit_admin, R.UNIT_ADMIN, world.other_unit)
    before = state_snapshot()
    with pytest.raises(PermissionDenied):
        flow.add_existing(forged, world.sub_unit_admin.username, factories.PASSWORD)
    with pytest.raises(PermissionDenied):
        flow.remove_admin(forged, membership_of(world.other_unit_admin).id)
    assert_unchanged(before)


# ------------------------------------------------------------------ hand-over and removal

def test_hand_over_the_super_admin_right(fast_world):
    world = fast_world
    deputy = second_admin(world)
    flow.make_super(boss(world), membership_of(deputy).id)
    assert supers(world.unit) == [deputy.id]
    old = row(membership_of(world.unit_admin, world.unit).id)
    assert (old.state, old.is_super) == ("active", False)  # still an ordinary admin
    [entry] = audits("admin.make_super")
    assert entry.object_id == membership_of(deputy).id and entry.actor_id == world.unit_admin.id
    with pytest.raises(PermissionDenied):  # the old super admin has lost the right
        flow.make_super(boss(world), membership_of(world.unit_admin, world.unit).id)


def test_hand_over_clears_the_new_super_admins_role(fast_world):
    world = fast_world
    deputy = second_admin(world)
    role = flow.create_role(boss(world), "审核员", ["registrations"])
    flow.set_role(boss(world), membership_of(deputy).id, role.id)
    flow.make_super(boss(world), membership_of(deputy).id)
    assert row(membership_of(deputy).id).org_role_id is None


@pytest.mark.parametrize("target", ["sibling admin", "sub-unit admin", "HR admin above", "professional", "self",
                                    "revoked admin"])
def test_hand_over_refusals(fast_world, target):
    world = fast_world
    if target == "sibling admin":
        membership_id = membership_of(world.other_unit_admin).id
    elif target == "sub-unit admin":
        membership_id = membership_of(world.sub_unit_admin).id
    elif target == "HR admin above":
        membership_id = membership_of(world.district_admin).id
    elif target == "professional":
        membership_id = membership_of(make_person("院内职工", world.unit)).id
    elif target == "self":
        membership_id = membership_of(world.unit_admin).id
    else:
        gone = second_admin(world)
        flow.remove_admin(boss(world), membership_of(gone).id)
        membership_id = membership_of(gone).id
    before = state_snapshot()
    supers_before = {org: supers(getattr(world, org)) for org in ("unit", "other_unit", "sub_unit", "district")}
    with pytest.raises(DomainError):
        flow.make_super(boss(world), membership_id)
    assert_unchanged(before)
    assert supers_before == {org: supers(getattr(world, org)) for org in supers_before}


def test_delete_an_admin(fast_world):
    world = fast_world
    deputy = second_admin(world)
    membership_id = membership_of(deputy).id
    flow.remove_admin(boss(world), membership_id)
    assert row(membership_id).state == MembershipState.REVOKED.value
    [entry] = audits("admin.remove")
    assert (entry.object_id, entry.from_state, entry.to_state) == (membership_id, "active", "revoked")
    with pytest.raises(DomainError):  # only once
        flow.remove_admin(boss(world), membership_id)
    assert len(audits("admin.remove")) == 1


@pytest.mark.parametrize("target", ["self", "sibling admin", "HR admin above", "professional"])
def test_delete_refusals(fast_world, target):
    world = fast_world
    account = {"self": world.unit_admin, "sibling admin": world.other_unit_admin,
               "HR admin above": world.district_admin}.get(target) or make_person("院内职工", world.unit)
    before = state_snapshot()
    with pytest.raises(DomainError):
        flow.remove_admin(boss(world), membership_of(account).id)
    assert_unchanged(before)


# ------------------------------------------------------------------ the pages

def admin_page(client) -> str:
    response = client.get("/org/admins/")
    assert response.status_code == 200
    return page(response)


def test_list_marks_the_super_admin_and_roles(client, fast_world):
    world = fast_world
    deputy = second_admin(world, "副管理员")
    role = flow.create_role(boss(world), "注册审核员", ["registrations"])
    flow.set_role(boss(world), membership_of(deputy).id, role.id)
    second_admin(world, "乙校的人", org=world.other_unit)
    log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    body = admin_page(client)
    assert "单位管理员" in body and "副管理员" in body and "乙校的人" not in body
    assert zh("Super administrator") in body and "注册审核员" in body
    assert deputy.username not in body and mask_id_number(deputy.username) in body  # masked
    assert 'href="/org/admins/"' in page(client.get("/home/"))  # the menu item
    for url in ("/org/admins/add", "/org/admins/add?tab=new", "/org/admins/add?tab=existing", "/org/admins/roles"):
        assert client.get(url).status_code == 200, url


def test_a_non_super_admin_sees_the_list_without_actions(client, fast_world):
    world = fast_world
    deputy = second_admin(world, "副管理员")
    token = log_in(client, deputy.username, R.UNIT_ADMIN.value)
    body = admin_page(client)
    assert "单位管理员" in body and zh("Make super administrator") not in body
    assert client.get("/org/admins/add").status_code == 403
    before = state_snapshot()
    target = membership_of(world.unit_admin).id
    for url, data in ((f"/org/admins/{target}/remove", {}), (f"/org/admins/{target}/make-super", {}),
                      ("/org/admins/add/existing", {"id_number": world.other_unit_admin.username,
                                                    "password": factories.PASSWORD}),
                      ("/org/admins/roles", {"name": "越权角色", "modules": "registrations"})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert_unchanged(before)


def test_three_ways_to_add_through_the_pages(client, fast_world):
    world = fast_world
    staff = make_person("院内李护士", world.unit)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    body = page(client.get("/org/admins/add", query_string={"q": "李护士"}))
    assert "院内李护士" in body and staff.username not in body
    response = client.post("/org/admins/add/staff", data={"csrf_token": token, "person_id": person_of(staff).id})
    assert response.status_code == 302
    id_number = factories.new_id_number()
    response = client.post("/org/admins/add/new", data={
        "csrf_token": token, "id_type": "resident_id", "id_number": id_number, "name": "新来的管理员",
        "email": "fresh@example.cn", "mobile": "13912345670", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302, page(response)
    response = client.post("/org/admins/add/existing", data={
        "csrf_token": token, "id_number": world.dept_admin.username, "password": factories.PASSWORD})
    assert response.status_code == 302
    body = admin_page(client)
    assert "院内李护士" in body and "新来的管理员" in body and "主管部门管理员" in body
    assert len(audits("admin.add")) == 3
    # the new person logs in as a unit admin and must first change the password
    fresh = client.application.test_client()
    response = login(fresh, id_number, NEW_PASSWORD, role=R.UNIT_ADMIN.value, follow=False)
    assert response.status_code == 302
    assert "/account/password" in fresh.get("/org/admins/").headers.get("Location", "")


def test_existing_user_with_a_wrong_password_gets_one_message(client, fast_world):
    world = fast_world
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    bodies = []
    for id_number in (world.dept_admin.username, factories.new_id_number()):
        before = state_snapshot()
        response = client.post("/org/admins/add/existing", data={"csrf_token": token, "id_number": id_number,
                                                                 "password": "Wrong#Pass2026"})
        assert response.status_code == 200
        body = page(response)
        assert zh("Wrong account or password.") in body
        assert_unchanged(before)
        bodies.append(body.count(zh("Wrong account or password.")))
    assert bodies[0] == bodies[1]  # the same answer whether the account exists or not


BAD_NEW = [
    ("id_number", {"id_number": "110105194912310021"}),       # wrong check digit
    ("id_number", {"id_number": "1101051949123100"}),         # too short
    ("password", {"password": "abcdefgh", "confirm": "abcdefgh"}),  # one character class
    ("name", {"name": "<script>alert(1)</script>"}),
    ("name", {"name": "张" * 31}),
    ("email", {"email": "not-an-address"}),
    ("mobile", {"mobile": "12345"}),
    ("id_number", {"id_number": ""}),
]


@pytest.mark.parametrize("field,bad", BAD_NEW, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_NEW)])
def test_t1_bad_input_on_the_register_form(client, fast_world, field, bad):
    world = fast_world
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    data = {"id_type": "resident_id", "id_number": factories.new_id_number(), "name": "新来的管理员",
            "email": "fresh@example.cn", "mobile": "13912345670", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    data.update(bad)
    before = state_snapshot()
    response = client.post("/org/admins/add/new", data={"csrf_token": token, **data})
    assert response.status_code == 200
    body = page(response)
    assert f'id="group-{field}"' in body
    group = body.split(f'id="group-{field}"', 1)[1].split('class="form-group', 1)[0]
    assert "field-error" in group and any("\u4e00" <= c <= "\u9fff" for c in group.split("field-error", 1)[1])
    assert "<script>alert" not in response.get_data(as_text=True)  # escaped, never markup
    assert_unchanged(before)


@pytest.mark.parametrize("data", [{"id_number": "", "password": ""}, {"id_number": "x" * 40, "password": "y"},
                                  {"id_number": "<b>1</b>", "password": "p" * 80}])
def test_t1_bad_input_on_the_existing_user_form(client, fast_world, data):
    world = fast_world
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = state_snapshot()
    response = client.post("/org/admins/add/existing", data={"csrf_token": token, **data})
    assert response.status_code == 200
    assert "field-error" in page(response)
    assert_unchanged(before)


@pytest.mark.parametrize("person_id", ["", "abc", "99999999", "-1"])
def test_t1_bad_input_on_the_staff_form(client, fast_world, person_id):
    world = fast_world
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = state_snapshot()
    response = client.post("/org/admins/add/staff", data={"csrf_token": token, "person_id": person_id})
    assert response.status_code == 200
    assert zh("Choose a member of your organisation's staff from the search results.") in page(response)
    assert_unchanged(before)


def test_tampered_ids_in_the_forms_reach_no_other_org(client, fast_world):
    """An org id in the form is ignored (the session's org is the only one); another org's membership or
    person in the URL or form is refused."""
    world = fast_world
    sibling_staff = make_person("乙校职工", world.other_unit)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = state_snapshot()
    sibling = membership_of(world.other_unit_admin).id
    above = membership_of(world.district_admin).id
    for url in (f"/org/admins/{sibling}/remove", f"/org/admins/{sibling}/make-super", f"/org/admins/{above}/remove",
                f"/org/admins/{sibling}/role"):
        assert client.post(url, data={"csrf_token": token, "org_id": world.other_unit.id}).status_code == 403, url
    response = client.post("/org/admins/add/staff", data={"csrf_token": token, "person_id": person_of(sibling_staff).id,
                                                          "org_id": world.other_unit.id})
    assert response.status_code == 200
    assert_unchanged(before)
    # an org id slipped into a valid request is ignored: the admin is added to the session's org only
    client.post("/org/admins/add/existing", data={"csrf_token": token, "id_number": world.dept_admin.username,
                                                  "password": factories.PASSWORD, "org_id": world.other_unit.id})
    assert membership_of(world.dept_admin, world.other_unit) is None
    assert membership_of(world.dept_admin, world.unit) is not None


def test_deleted_admins_old_session_is_refused_at_once(client, app, fast_world):
    world = fast_world
    deputy = second_admin(world)
    theirs = app.test_client()
    log_in(theirs, deputy.username, R.UNIT_ADMIN.value)
    assert theirs.get("/review/registrations/").status_code == 200
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    response = client.post(f"/org/admins/{membership_of(deputy).id}/remove", data={"csrf_token": token})
    assert response.status_code == 302
    assert is_login_redirect(theirs.get("/review/registrations/"))
    assert is_login_redirect(theirs.get("/home/"))
    # and they cannot log in again in that role
    response = login(app.test_client(), deputy.username, role=R.UNIT_ADMIN.value, follow=True)
    assert zh("The role you chose is not registered for this account.") in page(response)


def test_hand_over_through_the_page(client, fast_world):
    world = fast_world
    deputy = second_admin(world, "接任管理员")
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    response = client.post(f"/org/admins/{membership_of(deputy).id}/make-super", data={"csrf_token": token})
    assert response.status_code == 302
    assert supers(world.unit) == [deputy.id]
    body = admin_page(client)  # the old super admin now sees the list without actions
    assert zh("Make super administrator") not in body
    response = client.post(f"/org/admins/{membership_of(world.unit_admin, world.unit).id}/remove",
                           data={"csrf_token": token})
    assert response.status_code == 403


def test_super_admin_cannot_delete_themselves_through_the_page(client, fast_world):
    world = fast_world
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    before = state_snapshot()
    response = client.post(f"/org/admins/{membership_of(world.unit_admin).id}/remove", data={"csrf_token": token},
                           follow_redirects=True)
    assert zh("The super administrator cannot delete themselves; hand the right over first.") in page(response)
    assert_unchanged(before)


@pytest.mark.parametrize("admin,role,org", [("dept_admin", R.DEPT_ADMIN, "dept"),
                                            ("district_admin", R.HR_ADMIN, "district"),
                                            ("base_admin", R.BASE_ADMIN, "base")])
def test_department_hr_and_base_admins_manage_their_own_admins(client, fast_world, admin, role, org):
    world = fast_world
    deputy = second_admin(world, "副管理员", org=getattr(world, org), role=role)
    token = log_in(client, getattr(world, admin).username, role.value)
    assert "副管理员" in admin_page(client)
    client.post(f"/org/admins/{membership_of(deputy).id}/make-super", data={"csrf_token": token})
    assert supers(getattr(world, org)) == [deputy.id]


# ------------------------------------------------------------------ concurrency (PostgreSQL)

def _needs_postgres(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs a server database with row locks: SQLite serialises all writers.")


def test_two_hand_overs_at_once_leave_exactly_one_super_admin(app, fast_world, db):
    _needs_postgres(db)
    world = fast_world
    targets = [membership_of(second_admin(world, f"候任管理员{i}")).id for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    admin_id, unit_id = world.unit_admin.id, world.unit.id  # read here: a thread must not load through this session

    def hand_over(target_id: int) -> None:
        with app.app_context():
            from app.extensions import db as tdb

            actor = actor_for(tdb.session.get(Account, admin_id), R.UNIT_ADMIN, tdb.session.get(Org, unit_id))
            tdb.session.commit()
            barrier.wait(timeout=30)
            try:
                flow.make_super(actor, target_id)
                outcomes.append("ok")
            except (ConcurrentTransition, PermissionDenied):
                outcomes.append("refused")
            except Exception as exc:  # noqa: BLE001
                outcomes.append(f"error {exc!r}")
            tdb.session.remove()

    for round_no in range(1, 6):  # several rounds: the race is real on every one
        threads = [threading.Thread(target=hand_over, args=(t,)) for t in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        db.session.expire_all()
        assert sorted(outcomes) == ["ok", "refused"], outcomes
        assert len(supers(world.unit)) == 1
        assert len(audits("admin.make_super")) == round_no  # one more audit row per round, never two
        # back to the start for the next round
        winner = db.session.scalar(select(Membership).where(Membership.org_id == world.unit.id,
                                                            Membership.is_super.is_(True)))
        db.session.execute(Membership.__table__.update().where(Membership.id == winner.id).values(is_super=False))
        db.session.execute(Membership.__table__.update().where(
            Membership.id == membership_of(world.unit_admin, world.unit).id).values(is_super=True))
        db.session.commit()
        outcomes.clear()
    assert db.session.scalar(select(func.count()).select_from(Membership).where(
        Membership.org_id == world.unit.id, Membership.is_super.is_(True))) == 1


def test_support_gives_an_org_left_without_super_admin_a_new_one(fast_world):
    """H1 removes the only super admin of a unit; the role support grants next is the unit's super admin (and
    only then: while a super admin exists, a granted admin role is an ordinary one)."""
    from app.workflows import accounts

    world = fast_world
    membership = db.session.scalar(select(Membership).where(Membership.user_id == world.other_unit_admin.id))
    flow.remove_sub_admin(actor_for(world.city_admin, RoleName.HR_ADMIN, world.city), membership.id)
    support = actor_for(world.support, RoleName.SUPPORT)
    first = accounts.assign_role(make_person("新超级管理员", world.other_unit), RoleName.UNIT_ADMIN, world.other_unit,
                                 support)
    second = accounts.assign_role(make_person("普通管理员", world.other_unit), RoleName.UNIT_ADMIN, world.other_unit,
                                  support)
    assert (first.is_super, second.is_super) == (True, False)
