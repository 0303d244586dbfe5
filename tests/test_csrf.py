"""T7: CSRF. Every mutating route of the URL map, posted without a token (or with another session's token) by
someone who may use it, answers 400 and changes nothing; GET never changes state."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, AnnualStandard, AuditLog, LearningForm, Membership, Region, RegistrationState, RoleName
from app.workflows import accounts
from tests import factories
from tests.helpers import (CAPTCHA, YEAR, assert_unchanged, cheap_passwords, credit_year, declaration_data,
                           is_login_redirect, learning_form, log_in, make_declaration, make_person, make_report, membership_of, page,
                           person_of, reg_state, register, state_snapshot, submit, token_for, zh)

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


# ------------------------------------------------------------------ issue 4: unit transfer

def _transfer_state(item_id: int, expected: str):
    from app.models import Transfer

    def check():
        assert db.session.execute(select(Transfer.state).where(Transfer.id == item_id)).scalar_one() == expected
    return check


def transfer_apply(app, client, world):
    from app.models import Transfer

    _logged_in_as(client, _professional(world), R.PROFESSIONAL)

    def check():
        assert db.session.scalar(select(Transfer.id).limit(1)) is None
    return Case("/transfer/", {"to_unit_id": str(world.other_unit.id), "note": "伪造的调转"}, check)


def _applied_transfer(world, released: bool = False):
    from app.workflows import transfer as transfer_flow

    person = _professional(world)
    item = transfer_flow.submit(factories.actor_for(person, R.PROFESSIONAL, world.unit), world.other_unit.id)
    if released:
        transfer_flow.release(item, factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit))
    return person, item


def transfer_withdraw(app, client, world):
    person, item = _applied_transfer(world)
    _logged_in_as(client, person, R.PROFESSIONAL)
    return Case(f"/transfer/{item.id}/withdraw", {}, _transfer_state(item.id, "pending_out"))


def transfer_decide(app, client, world):
    _, item = _applied_transfer(world)
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    return Case("/review/transfers/decide", {"ids": str(item.id), "action": "approve"},
                _transfer_state(item.id, "pending_out"))


def transfer_start(app, client, world):
    from app.models import Transfer

    employee = person_of(_professional(world))
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        assert db.session.scalar(select(Transfer.id).limit(1)) is None
    return Case("/review/transfers/start", {"person_id": str(employee.id), "to_unit_id": str(world.other_unit.id)},
                check)


def transfer_unit_withdraw(app, client, world):
    from app.workflows import transfer as transfer_flow

    employee = person_of(_professional(world))
    item = transfer_flow.start(factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit), employee.id,
                               world.other_unit.id)
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    return Case(f"/review/transfers/{item.id}/withdraw", {}, _transfer_state(item.id, "pending_in"))


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
    "TransferView.index": transfer_apply,
    "TransferView.withdraw": transfer_withdraw,
    "TransferReviewView.decide": transfer_decide,
    "TransferReviewView.start": transfer_start,
    "TransferReviewView.withdraw": transfer_unit_withdraw,
}


# ------------------------------------------------------------------ issue 4: org admins, roles, sub-units

def _deputy(world) -> int:
    """A second, non-super admin of the unit; its membership id."""
    deputy = factories.make_account("副管理员")
    membership = Membership(user_id=deputy.id, role=R.UNIT_ADMIN.value, org_id=world.unit.id, state="active")
    db.session.add(membership)
    db.session.commit()
    return membership.id


def _unit_role(world):
    from app.workflows import admins as admin_flow

    return admin_flow.create_role(factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit), "审核员",
                                  ["registrations"])


def _as_unit_admin(build):
    def case(app, client, world):
        result = build(world)
        _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
        return result
    return case


ADMIN_CASES: dict[str, Callable] = {
    "OrgAdminsView.add_staff": _as_unit_admin(lambda world: Case(
        "/org/admins/add/staff", {"person_id": str(person_of(_professional(world)).id)})),
    "OrgAdminsView.add_new": _as_unit_admin(lambda world: Case("/org/admins/add/new", {
        "id_type": "resident_id", "id_number": factories.new_id_number(), "name": "伪造的管理员",
        "email": "forged@example.cn", "mobile": "13912345670", "password": "Forged#2026x",
        "confirm": "Forged#2026x"})),
    "OrgAdminsView.add_existing": _as_unit_admin(lambda world: Case("/org/admins/add/existing", {
        "id_number": world.other_unit_admin.username, "password": factories.PASSWORD})),
    "OrgAdminsView.make_super": _as_unit_admin(lambda world: Case(f"/org/admins/{_deputy(world)}/make-super", {})),
    "OrgAdminsView.remove": _as_unit_admin(lambda world: Case(f"/org/admins/{_deputy(world)}/remove", {})),
    "OrgAdminsView.set_role": _as_unit_admin(lambda world: Case(
        f"/org/admins/{_deputy(world)}/role", {"org_role_id": str(_unit_role(world).id)})),
    "OrgAdminsView.roles": _as_unit_admin(lambda world: Case("/org/admins/roles", {"name": "伪造的角色",
                                                                                   "modules": "staff"})),
    "OrgAdminsView.edit_role": _as_unit_admin(lambda world: Case(
        f"/org/admins/roles/{_unit_role(world).id}/edit", {"name": "伪造的角色", "modules": "staff"})),
    "OrgAdminsView.delete_role": _as_unit_admin(lambda world: Case(
        f"/org/admins/roles/{_unit_role(world).id}/delete", {})),
    "SubUnitView.close": _as_unit_admin(lambda world: Case(f"/org/sub-units/{world.sub_unit.id}/close", {})),
    "SubUnitView.remove_admin": _as_unit_admin(lambda world: Case(
        "/org/sub-units/admins/%d/remove" % db.session.scalar(select(Membership.id).where(
            Membership.user_id == world.sub_unit_admin.id)), {})),
}
CASES.update(ADMIN_CASES)


# ------------------------------------------------------------------ issue 4: org profile, state machine 5, S4

def _org_change(world):
    from app.demo import make_credit_code
    from app.workflows import org_change as org_change_flow

    return org_change_flow.request_change(factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit),
                                          org_change_flow.ChangeRequest(make_credit_code("370103", 550001), None))


def _org_change_state(item_id: int, expected: str):
    from app.models import OrgChange

    def check():
        assert db.session.execute(select(OrgChange.state).where(OrgChange.id == item_id)).scalar_one() == expected
    return check


def _org_profile_edit(app, client, world):
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    return Case("/org/profile/edit", {"phone": "0531-0000000", "address": "伪造的地址"})


def _org_profile_change(app, client, world):
    from app.demo import make_credit_code
    from app.models import OrgChange

    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        assert db.session.scalar(select(OrgChange.id)) is None
    return Case("/org/profile/change", {"credit_code": make_credit_code("370103", 550002)}, check)


def _org_profile_withdraw(app, client, world):
    item = _org_change(world)
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    return Case(f"/org/profile/change/{item.id}/withdraw", {}, _org_change_state(item.id, "pending"))


def _org_change_decide(app, client, world):
    item = _org_change(world)
    _logged_in_as(client, world.dept_admin, R.DEPT_ADMIN)
    return Case("/review/org-changes/decide", {"ids": str(item.id), "action": "approve"},
                _org_change_state(item.id, "pending"))


def _support_org_merge(app, client, world):
    from app.models import Org, OrgKind

    target = factories.make_org(OrgKind.UNIT, "合并目标单位", world.dept)
    _logged_in_as(client, world.support, R.SUPPORT)

    def check():
        assert db.session.execute(select(Org.state).where(Org.id == world.unit.id)).scalar_one() == "active"
    return Case("/support/orgs/merge", {"source_id": str(world.unit.id), "target_id": str(target.id),
                                        "confirm": "y"}, check)


def _support_org_temporary_code(app, client, world):
    from app.models import Org, OrgKind

    org = factories.make_org(OrgKind.UNIT, "无代码单位", world.dept)
    db.session.execute(Org.__table__.update().where(Org.id == org.id).values(credit_code=None))
    db.session.commit()
    _logged_in_as(client, world.support, R.SUPPORT)

    def check():
        assert db.session.execute(select(Org.credit_code).where(Org.id == org.id)).scalar_one() is None
    return Case(f"/support/orgs/{org.id}/temporary-code", {}, check)


CASES.update({
    "OrgProfileView.edit": _org_profile_edit,
    "OrgProfileView.change": _org_profile_change,
    "OrgProfileView.withdraw": _org_profile_withdraw,
    "OrgChangeReviewView.decide": _org_change_decide,
    "SupportOrgView.merge": _support_org_merge,
    "SupportOrgView.temporary_code": _support_org_temporary_code,
})


def _review_decide_one(app, client, world):
    reg = register(world.unit, "详情页待审核人")
    reg_id = reg.id
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        assert reg_state(reg_id) == RegistrationState.PENDING.value
    return Case(f"/review/registrations/{reg_id}/decide", {"action": "approve"}, check)


def _sub_unit_edit(app, client, world):
    from app.models import Org

    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        assert db.session.execute(select(Org.name).where(Org.id == world.sub_unit.id)).scalar_one() == "甲区人民医院分院"
    return Case(f"/org/sub-units/{world.sub_unit.id}/edit", {"name": "伪造的单位名称", "phone": "0531-0000000"}, check)


CASES.update({
    "RegistrationReviewView.decide_one": _review_decide_one,
    "SubUnitView.edit": _sub_unit_edit,
})


def _endpoint(case_key: str) -> str:
    return case_key.split(":")[0]


def _rule(app, endpoint: str):
    return next(r for r in app.url_map.iter_rules() if r.endpoint == _endpoint(endpoint))


# ------------------------------------------------------------------ issue 4: profile, title change, identity correction

def _profile_owner(world):
    from tests.helpers import professional

    return professional(world.unit, "防伪测试人")


def _title_change_state(item_id: int, expected: str):
    from app.models import TitleChange

    def check():
        assert db.session.execute(select(TitleChange.state).where(TitleChange.id == item_id)).scalar_one() == expected
    return check


def _correction_state(item_id: int, expected: str):
    from app.models import IdentityCorrection

    def check():
        assert db.session.execute(select(IdentityCorrection.state)
                                  .where(IdentityCorrection.id == item_id)).scalar_one() == expected
    return check


def _nothing_requested():
    from app.models import IdentityCorrection, TitleChange

    def check():
        assert db.session.scalar(select(TitleChange.id).limit(1)) is None
        assert db.session.scalar(select(IdentityCorrection.id).limit(1)) is None
    return check


def profile_edit(app, client, world):
    person = _profile_owner(world)
    _logged_in_as(client, person, R.PROFESSIONAL)

    def check():  # the school stays as it was
        assert person_of(person).school is None
    return Case("/profile/", {"gender": "M", "ethnicity": "汉族", "education": "大学本科", "school": "伪造的学校",
                              "major": "伪造的专业", "degree": "学士"}, check)


def profile_title(app, client, world):
    _logged_in_as(client, _profile_owner(world), R.PROFESSIONAL)
    return Case("/profile/title", {"title_series": "卫生技术", "title_level": "正高级", "title_name": "伪造的职务"},
                _nothing_requested())


def profile_withdraw_title(app, client, world):
    from tests.helpers import make_change

    person = _profile_owner(world)
    item = make_change(world, person)
    _logged_in_as(client, person, R.PROFESSIONAL)
    return Case(f"/profile/title/{item.id}/withdraw", {}, _title_change_state(item.id, "pending"))


def profile_identity(app, client, world):
    _logged_in_as(client, _profile_owner(world), R.PROFESSIONAL)
    return Case("/profile/identity", {"new_name": "伪造姓名", "new_id_number": factories.new_id_number()},
                _nothing_requested())


def profile_withdraw_identity(app, client, world):
    from tests.helpers import make_correction

    person = _profile_owner(world)
    item = make_correction(world, person)
    _logged_in_as(client, person, R.PROFESSIONAL)
    return Case(f"/profile/identity/{item.id}/withdraw", {}, _correction_state(item.id, "pending"))


def personnel_decide(app, client, world):
    from tests.helpers import make_change

    item = make_change(world, _profile_owner(world))
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    return Case("/review/personnel/decide", {"ids": str(item.id), "action": "approve"},
                _title_change_state(item.id, "pending"))


def identity_decide(app, client, world):
    from tests.helpers import make_correction

    item = make_correction(world, _profile_owner(world))
    _logged_in_as(client, world.support, R.SUPPORT)
    return Case(f"/support/identity/{item.id}/decide", {"action": "approve"}, _correction_state(item.id, "pending"))


CASES.update({
    "ProfileView.index": profile_edit,
    "ProfileView.title": profile_title,
    "ProfileView.withdraw_title": profile_withdraw_title,
    "ProfileView.identity": profile_identity,
    "ProfileView.withdraw_identity": profile_withdraw_identity,
    "PersonnelReviewView.decide": personnel_decide,
    "IdentityReviewView.decide": identity_decide,
})


# issue 11: a training base's classes (B3) and their review (state machine 6)
def _draft_class(world, state_path=()):
    """A class of the world's base with a course, a section, a lesson row (no video file) and a quiz question."""
    import datetime

    from app.models import Lesson
    from app.workflows import classes as class_flow

    base = factories.actor_for(world.base_admin, R.BASE_ADMIN, world.base)
    item = class_flow.create_class(base, {"title": "防伪测试班", "track": "public", "specialty": "", "year": YEAR,
                                          "hours": 8, "price": 0, "enrol_start": datetime.date(YEAR, 1, 1),
                                          "enrol_end": datetime.date(YEAR, 12, 31), "intro": ""})
    course = class_flow.add_course(base, item, "防伪课程")
    section = class_flow.add_section(base, course, "防伪小节", 60)
    lesson = Lesson(section_id=section.id, title="防伪课件", stored_name=None, content_type="video/mp4", size=1,
                    duration=60)
    db.session.add(lesson)
    db.session.commit()
    class_flow.add_question(base, section, "true_false", "防伪题目", [], [0])
    for action in state_path:
        actor = base if action == "submit" else factories.actor_for(world.city_admin, R.HR_ADMIN, world.city)
        class_flow.machine.apply(item, action, actor)
    return item, course, section, lesson


