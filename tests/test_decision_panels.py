"""The rule of who may decide lives once: `StateMachine.can_decide`.

For each kind of reviewed item and each actor that may look at it (the reviewer of the step it waits at, a
reviewer of a higher level while it waits at a lower one, a reviewer out of scope, the applicant, anyone once it is
decided): (a) its detail page shows the decision panel exactly when `can_decide` is True, and (b) `can_decide`
agrees with whether the decision itself then succeeds. Each case builds a fresh item, so the decision tried last
never changes what another case sees.
"""
from __future__ import annotations

import datetime
import re

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import LearningForm, Person, RoleName
from app.workflows import base_reports as report_flow
from app.workflows import declaration as decl_flow
from app.workflows import identity as id_flow
from app.workflows import org_change as org_flow
from app.workflows import registration as reg_flow
from app.workflows import title_change as title_flow
from app.workflows import transfer as transfer_flow
from app.workflows.base import DomainError
from tests import factories
from tests.factories import actor_for

R = RoleName
YEAR = clock.today().year
PANEL = re.compile(r'<form[^>]*class="[^"]*\bdecide-panel\b')

# The world's accounts as reviewers: account attribute, role, org attribute.
PARTIES = {
    "unit": ("unit_admin", R.UNIT_ADMIN, "unit"),
    "sub_unit": ("sub_unit_admin", R.UNIT_ADMIN, "sub_unit"),
    "other_unit": ("other_unit_admin", R.UNIT_ADMIN, "other_unit"),
    "dept": ("dept_admin", R.DEPT_ADMIN, "dept"),
    "district": ("district_admin", R.HR_ADMIN, "district"),
    "other_district": ("other_district_admin", R.HR_ADMIN, "other_district"),
    "city": ("city_admin", R.HR_ADMIN, "city"),
    "base": ("base_admin", R.BASE_ADMIN, "base"),
    "support": ("support", R.SUPPORT, None),
    "sysadmin": ("sysadmin", R.SYSADMIN, None),
}


def party(w, key: str):
    """(account, actor) of a world party."""
    account_attr, role, org_attr = PARTIES[key]
    account = getattr(w, account_attr)
    return account, actor_for(account, role, getattr(w, org_attr) if org_attr else None)


def professional(w, unit, name: str = "申请人王医生"):
    account = factories.make_account(name, [(R.PROFESSIONAL, unit)], person_unit=unit)
    return account, actor_for(account, R.PROFESSIONAL, unit)


def person_of(account) -> Person:
    return db.session.scalar(select(Person).where(Person.user_id == account.id))


def training_form() -> LearningForm:
    return db.session.scalar(select(LearningForm).where(LearningForm.code == "training"))


# ------------------------------------------------------------------ one builder per kind
# Each returns (item, applicant (account, actor), detail url for reviewers, detail url for the applicant or None).

def build_declaration(w, stage: str):
    account, me = professional(w, w.unit)
    data = decl_flow.DeclarationInput("professional", training_form().id, YEAR, "心血管病诊疗新进展培训班", "8",
                                      None, None, {"organiser": "省卫健委", "location": "济南"})
    end = max(min(clock.today() - datetime.timedelta(days=1), datetime.date(YEAR, 12, 31)),
              datetime.date(YEAR, 1, 3))
    data.start_date, data.end_date = end - datetime.timedelta(days=2), end
    item = decl_flow.save(me, data, submit=True)
    steps = {"pending_unit": [], "pending_dept": ["unit"], "pending_hr": ["unit", "dept"],
             "approved": ["unit", "dept", "district"]}[stage]
    for key in steps:
        decl_flow.approve(item, party(w, key)[1])
    assert item.state == stage
    return item, (account, me), f"/review/declarations/{item.id}", f"/hours/{item.id}"


def build_registration(w, stage: str):
    # The unit's admin registers as a professional of the sub-unit: the unit's admin is then the applicant looking
    # at their own registration, the sub-unit's admin the reviewer it is addressed to.
    account = w.unit_admin
    data = reg_flow.AccountData(id_type="resident_id", id_number=account.username, password=factories.PASSWORD,
                                confirm=None, name=account.first_name, email=account.email, mobile="13912345678",
                                existing_user=True)
    item = reg_flow.register_person(data, w.sub_unit.id, {"department": "内科"})
    if stage == "approved":
        reg_flow.approve(item, party(w, "sub_unit")[1])
    assert item.state == stage
    return item, party(w, "unit"), f"/review/registrations/{item.id}", None


