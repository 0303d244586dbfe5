"""Registration through the real pages and forms: P1, P2, U1, D1, B1, U5 and the T1 bad-input battery."""
from __future__ import annotations

import re

import pytest
from flask_babel import force_locale, gettext
from markupsafe import escape
from sqlalchemy import func, select

from app.demo import make_credit_code
from app.models import (Account, AuditLog, Membership, Org, OrgKind, OrgState, Person, Registration, RoleName)
from app.validators import mask_id_number
from app.workflows import registration as reg_flow
from tests import factories
from tests.factories import PASSWORD
from tests.helpers import login, submit

CJK = re.compile(r"[\u4e00-\u9fff]")
DONE = "注册信息已提交审核"
LOGIN_FAILED = "账号或密码错误"
MODELS = (Account, Person, Membership, Registration, Org, AuditLog)


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


def zh(msgid: str, **variables) -> str:
    """The Chinese text of a message as it appears in HTML; fails clearly when the translation is missing."""
    with force_locale("zh"):
        template = gettext(msgid)
        text = gettext(msgid, **variables) if variables else template
    assert template != msgid and CJK.search(template), f"no Chinese translation for msgid {msgid!r}"
    return str(escape(text))


def zh_plain(msgid: str, **variables) -> str:
    with force_locale("zh"):
        return gettext(msgid, **variables)


def counts(db) -> dict:
    db.session.expire_all()
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in MODELS}


def registrations_of(db, id_number: str) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(select(Registration).join(Account, Registration.user_id == Account.id)
                                   .where(Account.username == id_number).order_by(Registration.id)))


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def logged_in_home(response) -> bool:
    return response.status_code == 200 and response.request.path == "/home/"


def check_char(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(body17, weights)) % 11]


def with_check(body17: str) -> str:
    return body17 + check_char(body17)


def admin_client(app, account, role: str):
    c = app.test_client()
    assert logged_in_home(login(c, account.username, role=role))
    return c


def decide(c, ids, action: str, reason: str | None = None):
    data = {"ids": [str(i) for i in ids], "action": action}
    if reason is not None:
        data["reason"] = reason
    return submit(c, "/review/registrations/decide", data, get_url="/review/registrations/", follow=True)


def register_via_workflow(unit: Org, name: str = "王五", id_number: str | None = None) -> tuple[Registration, str]:
    id_number = id_number or factories.new_id_number()
    data = reg_flow.AccountData("resident_id", id_number, PASSWORD, PASSWORD, name, f"x{id_number}@example.cn",
                                "13900000000")
    return reg_flow.register_person(data, unit.id, {}), id_number


# ---------------------------------------------------------------- P1: register, wait, log in after approval

def test_professional_registers_and_waits_for_review(client, world, db):
    form = factories.person_form(world.unit, name="张三丰")
    id_number = form["id_number"]
    html = html_of(submit(client, "/public/register/person", form))
    assert DONE in html
    assert world.unit.name in html and mask_id_number(id_number) in html
    assert id_number not in html  # the done page shows the masked number only

    [reg] = registrations_of(db, id_number)
    assert (reg.kind, reg.state, reg.org_id, reg.reviewer_org_id) == ("person", "pending", world.unit.id, world.unit.id)
    assert reg.membership.state == "pending" and reg.membership.role == "Professional"
    person = db.session.scalar(select(Person).where(Person.user_id == reg.user_id))
    assert (person.name, person.unit_id, person.school, person.title_level) == ("张三丰", world.unit.id, "山东大学", "中级")
    assert person.birth_date is not None

    # Wrong password: the one generic message, nothing about the review.
    html = html_of(login(client, id_number, password="Wrong@2026a"))
    assert LOGIN_FAILED in html and world.unit.name not in html
    # Right password: told it is under review by the unit, and still not logged in.
    response = login(client, id_number)
    html = html_of(response)
    assert zh("Your account is under review by %(org)s.", org=world.unit.name) in html
    assert not logged_in_home(response)
    assert client.get("/home/").status_code in (302, 401, 403)