def _class_case(route: str, data: dict, *, hr: bool = False, state_path=()):
    def build(app, client, world):
        item, course, section, lesson = _draft_class(world, state_path)
        url = route.format(c=item.id, course=course.id, section=section.id, lesson=lesson.id)
        if hr:
            _logged_in_as(client, world.city_admin, R.HR_ADMIN)
        else:
            _logged_in_as(client, world.base_admin, R.BASE_ADMIN)
        form = {k: (v.format(c=item.id, lesson=lesson.id, course=course.id) if isinstance(v, str) else v)
                for k, v in data.items()}
        return Case(url, form)  # state_snapshot() holds the classes and their catalogue
    return build


_CLASS_INFO = {"title": "伪造的班级", "track": "public", "year": str(YEAR), "hours": "8", "price": "0",
               "enrol_start": f"{YEAR}-01-01", "enrol_end": f"{YEAR}-12-31"}
CASES.update({
    "ClassAdminView.new": _class_case("/base/classes/new", _CLASS_INFO),
    "ClassAdminView.edit": _class_case("/base/classes/{c}/edit", _CLASS_INFO),
    "ClassAdminView.act": _class_case("/base/classes/{c}/act", {"action": "submit"}),
    "ClassAdminView.add_course": _class_case("/base/classes/{c}/courses", {"course-title": "伪造课程"}),
    "ClassAdminView.add_section": _class_case("/base/classes/courses/{course}/sections",
                                              {"section-title": "伪造小节", "section-pass_mark": "60"}),
    "ClassAdminView.add_lesson": _class_case("/base/classes/sections/{section}/lessons", {"lesson-title": "伪造"}),
    "ClassAdminView.add_question": _class_case("/base/classes/sections/{section}/questions", {
        "question-kind": "true_false", "question-text": "伪造题目", "question-correct": "0"}),
    "ClassAdminView.add_popup": _class_case("/base/classes/lessons/{lesson}/popups", {
        "popup-kind": "true_false", "popup-text": "伪造弹题", "popup-correct": "0", "popup-at_second": "1"}),
    "ClassAdminView.remove": _class_case("/base/classes/{c}/remove", {"kind": "lesson", "item_id": "{lesson}"}),
    "ClassAdminView.rename": _class_case("/base/classes/{c}/rename", {"kind": "course", "item_id": "{course}",
                                                                      "title": "伪造名称"}),
    "ClassReviewView.decide": _class_case("/review/classes/decide", {"ids": "{c}", "action": "approve"}, hr=True,
                                          state_path=("submit",)),
    "ClassReviewView.decide_one": _class_case("/review/classes/{c}/decide", {"action": "approve"}, hr=True,
                                              state_path=("submit",)),
})