def build_title_change(w, stage: str):
    account, me = professional(w, w.unit)
    item = title_flow.submit(me, {"title_series": "卫生技术", "title_level": "副高级", "title_name": "副主任医师",
                                  "title_cert_no": "ZC2026001"}, [("职称证书.png", factories.PNG)])
    if stage == "approved":
        title_flow.approve(item, party(w, "unit")[1])
    assert item.state == stage
    return item, (account, me), f"/review/personnel/{item.id}", None


def build_identity(w, stage: str):
    account, me = professional(w, w.unit)
    item = id_flow.submit(me, "王新名", account.username, [("身份证.png", factories.PNG)])
    if stage == "approved":
        id_flow.approve(item, party(w, "support")[1])
    assert item.state == stage
    return item, (account, me), f"/support/identity/{item.id}", None


def build_transfer(w, stage: str):
    account, me = professional(w, w.unit)
    item = transfer_flow.submit(me, w.other_unit.id)
    if stage in ("pending_in", "done"):
        transfer_flow.release(item, party(w, "unit")[1])
    if stage == "done":
        transfer_flow.accept(item, party(w, "other_unit")[1])
    assert item.state == stage
    return item, (account, me), f"/review/transfers/{item.id}", None


def build_org_change(w, stage: str):
    # The other district's school asks to move under the first district: the other district decides for the
    # current org above ("old"), the first district for the new one; the city covers both.
    applicant = party(w, "other_unit")
    item = org_flow.request_change(applicant[1], org_flow.ChangeRequest(credit_code=None, parent_id=w.district.id))
    if stage in ("pending_new", "approved"):
        org_flow.decide(item, "approve", party(w, "other_district")[1])
    if stage == "approved":
        org_flow.decide(item, "approve", party(w, "district")[1])
    assert item.state == stage
    return item, applicant, f"/review/org-changes/{item.id}", None


def build_base_report(w, stage: str):
    trainee, _ = professional(w, w.unit, "学员赵医生")
    applicant = party(w, "base")
    item = report_flow.submit_report(applicant[1], title="基地培训班", subject="professional",
                                     form_id=training_form().id, year=YEAR, start_date=None, end_date=None,
                                     lines_text=f"{trainee.username} 8")
    if stage == "approved":
        report_flow.approve(item, party(w, "city")[1])
    assert item.state == stage
    return item, applicant, f"/review/base-reports/{item.id}", f"/base/reports/{item.id}"


KINDS = {
    "declaration": (build_declaration, decl_flow),
    "registration": (build_registration, reg_flow),
    "title_change": (build_title_change, title_flow),
    "identity": (build_identity, id_flow),
    "transfer": (build_transfer, transfer_flow),
    "org_change": (build_org_change, org_flow),
    "base_report": (build_base_report, report_flow),
}

# (kind, stage, actor, expected can_decide)
CASES = [
    # declarations: only the level the item waits at; the city HR admin never while it waits at the unit
    *[("declaration", "pending_unit", a, a == "unit")
      for a in ("unit", "dept", "district", "city", "other_unit", "applicant")],
    *[("declaration", "pending_dept", a, a == "dept") for a in ("unit", "dept", "district", "city")],
    *[("declaration", "pending_hr", a, a in ("district", "city"))
      for a in ("dept", "district", "city", "other_district")],
    *[("declaration", "approved", a, False) for a in ("unit", "dept", "district", "city", "applicant")],
    # registrations: any reviewer whose subtree holds the reviewing org, never the applicant
    *[("registration", "pending", a, a in ("sub_unit", "dept", "city"))
      for a in ("sub_unit", "dept", "city", "other_unit", "applicant")],
    *[("registration", "approved", a, False) for a in ("sub_unit", "city")],
    # title changes: the unit and the reviewers above it
    *[("title_change", "pending", a, a in ("unit", "dept", "city"))
      for a in ("unit", "dept", "city", "sub_unit", "other_unit", "applicant")],
    *[("title_change", "approved", a, False) for a in ("unit", "city")],
    # identity corrections: support staff
    *[("identity", "pending", a, a == "support") for a in ("support", "sysadmin", "applicant")],
    ("identity", "approved", "support", False),
    # transfers: the old unit releases, then the new unit accepts
    *[("transfer", "pending_out", a, a == "unit")
      for a in ("unit", "other_unit", "sub_unit", "district", "applicant")],
    *[("transfer", "pending_in", a, a == "other_unit") for a in ("unit", "other_unit", "other_district")],
    *[("transfer", "done", a, False) for a in ("unit", "other_unit")],
    # org changes: the side that still waits
    *[("org_change", "pending", a, a in ("other_district", "district", "city"))
      for a in ("other_district", "district", "city", "dept", "applicant")],
    *[("org_change", "pending_new", a, a in ("district", "city")) for a in ("other_district", "district", "city")],
    *[("org_change", "approved", a, False) for a in ("district", "city")],
    # base reports: the HR bureau above the base
    *[("base_report", "pending", a, a == "city") for a in ("city", "district", "applicant")],
    ("base_report", "approved", "city", False),
]


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def login(app, account, role: RoleName):
    """A client logged in through the real form (its CSRF token, a fresh captcha) as `account` in `role`."""
    client = app.test_client()
    token = CSRF.search(client.get("/login/").get_data(as_text=True)).group(1)
    client.get("/captcha.png")
    response = client.post("/login/", data={"csrf_token": token, "role": role.value, "id_number": account.username,
                                            "password": factories.PASSWORD, "captcha": app.config["CAPTCHA_FIXED"]})
    return client, response