def test_approved_applicant_is_mailed_and_logs_in(app, client, world, db, outbox):
    first = factories.person_form(world.unit, name="李小一")
    second = factories.person_form(world.sub_unit, name="李小二")
    for form in (first, second):
        assert DONE in html_of(submit(client, "/public/register/person", form))
    reg_ids = [registrations_of(db, f["id_number"])[0].id for f in (first, second)]

    reviewer = admin_client(app, world.unit_admin, "UnitAdmin")
    queue = html_of(reviewer.get("/review/registrations/"))
    assert "李小一" in queue and "李小二" in queue
    html = html_of(decide(reviewer, reg_ids, "approve"))
    assert zh("%(n)s registration(s) handled.", n=2) in html
    assert [r.state for r in (db.session.get(Registration, i) for i in reg_ids)] == ["approved", "approved"]

    mails = [m for m in outbox if m.recipients in ([first["email"]], [second["email"]])]  # (admins: told too)
    assert sorted(m.recipients[0] for m in mails) == sorted([first["email"], second["email"]])
    assert {m.subject for m in mails} == {zh_plain("Your registration has been approved")}
    assert all(CJK.search(m.subject) for m in mails)
    assert logged_in_home(login(app.test_client(), first["id_number"]))


def test_reject_needs_a_reason_and_the_applicant_registers_again(app, client, world, db, outbox):
    form = factories.person_form(world.unit, name="孙驳回")
    id_number = form["id_number"]
    assert DONE in html_of(submit(client, "/public/register/person", form))
    [reg] = registrations_of(db, id_number)
    reviewer = admin_client(app, world.unit_admin, "UnitAdmin")

    before = counts(db)
    for reason in (None, "", "   "):
        html = html_of(decide(reviewer, [reg.id], "reject", reason))
        assert zh("A reason is required to reject.") in html
    assert counts(db) == before and registrations_of(db, id_number)[0].state == "pending"
    assert [m for m in outbox if m.recipients == [form["email"]]] == []

    html_of(decide(reviewer, [reg.id], "reject", "所选单位与证件不符"))
    [reg] = registrations_of(db, id_number)
    assert (reg.state, reg.reason, reg.membership.state) == ("rejected", "所选单位与证件不符", "rejected")
    [mail] = [m for m in outbox if m.recipients == [form["email"]]]
    assert "所选单位与证件不符" in mail.body
    assert mail.subject == zh_plain("Your registration has been rejected")
    assert not logged_in_home(login(app.test_client(), id_number))

    # The same 证件号 (and the same e-mail, which belongs to this account) registers again.
    again = factories.person_form(world.sub_unit, id_number=id_number, email=form["email"], name="孙驳回")
    accounts_before = counts(db)["Account"]
    assert DONE in html_of(submit(app.test_client(), "/public/register/person", again))
    assert counts(db)["Account"] == accounts_before
    old, new = registrations_of(db, id_number)
    assert (old.state, new.state, new.reviewer_org_id) == ("rejected", "pending", world.sub_unit.id)
    # A second registration while one is pending is refused.
    before = counts(db)
    third = factories.person_form(world.unit, id_number=id_number, email=form["email"], name="孙驳回")
    html = html_of(submit(app.test_client(), "/public/register/person", third))
    assert DONE not in html and counts(db) == before


# ---------------------------------------------------------------- P2: progress lookup and withdrawal

def test_progress_lookup_and_withdraw_with_password(client, world, db):
    form = factories.person_form(world.sub_unit, name="周查询")
    id_number = form["id_number"]
    assert DONE in html_of(submit(client, "/public/register/person", form))
    [reg] = registrations_of(db, id_number)

    # A wrong captcha shows nothing.
    html = html_of(submit(client, "/public/progress", {"id_number": id_number, "captcha": "0000"}))
    assert world.sub_unit.name not in html
    html = html_of(submit(client, "/public/progress", {"id_number": id_number, "captcha": None}))
    assert world.sub_unit.name in html and zh("Pending review") in html
    assert f'name="registration_id" value="{reg.id}"' in html

    before = counts(db)
    for password, message in (("Wrong@2026a", LOGIN_FAILED), ("", zh("Please enter your password."))):
        html = html_of(submit(client, "/public/progress/withdraw", {"registration_id": str(reg.id),
                                                                    "password": password},
                              get_url="/public/progress", follow=True))
        assert message in html
    # The wrong password is one failed check on record (counted towards the lockout); nothing else changes.
    assert counts(db) == {**before, "AuditLog": before["AuditLog"] + 1}
    assert registrations_of(db, id_number)[0].state == "pending"

    # Someone who did not look this 证件号 up cannot withdraw it even with the right password.
    stranger = client.application.test_client()
    html = html_of(submit(stranger, "/public/progress/withdraw", {"registration_id": str(reg.id),
                                                                  "password": PASSWORD},
                          get_url="/public/progress", follow=True))
    assert LOGIN_FAILED in html
    assert counts(db) == {**before, "AuditLog": before["AuditLog"] + 1}

    html = html_of(submit(client, "/public/progress/withdraw", {"registration_id": str(reg.id), "password": PASSWORD},
                          get_url="/public/progress", follow=True))
    assert zh("Your registration has been withdrawn.") in html
    [reg] = registrations_of(db, id_number)
    assert (reg.state, reg.membership.state) == ("withdrawn", "withdrawn")
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "registration.withdraw", AuditLog.object_id == reg.id)) == 1
    html = html_of(submit(client, "/public/progress", {"id_number": id_number, "captcha": None}))
    assert zh("Withdrawn") in html