# ------------------------------------------------------------------ tests

# issue 11: 报名 of a free class (班级中心)
def class_centre_enrol(app, client, world):
    import datetime

    from app import clock
    from app.models import Enrolment, OnlineClass

    person = _professional(world)
    today = clock.today()
    item = OnlineClass(base_id=world.base.id, reviewer_org_id=world.city.id, title="防伪测试班级", track="public",
                       year=YEAR, hours=10, price=0, enrol_start=today - datetime.timedelta(days=1),
                       enrol_end=today + datetime.timedelta(days=1), state="published")
    db.session.add(item)
    db.session.commit()
    _logged_in_as(client, person, R.PROFESSIONAL)

    def check():
        assert db.session.scalar(select(func.count(Enrolment.id))) == 0
    return Case(f"/learning/classes/{item.id}/enrol", {}, check)


CASES.update({"ClassCentreView.enrol": class_centre_enrol})


# issue 12: notifications (mark read, open, read all, the e-mail switch) and the HR bureau's reminder settings
def _notified(world):
    from app.models import Notification, NotificationKind
    from app.workflows import notifications as notification_flow

    notification_flow.write([notification_flow.Note([world.unit_admin], NotificationKind.QUEUE, "待审核", "正文",
                                                    "/home/")], event="csrf:1")
    db.session.commit()
    note = db.session.scalar(select(Notification).where(Notification.user_id == world.unit_admin.id))

    def check():
        db.session.expire_all()
        assert db.session.get(Notification, note.id).read_at is None
        assert notification_flow.email_on(world.unit_admin.id)
    return note, check