def panel_shown(app, account, role: RoleName, url: str) -> bool:
    client, response = login(app, account, role)
    assert response.status_code == 302, "login failed"
    response = client.get(url)
    assert response.status_code < 500, url
    return response.status_code == 200 and bool(PANEL.search(response.get_data(as_text=True)))


@pytest.mark.parametrize("kind,stage,who,expected", CASES,
                         ids=[f"{k}-{s}-{a}" for k, s, a, _ in CASES])
def test_panel_iff_can_decide_iff_decision_succeeds(app, world, kind, stage, who, expected):
    build, flow = KINDS[kind]
    item, applicant, review_url, own_url = build(world, stage)
    account, actor = applicant if who == "applicant" else party(world, who)
    url = own_url if who == "applicant" and own_url else review_url
    model, item_id = type(item), item.id

    db.session.expire_all()
    item = db.session.get(model, item_id)
    allowed = flow.can_decide(item, actor)
    assert allowed is expected

    # (a) the detail page offers the decision exactly then
    assert panel_shown(app, account, actor.role, url) is allowed

    # can_decide wrote nothing
    db.session.expire_all()
    item = db.session.get(model, item_id)
    assert item.state == stage

    # (b) and the decision itself succeeds exactly then
    try:
        if kind == "identity":
            id_flow.decide(item, "approve", actor)
        elif kind == "org_change":
            org_flow.decide(item, "approve", actor)
        else:
            flow.machine.decide(item, "approve", actor)
        decided = True
    except DomainError:
        db.session.rollback()
        decided = False
    assert decided is allowed
    db.session.expire_all()
    assert (db.session.get(model, item_id).state != stage) is decided


def test_can_decide_with_no_actor_is_false(world):
    item, *_ = build_base_report(world, "pending")
    assert report_flow.machine.can_decide(item, None) is False


def test_support_never_opens_their_own_identity_correction(app, world):
    account = factories.make_account("客服本人", [(RoleName.SUPPORT, None), (RoleName.PROFESSIONAL, world.unit)],
                                     person_unit=world.unit)
    item = id_flow.submit(actor_for(account, RoleName.PROFESSIONAL, world.unit), "王新名", account.username,
                          [("身份证.png", factories.PNG)])
    assert not id_flow.can_decide(item, actor_for(account, RoleName.SUPPORT))
    client, response = login(app, account, RoleName.SUPPORT)
    assert response.status_code == 302
    assert client.get(f"/support/identity/{item.id}").status_code == 404  # was a server error


def test_a_workflow_refusal_no_view_catches_is_a_403_with_its_message(app, world, monkeypatch):
    item, _applicant, url, _ = build_identity(world, "pending")

    def refuse(*_args):
        raise id_flow.PermissionDenied("只为本测试拒绝")

    monkeypatch.setattr(id_flow, "view_full", refuse)
    client, _ = login(app, world.support, RoleName.SUPPORT)
    response = client.get(url)
    assert response.status_code == 403
    assert "只为本测试拒绝" in response.get_data(as_text=True)