def test_progress_cannot_withdraw_someone_elses_registration(client, world, db):
    victim, victim_id = register_via_workflow(world.unit, "吴受害")
    _, own_id = register_via_workflow(world.unit, "郑自己")
    # Look up one's own 证件号, then try the other registration's id with one's own password.
    html_of(submit(client, "/public/progress", {"id_number": own_id, "captcha": None}))
    before = counts(db)
    html = html_of(submit(client, "/public/progress/withdraw", {"registration_id": str(victim.id),
                                                                "password": PASSWORD},
                          get_url="/public/progress", follow=True))
    assert LOGIN_FAILED in html
    assert counts(db) == before and registrations_of(db, victim_id)[0].state == "pending"


# ---------------------------------------------------------------- "已是本系统用户": a role added to an account

def test_existing_user_adds_a_role_only_with_the_right_password(app, client, world, db):
    who = world.unit_admin
    base = dict(id_number=who.username, existing_user="y", confirm="", name="单位管理员")

    before = counts(db)
    html = html_of(submit(client, "/public/register/person",
                          factories.person_form(world.sub_unit, **base, password="Wrong@2026a")))
    assert zh("Wrong account or password.") in html
    html = html_of(submit(client, "/public/register/person",
                          factories.person_form(world.sub_unit, id_number=who.username)))
    assert zh("This ID number is already registered. If you are already a user of this platform, tick the box "
              "and enter your current password.") in html
    assert counts(db) == {**before, "AuditLog": before["AuditLog"] + 1}  # the failed password check, on record

    html = html_of(submit(client, "/public/register/person", factories.person_form(world.sub_unit, **base)))
    assert DONE in html
    after = counts(db)
    assert after["Account"] == before["Account"] and after["Membership"] == before["Membership"] + 1
    roles = {(m.role, m.state) for m in db.session.scalars(select(Membership).where(Membership.user_id == who.id))}
    assert roles == {("UnitAdmin", "active"), ("Professional", "pending")}
    [reg] = registrations_of(db, who.username)
    assert reg.reviewer_org_id == world.sub_unit.id

    reg_flow.approve(reg, factories.actor_for(world.sub_unit_admin, RoleName.UNIT_ADMIN, world.sub_unit))
    assert logged_in_home(login(app.test_client(), who.username, role="Professional"))
    assert logged_in_home(login(app.test_client(), who.username, role="UnitAdmin"))


# ---------------------------------------------------------------- U1 / D1 / B1 / district: org registrations

ORG_CASES = [  # (url kind, parent, reviewer, reviewer's login role, new admin's login role)
    ("unit", "dept", "dept_admin", "DeptAdmin", "UnitAdmin"),
    ("unit", "unit", "unit_admin", "UnitAdmin", "UnitAdmin"),
    ("unit", "district", "district_admin", "HRAdmin", "UnitAdmin"),
    ("department", "district", "district_admin", "HRAdmin", "DeptAdmin"),
    ("base", "city", "city_admin", "HRAdmin", "BaseAdmin"),
    ("district", "city", "city_admin", "HRAdmin", "HRAdmin"),
]