def _notification_case(url: str, with_id: bool, data: dict | None = None):
    def build(app, client, world):
        note, check = _notified(world)
        _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
        return Case(url, {**({"id": str(note.id)} if with_id else {}), **(data or {})}, check)
    return build


def reminder_settings(app, client, world):
    from app.models import ReminderSetting

    _logged_in_as(client, world.city_admin, R.HR_ADMIN)

    def check():
        assert db.session.scalar(select(func.count()).select_from(ReminderSetting)) == 0
    return Case("/reminders/", {"part": "reviews", "remind_unit": "3", "escalate_unit": "7"}, check)


CASES.update({
    "NotificationView.open": _notification_case("/notifications/open", True),
    "NotificationView.read": _notification_case("/notifications/read", True),
    "NotificationView.read_all": _notification_case("/notifications/read-all", False),
    "NotificationView.email": _notification_case("/notifications/email", False, {"email_on": "0"}),
    "ReminderSettingsView.index": reminder_settings,
})


def test_every_mutating_route_has_a_case(app):
    """A new POST route fails here until it gets a case below."""
    mutating = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    covered = {_endpoint(key) for key in CASES}
    assert mutating - covered - set(CSRF_EXEMPT) == set(), "add a CSRF case for these endpoints"
    assert covered - mutating == set(), "these endpoints no longer take POST"


