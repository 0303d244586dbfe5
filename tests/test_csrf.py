"""T7: CSRF. Every mutating route of the URL map, posted without a token (or with another session's token) by
someone who may use it, answers 400 and changes nothing; GET never changes state."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AnnualStandard, AuditLog, LearningForm, Membership, Region, RegistrationState, RoleName
from app.workflows import accounts
from tests import factories
from tests.conftest import CAPTCHA, submit
from tests.test_access_matrix import (YEAR, assert_unchanged, cheap_passwords, credit_year, declaration_data,
                                      is_login_redirect, learning_form, log_in, make_declaration, make_person,
                                      make_report, person_of, reg_state, register, state_snapshot, token_for)

R = RoleName


@dataclass
class Case:
    url: str
    data: dict
    check: Callable[[], None] = lambda: None  # the effect of the request, had it gone through, is absent


def _professional(world):
    return make_person("防伪测试人", world.unit)


def _logged_in_as(client, account, role: RoleName) -> None:
    log_in(client, account.username, role.value)


def _still_logged_in(client):
    def check():
        response = client.get("/home/")
        assert response.status_code == 200, (response.status_code, response.headers.get("Location"))
    return check


def _not_logged_in(client):
    def check():
        assert is_login_redirect(client.get("/home/"))
    return check


# ------------------------------------------------------------------ one case per mutating endpoint

def account_password(app, client, world):
    person = _professional(world)
    _logged_in_as(client, person, R.PROFESSIONAL)
    return Case("/account/password", {"old_password": factories.PASSWORD, "password": "Fresh#Pass2026",
                                      "confirm": "Fresh#Pass2026"}, _still_logged_in(client))


def account_role(app, client, world):
    both = factories.make_account("双角色人", [(R.PROFESSIONAL, world.unit), (R.UNIT_ADMIN, world.unit)],
                                  person_unit=world.unit)
    cheap_passwords()
    admin = db.session.scalar(select(Membership.id).where(Membership.user_id == both.id,
                                                          Membership.role == R.UNIT_ADMIN.value))
    _logged_in_as(client, both, R.PROFESSIONAL)

    def check():  # still acting as a professional
        assert client.get("/review/registrations/").status_code == 403
    return Case("/account/role", {"membership_id": str(admin)}, check)


def auth_login(app, client, world):
    person = _professional(world)
    client.get("/login/")
    client.get("/captcha.png")
    return Case("/login/", {"role": R.PROFESSIONAL.value, "id_number": person.username,
                            "password": factories.PASSWORD, "captcha": CAPTCHA}, _not_logged_in(client))


def auth_pick_role(app, client, world):
    twice = factories.make_account("两单位管理员", [(R.UNIT_ADMIN, world.unit), (R.UNIT_ADMIN, world.other_unit)])
    cheap_passwords()
    response = submit(client, "/login/", {"role": R.UNIT_ADMIN.value, "id_number": twice.username,
                                          "password": factories.PASSWORD, "captcha": None})
    assert response.status_code == 302 and "/login/role" in response.headers["Location"]
    chosen = db.session.scalar(select(Membership.id).where(Membership.user_id == twice.id).limit(1))
    return Case("/login/role", {"membership_id": str(chosen)}, _not_logged_in(client))


def auth_logout(app, client, world):
    person = _professional(world)
    _logged_in_as(client, person, R.PROFESSIONAL)
    return Case("/logout/", {}, _still_logged_in(client))


def auth_forgot(app, client, world):
    person = _professional(world)
    client.get("/password/forgot")
    client.get("/captcha.png")
    return Case("/password/forgot", {"id_number": person.username, "channel": "email", "contact": person.email,
                                     "captcha": CAPTCHA})


def auth_reset(app, client, world):
    person = _professional(world)
    url = f"/password/reset/{accounts.make_reset_token(person)}"
    client.get(url)
    return Case(url, {"password": "Fresh#Pass2026", "confirm": "Fresh#Pass2026"})


def public_register_person(app, client, world):
    client.get("/public/register/person")
    return Case("/public/register/person", factories.person_form(world.unit))


def public_register_org(app, client, world):
    client.get("/public/register/unit")
    return Case("/public/register/unit", factories.org_form(world.dept))


def public_progress(app, client, world):
    person = _professional(world)
    client.get("/public/progress")
    client.get("/captcha.png")

    def check():  # the lookup did not happen: no 证件号 was remembered for a withdrawal
        with client.session_transaction() as session:
            assert "progress_id" not in session
    return Case("/public/progress", {"id_number": person.username, "captcha": CAPTCHA}, check)


def public_withdraw(app, client, world):
    reg = register(world.unit, "撤回测试人")
    reg_id = reg.id
    looked_up = submit(client, "/public/progress", {"id_number": reg.user.username, "captcha": None})
    assert looked_up.status_code == 200

    def check():
        assert reg_state(reg_id) == RegistrationState.PENDING.value
    return Case("/public/progress/withdraw", {"registration_id": str(reg_id), "password": factories.PASSWORD},
                check)


def review_decide(app, client, world):
    reg = register(world.unit, "待审核人")
    reg_id = reg.id
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        assert reg_state(reg_id) == RegistrationState.PENDING.value
    return Case("/review/registrations/decide", {"ids": str(reg_id), "action": "approve"}, check)


def support_lookup(app, client, world):
    person = _professional(world)
    _logged_in_as(client, world.support, R.SUPPORT)
    return Case("/support/accounts", {"id_number": person.username})


def support_assign(app, client, world):
    person = _professional(world)
    _logged_in_as(client, world.support, R.SUPPORT)
    return Case(f"/support/accounts/{person.id}/roles", {"role": R.UNIT_ADMIN.value, "org_id": str(world.unit.id)})


def support_revoke(app, client, world):
    person = _professional(world)
    membership = db.session.scalar(select(Membership.id).where(Membership.user_id == person.id))
    _logged_in_as(client, world.support, R.SUPPORT)
    return Case(f"/support/memberships/{membership}/revoke", {})


def support_reset_password(app, client, world):
    person = _professional(world)
    _logged_in_as(client, world.support, R.SUPPORT)
    return Case(f"/support/accounts/{person.id}/reset-password", {})


# ------------------------------------------------------------------ issue 3: hours, reviews, base reports, PDFs

def hours_declare(app, client, world):
    _logged_in_as(client, _professional(world), R.PROFESSIONAL)
    return Case("/hours/declare", declaration_data(title="伪造的申报", action="submit"))


def hours_edit(app, client, world):
    person = _professional(world)
    item = make_declaration(world, person, "draft")
    _logged_in_as(client, person, R.PROFESSIONAL)
    return Case(f"/hours/{item.id}/edit", declaration_data(title="伪造的修改", hours="80", action="submit"))


def _hours_act(action: str, state: str):
    def build(app, client, world):
        person = _professional(world)
        item = make_declaration(world, person, state)
        _logged_in_as(client, person, R.PROFESSIONAL)
        return Case(f"/hours/{item.id}/{action}", {})
    return build


def _hours_print(kind: str):
    def build(app, client, world):
        person = _professional(world)
        credit_year(person, 30, 60)
        _logged_in_as(client, person, R.PROFESSIONAL)
        return Case(f"/hours/print/{YEAR}/{kind}", {})
    return build


def declaration_decide(app, client, world):
    item = make_declaration(world, _professional(world), "pending_unit")
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    return Case("/review/declarations/decide", {"ids": str(item.id), "action": "approve"})


def base_report_new(app, client, world):
    trainee = _professional(world)
    _logged_in_as(client, world.base_admin, R.BASE_ADMIN)
    return Case("/base/reports/new", {"title": "伪造的培训班", "subject": "professional",
                                      "form_id": str(learning_form().id), "year": str(YEAR),
                                      "lines": f"{trainee.username} 8"})


def base_report_decide(app, client, world):
    report = make_report(world.base_admin, world.base, [_professional(world)])  # reviewed by the city bureau
    _logged_in_as(client, world.city_admin, R.HR_ADMIN)
    return Case(f"/review/base-reports/{report.id}/decide", {"action": "approve"})


def verify_lookup(app, client, world):
    person = _professional(world)
    client.get("/verify/")
    client.get("/captcha.png")
    return Case("/verify/lookup", {"id_number": person.username, "name": "防伪测试人", "captcha": CAPTCHA})


# FAB ModelViews: posted by the role closest to the view (the CSRF check comes before the permission check)
FAB_VIEWS = {"OrgModelView": ("orgs", "sysadmin", R.SYSADMIN), "StaffModelView": ("staff", "unit_admin", R.UNIT_ADMIN),
             "RegionModelView": ("regions", "sysadmin", R.SYSADMIN),
             "AuditLogModelView": ("audit", "auditor", R.AUDITOR),
             "AnnualStandardModelView": ("standards", "city_admin", R.HR_ADMIN),
             "LearningFormModelView": ("learning-forms", "city_admin", R.HR_ADMIN)}
FAB_FORMS = {
    "standards": {"year": str(YEAR), "public_min": "1", "professional_min": "1", "total_min": "2"},
    "learning-forms": {"code": "forged", "name": "伪造的学习形式", "group": "training", "fields_json": "[]",
                       "max_hours": "500", "active": "y"},
}


def _fab_case(view: str, route: str):
    def build(app, client, world):
        base, admin, role = FAB_VIEWS[view]
        person = person_of(_professional(world))
        region = Region(code="370104", name="丙区")
        db.session.add(region)
        db.session.commit()
        pk = {"orgs": world.unit.id, "staff": person.id, "regions": region.id,
              "audit": db.session.scalar(select(AuditLog.id).limit(1)),
              "standards": db.session.scalar(select(AnnualStandard.id).limit(1)),
              "learning-forms": db.session.scalar(select(LearningForm.id).limit(1))}[base]
        _logged_in_as(client, getattr(world, admin), role)
        url = {"add": f"/{base}/add", "edit": f"/{base}/edit/{pk}", "delete": f"/{base}/delete/{pk}",
               "action": f"/{base}/action/reset_password/{pk}", "action_post": f"/{base}/action_post"}[route]
        data = {"action_post": {"action": "reset_password", "rowid": str(pk)},
                "add": FAB_FORMS.get(base, {"name": "新增记录", "code": "370105"}),
                "edit": FAB_FORMS.get(base, {"name": "改过的名字", "code": "370106"})}
        return Case(url, data.get(route, {}))
    return build


CASES: dict[str, Callable] = {
    "AccountView.password": account_password,
    "AccountView.role": account_role,
    "AuthView.login": auth_login,
    "AuthView.pick_role": auth_pick_role,
    "AuthView.logout": auth_logout,
    "AuthView.forgot": auth_forgot,
    "AuthView.reset": auth_reset,
    "PublicView.register_person": public_register_person,
    "PublicView.register_org": public_register_org,
    "PublicView.progress": public_progress,
    "PublicView.withdraw": public_withdraw,
    "RegistrationReviewView.decide": review_decide,
    "SupportView.lookup": support_lookup,
    "SupportView.assign": support_assign,
    "SupportView.revoke": support_revoke,
    "SupportView.reset_password": support_reset_password,
    **{f"{view}.{route}": _fab_case(view, route) for view in FAB_VIEWS
       for route in ("add", "edit", "delete", "action", "action_post")},
    "HoursView.declare": hours_declare,
    "HoursView.edit": hours_edit,
    # one endpoint, several actions: "endpoint:variant" keys, each its own case
    "HoursView.act:submit": _hours_act("submit", "draft"),
    "HoursView.act:withdraw": _hours_act("withdraw", "pending_unit"),
    "HoursView.act:delete": _hours_act("delete", "draft"),
    "HoursView.print_pdf:completion": _hours_print("completion"),
    "HoursView.print_pdf:register": _hours_print("register"),
    "DeclarationReviewView.decide": declaration_decide,
    "BaseReportView.new": base_report_new,
    "BaseReportReviewView.decide": base_report_decide,
    "VerifyView.lookup": verify_lookup,
}


def _endpoint(case_key: str) -> str:
    return case_key.split(":")[0]


def _rule(app, endpoint: str):
    return next(r for r in app.url_map.iter_rules() if r.endpoint == _endpoint(endpoint))


# ------------------------------------------------------------------ tests

def test_every_mutating_route_has_a_case(app):
    """A new POST route fails here until it gets a case below."""
    mutating = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    covered = {_endpoint(key) for key in CASES}
    assert mutating - covered == set(), "add a CSRF case for these endpoints"
    assert covered - mutating == set(), "these endpoints no longer take POST"


@pytest.fixture()
def fast_world(world):
    cheap_passwords()
    return world


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_post_without_a_valid_token_is_refused(app, client, fast_world, outbox, endpoint):
    case = CASES[endpoint](app, client, fast_world)
    foreign = token_for(app.test_client(), logged_in=False)  # a real token, of someone else's session
    before, mails = state_snapshot(), len(outbox)  # (setting a case up may notify, e.g. a submission)
    for label, token in (("another session's token", {"csrf_token": foreign}), ("no token", {})):
        response = client.post(case.url, data={**case.data, **token})
        assert response.status_code == 400, (label, response.status_code, response.headers.get("Location"))
        assert_unchanged(before)
        case.check()
    assert len(outbox) == mails


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_get_changes_nothing(app, client, fast_world, outbox, endpoint):
    """The same request by GET (form fields in the query string) must not act; POST-only routes answer 405."""
    case = CASES[endpoint](app, client, fast_world)
    before, mails = state_snapshot(), len(outbox)
    response = client.get(case.url, query_string=case.data)
    if "GET" in _rule(app, endpoint).methods:
        assert response.status_code < 500
    else:  # e.g. GET /public/progress/withdraw
        assert response.status_code == 405
    assert_unchanged(before)
    case.check()
    assert len(outbox) == mails


def test_logout_by_get_does_not_log_out(client, fast_world):
    person = _professional(fast_world)
    _logged_in_as(client, person, R.PROFESSIONAL)
    page = client.get("/logout/")
    assert page.status_code == 200
    assert 'method="post"' in page.get_data(as_text=True)  # it only offers the button
    before = state_snapshot()
    assert client.get("/home/").status_code == 200
    assert_unchanged(before)