@pytest.mark.parametrize("kind,parent_key,reviewer_key,reviewer_role,admin_role", ORG_CASES)
def test_org_registration_is_reviewed_by_the_org_above(app, client, world, db, outbox, kind, parent_key,
                                                       reviewer_key, reviewer_role, admin_role):
    parent = getattr(world, parent_key)
    form = factories.org_form(parent, org_name=f"新{kind}机构甲", name="冯管理")
    html = html_of(submit(client, f"/public/register/{kind}", form))
    assert DONE in html and parent.name in html
    [reg] = registrations_of(db, form["id_number"])
    org = db.session.get(Org, reg.org_id)
    expected_kind = {"district": "hr_district"}.get(kind, kind)
    assert (reg.kind, reg.reviewer_org_id, org.kind, org.state, org.parent_id) == (
        expected_kind, parent.id, expected_kind, "pending", parent.id)
    picker = client.get("/public/orgs", query_string={"q": form["org_name"]}).get_json()["results"]
    assert picker == []  # a pending org cannot be picked

    # A bureau of another district neither sees nor decides it.
    stranger = admin_client(app, world.other_district_admin, "HRAdmin")
    assert form["org_name"] not in html_of(stranger.get("/review/registrations/"))
    html = html_of(decide(stranger, [reg.id], "approve"))
    assert zh("You do not have permission to do this.") in html
    assert registrations_of(db, form["id_number"])[0].state == "pending"

    reviewer = admin_client(app, getattr(world, reviewer_key), reviewer_role)
    assert form["org_name"] in html_of(reviewer.get("/review/registrations/"))
    assert zh("%(n)s registration(s) handled.", n=1) in html_of(decide(reviewer, [reg.id], "approve"))
    db.session.expire_all()
    assert (db.session.get(Org, org.id).state, registrations_of(db, form["id_number"])[0].state) == (
        "active", "approved")
    picker = client.get("/public/orgs", query_string={"q": form["org_name"]}).get_json()["results"]
    assert [p["id"] for p in picker] == [org.id]
    assert [m.recipients for m in outbox if form["email"] in m.recipients] == [[form["email"]]]
    assert logged_in_home(login(app.test_client(), form["id_number"], role=admin_role))


# ---------------------------------------------------------------- T1: bad input on registration

def _pending_unit(world) -> dict:
    org = factories.make_org(OrgKind.UNIT, "尚未审核的单位", world.dept, state=OrgState.PENDING)
    return {"unit_id": str(org.id)}


def _already_pending(world) -> dict:
    _, id_number = register_via_workflow(world.unit, "钱已注册")
    return {"id_number": id_number}


def _password_with_id(world) -> dict:
    id_number = factories.new_id_number()
    return {"id_number": id_number, "password": f"Aa!{id_number}", "confirm": f"Aa!{id_number}"}


ID_MSG_LEN = "ID number must be 18 characters"
ID_MSG_DATE = "ID number contains an invalid date of birth"
PASSWORD_RULE = ("Password must be at least 8 characters and contain at least 3 of: upper-case letters, "
                 "lower-case letters, digits, symbols")
ALREADY = ("This ID number is already registered. If you are already a user of this platform, tick the box and "
           "enter your current password.")
UNIT_MSG = "Choose your unit from the list."