def pytest_generate_tests(metafunc):
    """Parametrize with every case of the module, also those added below the tests (a decorator would see only
    the cases known when the test was defined)."""
    if "endpoint" in metafunc.fixturenames and metafunc.function.__name__ in PER_CASE_TESTS:
        metafunc.parametrize("endpoint", sorted(CASES))


PER_CASE_TESTS = {"test_post_without_a_valid_token_is_refused", "test_get_changes_nothing"}


def test_post_without_a_valid_token_is_refused(app, client, fast_world, outbox, endpoint):
    case = CASES[endpoint](app, client, fast_world)
    foreign = token_for(app.test_client(), logged_in=False)  # a real token, of someone else's session
    before, mails = state_snapshot(), len(outbox)  # (setting a case up may notify, e.g. a submission)
    expired = zh("The page has expired. Please refresh it and try again.")
    for label, token in (("another session's token", {"csrf_token": foreign}), ("no token", {})):
        response = client.post(case.url, data={**case.data, **token})
        assert response.status_code == 400, (label, response.status_code, response.headers.get("Location"))
        assert expired in page(response), label  # what happened and what to do,
        assert 'class="navbar' in page(response), label  # in the site's layout (not the bare fallback page)
        assert_unchanged(before)
        case.check()
    # a script's request gets the same refusal as JSON
    response = client.post(case.url, data=case.data, headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 400 and response.is_json, response.status_code
    assert expired in response.get_json()["error"]
    assert_unchanged(before)
    case.check()
    assert len(outbox) == mails


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


# issue 10: batch import of staff
def _import_batches(expected: int):
    from app.models import ImportBatch

    def check():
        assert db.session.scalar(select(func.count(ImportBatch.id))) == expected
    return check


def import_upload(app, client, world):
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    return Case("/import/upload", {"mode": "valid"}, _import_batches(0))


def import_confirm(app, client, world):
    from app.models import ImportBatch

    batch = ImportBatch(org_id=world.unit.id, user_id=world.unit_admin.id,
                        membership_id=membership_of(world.unit_admin).id, locale="zh", file_name="人员.xlsx",
                        stored_name="absent.xlsx", sha256="0" * 64, mode="valid", state="checked", problems_json="[]")
    db.session.add(batch)
    db.session.commit()
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        assert db.session.scalar(select(ImportBatch.state).where(ImportBatch.id == batch.id)) == "checked"
    return Case(f"/import/batch/{batch.id}/confirm", {"mode": "valid"}, check)


CASES.update({"ImportView.upload": import_upload, "ImportView.confirm": import_confirm})


def lookup_reset_password(app, client, world):
    """查询统计 → 人员查询: the unit admin resets a staff member's password (a forged POST must change nothing)."""
    person = _professional(world)
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)
    before = db.session.scalar(select(Account.password).where(Account.id == person.id))

    def check():
        db.session.expire_all()
        assert db.session.scalar(select(Account.password).where(Account.id == person.id)) == before
    return Case(f"/lookup/staff/{person.id}/reset-password", {}, check)