PERSON_CASES = {
    "wrong check digit": (lambda w: {"id_number": "110105194912310021"}, "ID number check digit is wrong"),
    "17 digits": (lambda w: {"id_number": "11010519491231002"}, ID_MSG_LEN),
    "19 digits": (lambda w: {"id_number": "11010519491231002X1"}, ID_MSG_LEN),
    "letter inside": (lambda w: {"id_number": "1101051949A231002X"},
                      "ID number must be 17 digits followed by a digit or X"),
    "30 February": (lambda w: {"id_number": with_check("11010519490230002")}, ID_MSG_DATE),
    "month 13": (lambda w: {"id_number": with_check("11010519491301002")}, ID_MSG_DATE),
    "future birth date": (lambda w: {"id_number": with_check("11010520990101002")}, ID_MSG_DATE),
    "duplicate pending 证件号": (_already_pending, ALREADY),
    "duplicate active 证件号": (lambda w: {"id_number": w.unit_admin.username}, ALREADY),
    "duplicate e-mail": (lambda w: {"email": w.unit_admin.email},
                         "This e-mail address is already used by another account."),
    "script in name": (lambda w: {"name": "<script>alert(1)</script>"},
                       "Name may only contain Chinese characters, letters, spaces and the middle dot"),
    "SQL in name": (lambda w: {"name": "Robert'); DROP TABLE person;--"},
                    "Name may only contain Chinese characters, letters, spaces and the middle dot"),
    "one-letter name": (lambda w: {"name": "张"}, "Name must be between 2 and 30 characters"),
    "digits-only password": (lambda w: {"password": "12345678", "confirm": "12345678"}, PASSWORD_RULE),
    "letters-only password": (lambda w: {"password": "abcdefgh", "confirm": "abcdefgh"}, PASSWORD_RULE),
    "short password": (lambda w: {"password": "Ab1!x", "confirm": "Ab1!x"}, PASSWORD_RULE),
    "password holds the 证件号": (_password_with_id, "Password must not contain your ID number"),
    "confirmation differs": (lambda w: {"confirm": "Other@2026b"}, "The two passwords do not match."),
    "unit is a department": (lambda w: {"unit_id": str(w.dept.id)}, UNIT_MSG),
    "unit is an HR bureau": (lambda w: {"unit_id": str(w.district.id)}, UNIT_MSG),
    "unit is pending": (_pending_unit, UNIT_MSG),
    "unit does not exist": (lambda w: {"unit_id": "999999"}, UNIT_MSG),
    "unit is garbage": (lambda w: {"unit_id": "1 OR 1=1"}, UNIT_MSG),
    "unit missing": (lambda w: {"unit_id": ""}, UNIT_MSG),
    "no commitment": (lambda w: {"commitment": None}, "Please confirm that the information is true."),
    "bad mobile": (lambda w: {"mobile": "1381234"}, "Mobile number must be 11 digits starting with 13-19"),
    "bad e-mail": (lambda w: {"email": "a@b@c"}, "Email address is not valid"),
}


@pytest.mark.parametrize("case", list(PERSON_CASES))
def test_bad_person_registration_is_refused_and_writes_nothing(client, world, db, case):
    make_overrides, msgid = PERSON_CASES[case]
    form = factories.person_form(world.unit, **make_overrides(world))
    before = counts(db)
    response = submit(client, "/public/register/person", form)
    html = html_of(response)
    assert zh(msgid) in html
    assert DONE not in html
    assert "<script>alert(1)</script>" not in html
    assert counts(db) == before


def _wrong_check_char(world) -> dict:
    code = make_credit_code("370102", 777001)
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return {"credit_code": code[:17] + alphabet[(alphabet.index(code[17]) + 1) % 31]}


ORG_MSG_PARENT = "Choose the organisation above yours from the list."
ORG_CASES_BAD = {
    "credit code check character": (_wrong_check_char, "Unified social credit code check character is wrong"),
    "credit code 17 characters": (lambda w: {"credit_code": make_credit_code("370102", 777002)[:17]},
                                  "Unified social credit code must be 18 characters"),
    "duplicate credit code": (lambda w: {"credit_code": w.unit.credit_code},
                              "An organisation with this credit code is already registered."),
    "duplicate name": (lambda w: {"org_name": w.unit.name}, "An organisation with this name is already registered."),
    "markup in org name": (lambda w: {"org_name": "<b>第一医院</b>"},
                           "Organization name must not contain < > \" ' ; \\ or control characters"),
    "SQL in admin name": (lambda w: {"name": "Robert'); DROP TABLE org;--"},
                          "Name may only contain Chinese characters, letters, spaces and the middle dot"),
    "weak admin password": (lambda w: {"password": "password", "confirm": "password"}, PASSWORD_RULE),
    "duplicate admin 证件号": (lambda w: {"id_number": w.dept_admin.username}, ALREADY),
    "parent does not exist": (lambda w: {"parent_id": "999999"}, ORG_MSG_PARENT),
    "parent is garbage": (lambda w: {"parent_id": "abc"}, ORG_MSG_PARENT),
    "no commitment": (lambda w: {"commitment": None}, "Please confirm that the information is true."),
}


@pytest.mark.parametrize("case", list(ORG_CASES_BAD))
def test_bad_unit_registration_is_refused_and_writes_nothing(client, world, db, case):
    make_overrides, msgid = ORG_CASES_BAD[case]
    form = factories.org_form(world.dept, **make_overrides(world))
    before = counts(db)
    html = html_of(submit(client, "/public/register/unit", form))
    assert zh(msgid) in html
    assert DONE not in html and "<b>第一医院</b>" not in html
    assert counts(db) == before