CASES.update({"LookupView.reset_password": lookup_reset_password})


# ------------------------------------------------------------------ issue 11: base plans and reports (B1), B2 by .xlsx

def _no_filing():
    from app.models import BaseFiling

    def check():
        assert db.session.scalar(select(BaseFiling.id).limit(1)) is None
    return check


def _filing_state(item_id: int, expected: str):
    from app.models import BaseFiling

    def check():
        assert db.session.execute(select(BaseFiling.state).where(BaseFiling.id == item_id)).scalar_one() == expected
    return check


def base_plan_new(app, client, world):
    _logged_in_as(client, world.base_admin, R.BASE_ADMIN)
    return Case("/base/plans/new/plan", {"year": str(YEAR), "title": "伪造的年度计划", "classes": "3",
                                         "trainees": "100", "hours": "24", "content": "伪造的年度培训计划内容"},
                _no_filing())


def base_plan_decide(app, client, world):
    from app.workflows import base_plans as plan_flow

    item = plan_flow.submit(factories.actor_for(world.base_admin, R.BASE_ADMIN, world.base), kind="plan", year=YEAR,
                            title="基地年度计划", classes="3", trainees="100", hours="24", content="基地年度培训计划内容")
    _logged_in_as(client, world.city_admin, R.HR_ADMIN)
    return Case("/review/base-plans/decide", {"ids": str(item.id), "action": "approve"},
                _filing_state(item.id, "pending"))


def base_report_upload(app, client, world):
    _logged_in_as(client, world.base_admin, R.BASE_ADMIN)
    return Case("/base/reports/upload", {"title": "伪造的培训班", "subject": "professional",
                                         "form_id": str(learning_form().id), "year": str(YEAR)})


CASES.update({"BasePlanView.new": base_plan_new, "BasePlanReviewView.decide": base_plan_decide,
              "BaseReportView.upload": base_report_upload})


# ------------------------------------------------------------------ issue 11: orders and payment

def _paid_class(world):
    return factories.make_online_class(world.base, world.city)


def _orders(expected: int):
    from app.models import ClassOrder

    def check():
        assert db.session.scalar(select(func.count(ClassOrder.id))) == expected
    return check


def _order_state(order_id: int, expected: str):
    from app.models import ClassOrder

    def check():
        assert db.session.execute(select(ClassOrder.state).where(ClassOrder.id == order_id)).scalar_one() == expected
    return check


def _pending_order(world):
    from app.workflows import orders as order_flow

    person = _professional(world)
    order = order_flow.place_order(_paid_class(world), factories.actor_for(person, R.PROFESSIONAL, world.unit))
    return person, order