WRONG_PARENTS = [  # (url kind, parent that may not sit above it)
    ("department", "unit"), ("department", "dept"), ("department", "base"),
    ("unit", "base"),
    ("base", "dept"), ("base", "unit"),
    ("district", "district"), ("district", "dept"), ("district", "unit"),
]


@pytest.mark.parametrize("kind,parent_key", WRONG_PARENTS)
def test_org_parent_of_the_wrong_kind_is_refused(client, world, db, kind, parent_key):
    form = factories.org_form(getattr(world, parent_key))
    before = counts(db)
    html = html_of(submit(client, f"/public/register/{kind}", form))
    assert zh(ORG_MSG_PARENT) in html and DONE not in html
    assert counts(db) == before


def test_pending_parent_is_refused(client, world, db):
    pending_dept = factories.make_org(OrgKind.DEPARTMENT, "待审主管部门", world.district, state=OrgState.PENDING)
    before = counts(db)
    html = html_of(submit(client, "/public/register/unit", factories.org_form(pending_dept)))
    assert zh(ORG_MSG_PARENT) in html and counts(db) == before


# ---------------------------------------------------------------- normalised input (success cases)

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def test_full_width_digits_of_a_valid_number_are_normalised(client, world, db):
    id_number = factories.new_id_number()
    form = factories.person_form(world.unit, id_number=id_number.translate(FULL_WIDTH))
    assert DONE in html_of(submit(client, "/public/register/person", form))
    [reg] = registrations_of(db, id_number)
    assert reg.user.username == id_number
    assert db.session.scalar(select(Person.id_number).where(Person.user_id == reg.user_id)) == id_number


def test_lowercase_x_is_normalised(client, world, db):
    form = factories.person_form(world.unit, id_number="11010519491231002x")
    assert DONE in html_of(submit(client, "/public/register/person", form))
    [reg] = registrations_of(db, "11010519491231002X")
    assert reg.user.username == "11010519491231002X"
    # The login normalises the same way.
    html = html_of(login(client, "11010519491231002x"))
    assert zh("Your account is under review by %(org)s.", org=world.unit.name) in html


# ---------------------------------------------------------------- U5: the queue shows the admin's subtree, masked

def test_queue_lists_only_the_subtree_with_masked_numbers(app, world, db):
    regs = {
        "unit": register_via_workflow(world.unit, "陈本院"),
        "sub_unit": register_via_workflow(world.sub_unit, "林分院"),
        "other_unit": register_via_workflow(world.other_unit, "黄乙校"),
    }
    org_reg = reg_flow.register_org(
        OrgKind.UNIT, reg_flow.AccountData("resident_id", factories.new_id_number(), PASSWORD, PASSWORD, "何部门",
                                           "hebumen@example.cn", "13900000001"),
        world.dept.id, {"name": "主管部门下新单位", "credit_code": make_credit_code("370102", 888001)})
    names = {"unit": "陈本院", "sub_unit": "林分院", "other_unit": "黄乙校", "dept": "主管部门下新单位"}
    full_ids = [id_number for _, id_number in regs.values()] + [org_reg.user.username]
    visible = {
        (world.unit_admin, "UnitAdmin"): {"unit", "sub_unit"},
        (world.sub_unit_admin, "UnitAdmin"): {"sub_unit"},
        (world.dept_admin, "DeptAdmin"): {"unit", "sub_unit", "dept"},
        (world.other_district_admin, "HRAdmin"): {"other_unit"},
        (world.city_admin, "HRAdmin"): {"unit", "sub_unit", "other_unit", "dept"},
    }
    for (account, role), expected in visible.items():
        c = admin_client(app, account, role)
        html = html_of(c.get("/review/registrations/"))
        shown = {key for key, name in names.items() if f"<td>{name}</td>" in html}
        assert shown == expected, (account.first_name, shown)
        for key in expected - {"dept"}:
            assert mask_id_number(regs[key][1]) in html
        for full in full_ids:
            assert full not in html
        # The search box stays inside the subtree too.
        html = html_of(c.get("/review/registrations/?q=黄乙校"))
        assert ("<td>黄乙校</td>" in html) == ("other_unit" in expected)
        assert "<td>陈本院</td>" not in html