def order_place(app, client, world):
    item = _paid_class(world)
    _logged_in_as(client, _professional(world), R.PROFESSIONAL)
    return Case(f"/learning/order/{item.id}", {}, _orders(0))


def order_cancel(app, client, world):
    person, order = _pending_order(world)
    _logged_in_as(client, person, R.PROFESSIONAL)
    return Case(f"/learning/order/{order.id}/cancel", {}, _order_state(order.id, "pending"))


def payment_sim_scan(app, client, world):
    """The simulated provider's button (the phone) is a form of a page: a forged POST pays nothing."""
    _person, order = _pending_order(world)
    client.get(f"/pay/sim/{order.number}")
    return Case(f"/pay/sim/{order.number}", {}, _order_state(order.id, "pending"))


def _paid_order(world):
    from app.payments import SimulatedProvider
    from app.workflows import orders as order_flow

    _person, order = _pending_order(world)
    assert order_flow.handle_callback("simulated", *SimulatedProvider().notice(order)).outcome == "paid"
    return order


def class_orders_refund(app, client, world):
    order = _paid_order(world)
    _logged_in_as(client, world.base_admin, R.BASE_ADMIN)
    return Case(f"/base/class-orders/refund/{order.id}", {"reason": "伪造的退款"}, _order_state(order.id, "paid"))


def class_orders_review_refund(app, client, world):
    order = _paid_order(world)
    _logged_in_as(client, world.city_admin, R.HR_ADMIN)
    return Case(f"/review/class-orders/refund/{order.id}", {"reason": "伪造的退款"}, _order_state(order.id, "paid"))


CASES.update({"OrderView.place": order_place, "OrderView.cancel": order_cancel,
              "PaymentView.sim_page": payment_sim_scan, "ClassOrdersView.refund": class_orders_refund,
              "ClassOrdersReviewView.refund": class_orders_review_refund})

# POST routes exempt from CSRF by design, each with the reason and what protects it instead.
CSRF_EXEMPT = {
    "PaymentView.notify": "a payment provider's server posts its asynchronous notice without a session or a token; "
                          "the notice's HMAC signature, its unique nonce and the order's amount authenticate it "
                          "(tests/test_orders.py)",
    # issue 12: the REST API's blueprints are exempt from CSRFProtect (FAB's BaseApi) because a bearer token is not
    # ambient authority; app.api.base.before_api_request checks the CSRF token itself whenever a session cookie comes
    # with a POST (tests/test_api.py::test_every_api_post_with_a_session_cookie_needs_the_csrf_token)
    **{f"{view}.{name}": "token authentication; a cookie session's POST is checked by before_api_request"
       for view, names in (("ApiAuth", ("login", "refresh", "logout")),
                           ("ApiMe", ("title_change", "declare", "submit", "withdraw", "attachments", "certificate")),
                           ("ApiReview", ("decide", "batch")))
       for name in names},
}


def test_csrf_exempt_routes_are_exactly_the_declared_ones(app, client, fast_world):
    """The callback takes no token (a provider has no session) but refuses an unsigned notice: "fail", nothing
    changes. Every other POST route is covered by a case above (test_every_mutating_route_has_a_case)."""
    from app.extensions import csrf

    exempt = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods
              and (f"{app.view_functions[rule.endpoint].__module__}.{app.view_functions[rule.endpoint].__name__}"
                   in csrf._exempt_views or app.blueprints.get(rule.endpoint.split(".")[0]) in csrf._exempt_blueprints)}
    assert exempt == set(CSRF_EXEMPT)
    _person, order = _pending_order(fast_world)
    before = state_snapshot()
    body = ('{"order_number":"%s","amount":"128.00","transaction_id":"T1","nonce":"abcdefgh12345678",'
            '"status":"SUCCESS","timestamp":"1"}' % order.number)
    response = client.post("/pay/notify/simulated", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.get_data(as_text=True) == "fail"
    assert_unchanged(before)
    _order_state(order.id, "pending")()


# ------------------------------------------------------------------ issue 11: learning (heartbeats, pop-ups, quizzes)

def _learner(client, world, *, section_done: bool = False):
    """A professional enrolled in a small class, its first lesson started (the clock running), and with
    `section_done` the first section's lessons complete (its quiz open). Returns (account, class data, enrolment)."""
    import datetime
    import json

    from app.models import LessonProgress
    from app.workflows import learning as learning_flow
    from tests.learning_data import make_class

    person = _professional(world)
    data = make_class(world)
    actor = factories.actor_for(person, R.PROFESSIONAL, world.unit)
    enrolment = learning_flow.enrol(data["class"], person_of(person), actor)
    db.session.commit()
    learning_flow.heartbeat(enrolment, data["a1"], 0, actor)
    if section_done:
        for lesson in (data["a1"], data["a2"]):
            db.session.merge(LessonProgress(enrolment_id=enrolment.id, lesson_id=lesson.id, watched=lesson.duration,
                                            answered_json=json.dumps([q.id for q in lesson.popups]),
                                            completed_at=datetime.datetime(YEAR, 1, 2)))
        db.session.commit()
        learning_flow.start_quiz(enrolment, data["a"], actor)  # the section moves to its quiz
    _logged_in_as(client, person, R.PROFESSIONAL)
    return person, data, enrolment


def _progress_of(enrolment_id: int, lesson_id: int):
    from app.models import LessonProgress

    row = db.session.execute(select(LessonProgress.watched, LessonProgress.beat_at, LessonProgress.answered_json)
                             .where(LessonProgress.enrolment_id == enrolment_id,
                                    LessonProgress.lesson_id == lesson_id)).one()

    def check():
        db.session.expire_all()
        assert db.session.execute(select(LessonProgress.watched, LessonProgress.beat_at, LessonProgress.answered_json)
                                  .where(LessonProgress.enrolment_id == enrolment_id,
                                         LessonProgress.lesson_id == lesson_id)).one() == row
    return check


def learning_beat(app, client, world):
    _person, data, enrolment = _learner(client, world)
    return Case("/learning/beat", {"enrolment_id": str(enrolment.id), "lesson_id": str(data["a1"].id),
                                   "position": "5"}, _progress_of(enrolment.id, data["a1"].id))


def learning_popup(app, client, world):
    _person, data, enrolment = _learner(client, world)
    return Case("/learning/popup", {"enrolment_id": str(enrolment.id), "question_id": str(data["popup"].id),
                                    "choice": "0"}, _progress_of(enrolment.id, data["a1"].id))


def learning_quiz(app, client, world):
    from app.models import QuizAttempt

    _person, data, enrolment = _learner(client, world, section_done=True)

    def check():
        assert db.session.scalar(select(func.count(QuizAttempt.id))) == 0
    return Case(f"/learning/quiz/{enrolment.id}/{data['a'].id}",
                {f"q{data['q1'].id}": "2", f"q{data['q2'].id}": "0"}, check)


CASES.update({"LearningView.beat": learning_beat, "LearningView.popup": learning_popup,
              "LearningView.quiz": learning_quiz})


# issue 12: delegation of review rights (X9): create, revoke, the deputy's switch
def _delegation(world, *, save: bool):
    from app import clock
    from app.workflows import delegation as delegation_flow
    from tests.helpers import second_admin

    deputy = membership_of(second_admin(world, "代理管理员"), world.unit)
    item = None
    if save:
        item = delegation_flow.create(factories.actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit), deputy.id,
                                      clock.today(), clock.today())
    return deputy, item


def delegation_create(app, client, world):
    from app import clock
    from app.models import Delegation

    deputy, _ = _delegation(world, save=False)
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        assert db.session.scalar(select(func.count()).select_from(Delegation)) == 0
    return Case("/delegations/new", {"deputy_id": str(deputy.id), "start_date": clock.today().isoformat(),
                                     "end_date": clock.today().isoformat()}, check)


def delegation_revoke(app, client, world):
    from app.models import Delegation

    _, item = _delegation(world, save=True)
    _logged_in_as(client, world.unit_admin, R.UNIT_ADMIN)

    def check():
        db.session.expire_all()
        assert db.session.get(Delegation, item.id).state == "active"
    return Case(f"/delegations/{item.id}/revoke", {}, check)


def delegation_act(app, client, world):
    deputy, item = _delegation(world, save=True)
    _logged_in_as(client, deputy.user, R.UNIT_ADMIN)

    def check():
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "delegation.act")) == 0
    return Case("/delegations/act", {"id": str(item.id)}, check)


CASES.update({"DelegationView.create": delegation_create, "DelegationView.revoke": delegation_revoke,
              "DelegationView.act": delegation_act})
