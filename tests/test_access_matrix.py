"""T2: the access matrix, generated from the URL map.

Every endpoint of the app is classified below as public, self-service (any logged-in role) or restricted to
named roles. A route added later fails `test_every_route_is_classified` until it is put in one of the tables;
from then on it is requested by every role that lacks it.

Each refused request names records in ANOTHER org (the world's other_unit / other_district) and must change
nothing: registrations, memberships, passwords, orgs, people, regions and the audit trail of transitions stay
as they were. Then the scope part: the admins who DO hold a permission, acting on another org's records.
"""
from __future__ import annotations

import datetime
import itertools
import os

import pytest
from sqlalchemy import and_, func, or_, select, update
from werkzeug.security import generate_password_hash

from app import clock
from app.extensions import db
from app.models import (Account, AnnualStandard, Attachment, AuditLog, BaseReport, BaseReportLine, Certificate,
                        Declaration, HourRecord, LearningForm, Membership, MembershipState, Org, OrgKind, OrgRole,
                        Person,
                        Region, Registration, RegistrationState, RoleName, Transfer, YearSummary)
from app.models import ChangeAttachment, IdentityCorrection, TitleChange  # issue 4: P6, P7, S3
from app.models import OrgChange  # issue 4: state machine 5
from app.workflows import base_reports as report_flow
from app.workflows import declaration as decl_flow
from app.workflows import registration as reg_flow
from tests import factories
from tests.conftest import _truncate, csrf_from, login

R = RoleName
ANONYMOUS = "anonymous"
ALL_ROLES = [r.value for r in RoleName] + [ANONYMOUS]
REVIEWERS = frozenset({R.UNIT_ADMIN.value, R.DEPT_ADMIN.value, R.HR_ADMIN.value})
NOBODY: frozenset = frozenset()

# ------------------------------------------------------------------ the classification

PUBLIC = {
    "static", "appbuilder.static", "HomeIndexView.index", "LocaleView.index", "UtilView.back",
    "AuthView.login", "AuthView.pick_role", "AuthView.logout", "AuthView.captcha", "AuthView.forgot",
    "AuthView.reset",
    "PublicView.register_person", "PublicView.register_org", "PublicView.progress", "PublicView.withdraw",
    "PublicView.orgs", "PublicView.help",
    "VerifyView.index", "VerifyView.lookup",  # X6 / H6 certificate verification
}
SELF_SERVICE = {"HomeView.index", "AccountView.password", "AccountView.role", "ChangeAttachmentView.download"}


def _fab(view: str, **allowed: frozenset) -> dict[str, frozenset]:
    """The eight routes FAB generates for a ModelView; those not named are allowed to nobody."""
    names = ("list", "show", "add", "edit", "delete", "download", "action", "action_post")
    return {f"{view}.{name}": allowed.get(name, NOBODY) for name in names}


ADMINS_AND_SYSADMIN = REVIEWERS | {R.SYSADMIN.value}
ADMINS_AND_SUPPORT = REVIEWERS | {R.SUPPORT.value}
SUPPORT_STAFF = frozenset({R.SUPPORT.value, R.SYSADMIN.value})
SYSADMIN = frozenset({R.SYSADMIN.value})
AUDITOR = frozenset({R.AUDITOR.value})
PROFESSIONAL = frozenset({R.PROFESSIONAL.value})
HR = frozenset({R.HR_ADMIN.value})
BASE_ADMIN = frozenset({R.BASE_ADMIN.value})

# endpoint -> the roles that may use it (the policy written out by hand, not read back from app.security)
RESTRICTED: dict[str, frozenset] = {
    "RegistrationReviewView.index": REVIEWERS,
    "RegistrationReviewView.decide": REVIEWERS,
    "RegistrationReviewView.detail": REVIEWERS,     # issue 8: a queue row's detail page, its decision, the org's
    "RegistrationReviewView.decide_one": REVIEWERS,  # licence scan (out of scope: tests/test_registration_detail.py)
    "RegistrationReviewView.licence": REVIEWERS,
    **_fab("OrgModelView", list=ADMINS_AND_SYSADMIN, show=ADMINS_AND_SYSADMIN),
    **_fab("StaffModelView", list=ADMINS_AND_SUPPORT, show=ADMINS_AND_SUPPORT, action=ADMINS_AND_SUPPORT,
           action_post=ADMINS_AND_SUPPORT),
    **_fab("RegionModelView", list=SYSADMIN, show=SYSADMIN, add=SYSADMIN, edit=SYSADMIN),
    **_fab("AuditLogModelView", list=AUDITOR, show=AUDITOR),
    "SupportView.lookup": SUPPORT_STAFF,
    "SupportView.account": SUPPORT_STAFF,
    "SupportView.assign": SUPPORT_STAFF,
    "SupportView.revoke": SUPPORT_STAFF,
    "SupportView.reset_password": SUPPORT_STAFF,
    "MenuApi.get_menu_data": NOBODY,  # FAB's menu API: no role is granted it
    # issue 3: the professional's own hours (P8-P11); the routes name no person, the view uses the session's
    **{f"HoursView.{name}": PROFESSIONAL for name in ("index", "declare", "edit", "detail", "act", "annual",
                                                      "annual_detail", "standards", "print_pdf")},
    "AttachmentView.download": PROFESSIONAL | REVIEWERS,
    "DeclarationReviewView.index": REVIEWERS,
    "DeclarationReviewView.detail": REVIEWERS,
    "DeclarationReviewView.decide": REVIEWERS,
    "BaseReportView.index": BASE_ADMIN,
    "BaseReportView.new": BASE_ADMIN,
    "BaseReportView.show": BASE_ADMIN,
    "BaseReportReviewView.index": HR,
    "BaseReportReviewView.show": HR,
    "BaseReportReviewView.decide": HR,
    **_fab("AnnualStandardModelView", list=HR, show=HR, add=HR, edit=HR),
    **_fab("LearningFormModelView", list=HR, show=HR, add=HR, edit=HR),
    # issue 4: profile, title change and identity correction requests (P6, P7): the routes name no person but the
    # professional's own requests; personnel change review (U6, D4, H3); identity corrections by support only (S3)
    **{f"ProfileView.{name}": PROFESSIONAL for name in ("index", "title", "withdraw_title", "identity",
                                                        "withdraw_identity")},
    **{f"PersonnelReviewView.{name}": REVIEWERS for name in ("index", "detail", "decide")},
    **{f"IdentityReviewView.{name}": frozenset({R.SUPPORT.value}) for name in ("index", "detail", "decide")},
    # issue 4: unit transfer; the professional's routes name no person, the reviews only unit admins decide
    "TransferView.index": PROFESSIONAL,
    "TransferView.withdraw": PROFESSIONAL,
    **{f"TransferReviewView.{name}": frozenset({R.UNIT_ADMIN.value})
       for name in ("index", "decide", "start", "staff", "withdraw", "detail")},
}

# issue 4: org admins and roles (U3 / D3 / H2): every org admin; sub-units and the orgs below (U4 / H1)
ORG_ADMINS = REVIEWERS | BASE_ADMIN
RESTRICTED.update({f"OrgAdminsView.{name}": ORG_ADMINS for name in (
    "index", "add", "add_staff", "add_new", "add_existing", "make_super", "remove", "set_role", "roles", "edit_role",
    "delete_role")})
RESTRICTED.update({f"SubUnitView.{name}": REVIEWERS for name in ("index", "detail", "close", "remove_admin",
                                                                  "edit")})  # issue 8: profile of an org below
# issue 4: the org profile of the session's own org (U2 / D2), state machine 5 decided by the orgs above (reviewers),
# org merge and temporary credit codes by support staff only (S4)
RESTRICTED.update({f"OrgProfileView.{name}": ORG_ADMINS for name in ("index", "edit", "change", "withdraw")})
RESTRICTED.update({f"OrgChangeReviewView.{name}": REVIEWERS for name in ("index", "detail", "decide")})
RESTRICTED.update({f"SupportOrgView.{name}": frozenset({R.SUPPORT.value})
                   for name in ("index", "merge", "temporary_code")})

DENIED_CASES = [(role, endpoint) for endpoint, allowed in RESTRICTED.items() for role in ALL_ROLES
                if role not in allowed]

OTHER_PERSON_NAME = "乙校王老师"
OTHER_APPLICANT_NAME = "乙校李申请"
OTHER_DECLARATION_TITLE = "乙校王老师的进修申报"
OTHER_REPORT_TITLE = "乙区基地的培训班"
TAMPERED = "被篡改的名称"
YEAR = clock.today().year
PNG = factories.PNG  # a real image: uploads are checked by decoding them

# Test accounts get a cheap hash of factories.PASSWORD: logins still go through the real form and the real
# password check, without paying scrypt for each of the hundreds of logins below.
CHEAP_HASH = generate_password_hash(factories.PASSWORD, method="pbkdf2:sha256:1000")
_seq = itertools.count(1)


# ------------------------------------------------------------------ shared helpers (also used by test_csrf)

def state_snapshot() -> dict:
    """Everything a refused request must leave as it was (read as plain rows, never from the identity map)."""
    ex = db.session.execute
    transitions = or_(AuditLog.to_state.is_not(None), AuditLog.action.like("password.%"),
                      AuditLog.action.like("role.%"), AuditLog.action.like("registration.%"),
                      and_(AuditLog.result == "ok", or_(AuditLog.action.like("admin.%"),
                                                         AuditLog.action.like("org_role.%"))))
    return {
        "registrations": ex(select(Registration.id, Registration.state, Registration.decided_by_id)
                            .order_by(Registration.id)).all(),
        "memberships": ex(select(Membership.id, Membership.user_id, Membership.role, Membership.org_id,
                                 Membership.state, Membership.is_super, Membership.org_role_id)
                          .order_by(Membership.id)).all(),
        "org roles": ex(select(OrgRole.id, OrgRole.org_id, OrgRole.name, OrgRole.modules_json, OrgRole.active)
                        .order_by(OrgRole.id)).all(),
        "accounts": ex(select(Account.id, Account.username, Account.password, Account.must_change_password,
                              Account.active, Account.sessions_valid_after, Account.email)
                       .order_by(Account.id)).all(),
        "orgs": ex(select(Org.id, Org.name, Org.state, Org.parent_id, Org.path).order_by(Org.id)).all(),
        "people": ex(select(Person.id, Person.name, Person.unit_id, Person.user_id).order_by(Person.id)).all(),
        "regions": ex(select(Region.id, Region.code, Region.name).order_by(Region.id)).all(),
        "audit transitions": ex(select(AuditLog.action, AuditLog.object_type, AuditLog.object_id,
                                       AuditLog.from_state, AuditLog.to_state).where(transitions)
                                .order_by(AuditLog.id)).all(),
        "audit of hours": ex(select(AuditLog.action, AuditLog.object_id).where(or_(
            AuditLog.action.like("declaration.%"), AuditLog.action.like("base_report.%"),
            AuditLog.action.like("certificate.%"))).order_by(AuditLog.id)).all(),
        "declarations": ex(select(Declaration.id, Declaration.person_id, Declaration.state,
                                  Declaration.reviewer_org_id, Declaration.title, Declaration.hours,
                                  Declaration.year, Declaration.details_json, Declaration.reason)
                           .order_by(Declaration.id)).all(),
        "attachments": ex(select(Attachment.id, Attachment.declaration_id, Attachment.stored_name)
                          .order_by(Attachment.id)).all(),
        "uploaded files": uploaded_files(),
        "base reports": ex(select(BaseReport.id, BaseReport.base_id, BaseReport.state, BaseReport.reason)
                           .order_by(BaseReport.id)).all(),
        "base report lines": ex(select(BaseReportLine.id, BaseReportLine.person_id, BaseReportLine.hours)
                                .order_by(BaseReportLine.id)).all(),
        "hour records": ex(select(HourRecord.id, HourRecord.person_id, HourRecord.hours)
                           .order_by(HourRecord.id)).all(),
        "year summaries": ex(select(YearSummary.person_id, YearSummary.year, YearSummary.public_hours,
                                    YearSummary.professional_hours)
                             .order_by(YearSummary.person_id, YearSummary.year)).all(),
        "certificates": ex(select(Certificate.id, Certificate.person_id, Certificate.year, Certificate.kind)
                           .order_by(Certificate.id)).all(),
        "standards": ex(select(AnnualStandard.id, AnnualStandard.year, AnnualStandard.region_id,
                               AnnualStandard.public_min, AnnualStandard.professional_min,
                               AnnualStandard.total_min).order_by(AnnualStandard.id)).all(),
        "transfers": ex(select(Transfer.id, Transfer.person_id, Transfer.from_unit_id, Transfer.to_unit_id,
                               Transfer.state, Transfer.reason).order_by(Transfer.id)).all(),
        "title changes": ex(select(TitleChange.id, TitleChange.person_id, TitleChange.state, TitleChange.reason,
                                   TitleChange.after_json).order_by(TitleChange.id)).all(),
        "identity corrections": ex(select(IdentityCorrection.id, IdentityCorrection.user_id, IdentityCorrection.state,
                                          IdentityCorrection.new_name, IdentityCorrection.new_id_number)
                                   .order_by(IdentityCorrection.id)).all(),
        "change attachments": ex(select(ChangeAttachment.id, ChangeAttachment.owner_type, ChangeAttachment.owner_id,
                                        ChangeAttachment.stored_name).order_by(ChangeAttachment.id)).all(),
        "person details": ex(select(Person.id, Person.id_number, Person.school, Person.major, Person.title_series,
                                    Person.title_level, Person.title_name, Person.title_date, Person.title_cert_no,
                                    Person.vocational_qualifications).order_by(Person.id)).all(),
        "org profiles": ex(select(Org.id, Org.credit_code, Org.temporary_code, Org.merged_into_id, Org.region_id,
                                  Org.phone, Org.address, Org.contact, Org.nature, Org.industry, Org.description)
                           .order_by(Org.id)).all(),
        "org changes": ex(select(OrgChange.id, OrgChange.org_id, OrgChange.state, OrgChange.new_parent_id,
                                 OrgChange.new_credit_code, OrgChange.old_decided_by_id, OrgChange.new_decided_by_id,
                                 OrgChange.reason).order_by(OrgChange.id)).all(),
        "learning forms": ex(select(LearningForm.id, LearningForm.code, LearningForm.name, LearningForm.group,
                                    LearningForm.fields_json, LearningForm.max_hours, LearningForm.year_cap,
                                    LearningForm.active).order_by(LearningForm.id)).all(),
    }


def uploaded_files() -> list[str]:
    """The evidence files on disk (UPLOAD_FOLDER), to show that a refused upload wrote nothing."""
    from flask import current_app

    root = current_app.config["UPLOAD_FOLDER"]
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def assert_unchanged(before: dict) -> None:
    after = state_snapshot()
    for key in before:
        assert after[key] == before[key], f"{key} changed"


def token_for(client, logged_in: bool = True) -> str:
    """A valid CSRF token of the client's current session."""
    page = client.get("/account/password" if logged_in else "/login/")
    assert page.status_code == 200, page.status_code
    return csrf_from(page.get_data(as_text=True))


def cheap_passwords() -> None:
    db.session.execute(update(Account).where(Account.password == factories._HASH).values(password=CHEAP_HASH))
    db.session.commit()


def make_person(name: str, unit: Org, role: RoleName = R.PROFESSIONAL) -> Account:
    """An active professional of `unit` with a profile (a row of the staff screens)."""
    account = factories.make_account(name, [(role, unit)], person_unit=unit)
    cheap_passwords()
    return account


def register(unit: Org, name: str, account: Account | None = None) -> Registration:
    """A pending professional registration at `unit`, through the workflow ("I am already a user")."""
    if account is None:
        account = factories.make_account(name)
        cheap_passwords()
    data = reg_flow.AccountData(id_type="resident_id", id_number=account.username, password=factories.PASSWORD,
                                confirm=None, name=name, email=account.email, mobile="13912345678",
                                existing_user=True)
    return reg_flow.register_person(data, unit.id, {"department": "内科"})


def register_org(kind: OrgKind, parent: Org, name: str) -> Registration:
    """A pending org registration reviewed by `parent`'s admins."""
    from app.demo import make_credit_code

    account = factories.make_account("申请人")
    cheap_passwords()
    data = reg_flow.AccountData(id_type="resident_id", id_number=account.username, password=factories.PASSWORD,
                                confirm=None, name="申请人", email=account.email, mobile="13912345678",
                                existing_user=True)
    return reg_flow.register_org(kind, data, parent.id, {
        "name": name, "credit_code": make_credit_code("370102", 700000 + next(_seq)), "phone": "0531-88888888",
        "address": "测试路2号", "contact": "申请人"})


def learning_form(code: str = "training") -> LearningForm:
    return db.session.scalar(select(LearningForm).where(LearningForm.code == code))


def study_dates(year: int = YEAR) -> tuple[datetime.date, datetime.date]:
    """Three days of study in `year`, none in the future (a declaration counts in a year its dates touch)."""
    today = clock.today()
    end = min(today - datetime.timedelta(days=1), datetime.date(year, 12, 31))
    end = max(end, datetime.date(year, 1, 1))
    return max(end - datetime.timedelta(days=2), datetime.date(year, 1, 1)), end


def declaration_data(form: LearningForm | None = None, **overrides) -> dict:
    """A complete, valid declaration form of the seeded "training" form (organiser, location, dates)."""
    form = form or learning_form()
    year = str(overrides.get("year") or YEAR)
    start, end = study_dates(int(year) if year.isascii() and year.isdigit() and 1900 < int(year) < 9999 else YEAR)
    data = {"subject": "professional", "form_id": str(form.id), "year": str(YEAR), "title": "心血管病诊疗新进展培训班",
            "hours": "16", "start_date": start.isoformat(), "end_date": end.isoformat(), "f_organiser": "省卫健委",
            "f_location": "济南", "action": "draft"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def reviewers_of(world) -> dict[int, tuple[Account, RoleName]]:
    """The reviewing admin of each org of the world's chains."""
    return {world.unit.id: (world.unit_admin, R.UNIT_ADMIN), world.sub_unit.id: (world.sub_unit_admin, R.UNIT_ADMIN),
            world.dept.id: (world.dept_admin, R.DEPT_ADMIN), world.district.id: (world.district_admin, R.HR_ADMIN),
            world.other_unit.id: (world.other_unit_admin, R.UNIT_ADMIN),
            world.other_district.id: (world.other_district_admin, R.HR_ADMIN),
            world.city.id: (world.city_admin, R.HR_ADMIN)}


def make_declaration(world, account: Account, state: str = "pending_unit", *, title: str = "越权测试培训班",
                     hours: int = 8, year: int = YEAR, subject: str = "professional",
                     attach: bool = True) -> Declaration:
    """A declaration of `account` (a professional with a profile) brought to `state` through the workflow:
    saved (with a PNG as evidence), submitted, then approved / rejected by the reviewers of its chain."""
    person = person_of(account)
    data = decl_flow.DeclarationInput(subject, learning_form().id, year, title, str(hours), *study_dates(year),
                                      {"organiser": "省卫健委", "location": "济南"})
    actor = factories.actor_for(account, R.PROFESSIONAL, person.unit)
    item = decl_flow.save(actor, data, submit=state != "draft",
                          attachments=[("证书.png", PNG)] if attach else None)
    reviewers = reviewers_of(world)
    for _ in range(4):
        if item.state == state:
            return item
        admin, role = reviewers[item.reviewer_org_id]
        reviewer = factories.actor_for(admin, role, db.session.get(Org, item.reviewer_org_id))
        if state == "rejected":
            decl_flow.reject(item, reviewer, "证明材料不清晰")
        else:
            decl_flow.approve(item, reviewer)
    assert item.state == state, (item.state, state)
    return item


def make_report(base_admin: Account, base: Org, trainees: list[Account], *, title: str = "基地培训班",
                hours: int = 8) -> BaseReport:
    """A pending base report (B2) of `base` for the trainees, through the workflow."""
    actor = factories.actor_for(base_admin, R.BASE_ADMIN, base)
    return report_flow.submit_report(actor, title=title, subject="professional", form_id=learning_form().id,
                                     year=YEAR, start_date=None, end_date=None,
                                     lines_text="\n".join(f"{t.username} {hours}" for t in trainees))


def person_of(account: Account) -> Person:
    return db.session.scalar(select(Person).where(Person.user_id == account.id))


def password_of(account_id: int) -> str:
    return db.session.execute(select(Account.password).where(Account.id == account_id)).scalar_one()


def reg_state(reg_id: int) -> str:
    return db.session.execute(select(Registration.state).where(Registration.id == reg_id)).scalar_one()


def decisions_for(reg_id: int) -> list:
    return db.session.execute(select(AuditLog.action).where(
        AuditLog.object_type == "registration", AuditLog.object_id == reg_id,
        AuditLog.action.in_(["registration.approve", "registration.reject"]))).scalars().all()


def is_login_redirect(response) -> bool:
    return response.status_code in (302, 303) and "/login/" in response.headers.get("Location", "")


def log_in(client, username: str | None, role: str) -> str:
    """Log in through the real form (None: stay anonymous) and return a CSRF token of the session."""
    if username is None:
        return token_for(client, logged_in=False)
    response = login(client, username, role=role, follow=False)
    assert response.status_code == 302 and response.headers["Location"].endswith("/home/"), \
        f"login as {role} failed ({response.status_code})"
    return token_for(client)


@pytest.fixture()
def fast_world(world):
    cheap_passwords()
    return world


# ------------------------------------------------------------------ one shared world for the matrix

ROLE_ACCOUNTS = {
    R.UNIT_ADMIN.value: "unit_admin", R.DEPT_ADMIN.value: "dept_admin", R.HR_ADMIN.value: "district_admin",
    R.BASE_ADMIN.value: "base_admin", R.SUPPORT.value: "support", R.SYSADMIN.value: "sysadmin",
    R.AUDITOR.value: "auditor",
}
_matrix_cache: dict = {}


def _build_matrix() -> dict:
    world = factories.World.build()
    other = make_person(OTHER_PERSON_NAME, world.other_unit)
    professional = make_person("甲院张医生", world.unit)
    reg = register(world.other_unit, OTHER_APPLICANT_NAME)
    region = Region(code="370103", name="乙区")
    db.session.add(region)
    db.session.commit()
    # issue 3: another person's pending declaration with evidence, another base's report, another region's standard
    declaration = make_declaration(world, other, "pending_unit", title=OTHER_DECLARATION_TITLE)
    other_base = factories.make_org(OrgKind.BASE, "乙区培训基地", world.other_district)
    other_base_admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, other_base)])
    report = make_report(other_base_admin, other_base, [other], title=OTHER_REPORT_TITLE)
    standard = AnnualStandard(year=YEAR, region_id=region.id, public_min=20, professional_min=50, total_min=70)
    db.session.add(standard)
    db.session.commit()
    # issue 4: another unit's person applying to move to a third unit of the other district
    from app.workflows import transfer as transfer_flow

    mover = make_person("乙校调转人", world.other_unit)
    third_unit = factories.make_org(OrgKind.UNIT, "乙区第二中学", world.other_district)
    transfer = transfer_flow.submit(factories.actor_for(mover, R.PROFESSIONAL, world.other_unit), third_unit.id)
    # issue 4: another unit's admin membership and org-defined role
    from app.workflows import admins as admin_flow

    other_org_role = admin_flow.create_role(factories.actor_for(world.other_unit_admin, R.UNIT_ADMIN, world.other_unit),
                                            "乙校审核员", ["registrations"])
    # issue 4: the other unit's person's pending title change and identity correction, each with its evidence
    from app.workflows import identity as id_flow
    from app.workflows import title_change as title_flow

    other_actor = factories.actor_for(other, R.PROFESSIONAL, world.other_unit)
    title_change = title_flow.submit(other_actor, {"title_series": "中小学教师", "title_level": "副高级",
                                                   "title_name": "高级教师", "title_cert_no": "GJ-2025-1"},
                                     [("乙校职称证书.png", PNG)])
    correction = id_flow.submit(other_actor, "乙校王老帅", factories.new_id_number(), [("乙校身份证.png", PNG)])
    # issue 4: another district's unit asking for a new credit code (pending with its org above, other_district)
    from app.demo import make_credit_code
    from app.workflows import org_change as org_change_flow

    changing_unit = factories.make_org(OrgKind.UNIT, "乙区职业学校", world.other_district)
    changing_admin = factories.make_account("乙区职校管理员", [(R.UNIT_ADMIN, changing_unit)])
    org_change = org_change_flow.request_change(
        factories.actor_for(changing_admin, R.UNIT_ADMIN, changing_unit),
        org_change_flow.ChangeRequest(credit_code=make_credit_code("370103", 660001), parent_id=None))
    users = {role: getattr(world, attr).username for role, attr in ROLE_ACCOUNTS.items()}
    users[R.PROFESSIONAL.value] = professional.username
    users[ANONYMOUS] = None
    return {
        "users": users,
        "unit_admin_id": world.unit_admin.id,
        "other_unit": world.other_unit.id,
        "other_account": other.id,
        "other_username": other.username,
        "other_person": person_of(other).id,
        "other_membership": db.session.scalar(select(Membership.id).where(Membership.user_id == other.id)),
        "other_reg": reg.id,
        "region": region.id,
        "audit_id": db.session.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1)),
        "other_declaration": declaration.id,
        "other_attachment": db.session.scalar(select(Attachment.id).where(
            Attachment.declaration_id == declaration.id)),
        "other_report": report.id,
        "other_standard": standard.id,
        "learning_form": learning_form().id,
        "other_title_change": title_change.id,
        "other_correction": correction.id,
        "other_change_file": db.session.scalar(select(ChangeAttachment.id).where(
            ChangeAttachment.owner_type == "title_change", ChangeAttachment.owner_id == title_change.id)),
        "other_admin": db.session.scalar(select(Membership.id).where(Membership.user_id == world.other_unit_admin.id)),
        "other_org_role": other_org_role.id,
        "other_transfer": transfer.id,
        "third_unit": third_unit.id,
        "other_org_change": org_change.id,
    }


@pytest.fixture(scope="module")
def _matrix_module(app):
    yield _matrix_cache
    _matrix_cache.clear()
    with app.app_context():
        db.session.remove()
        _truncate(db)


@pytest.fixture()
def matrix(app, _matrix_module):
    """Read-only tests share one world (built once per module and worker): they assert that nothing changes.

    Tests elsewhere empty the tables after themselves; the world is rebuilt when it has gone.
    """
    with app.app_context():
        data = _matrix_module
        if not data or db.session.get(Account, data["unit_admin_id"]) is None:
            db.session.remove()
            _truncate(db)
            data.clear()
            data.update(_build_matrix())
        yield data
        db.session.rollback()
        db.session.remove()


def client_as(app, matrix: dict, role: str):
    """A client logged in as `role` through the real form, and a CSRF token of its session.

    The session cookie is logged in once per role and world, then replayed: the requests of the matrix are
    refused and change nothing, so the session stays valid (a broken one shows as a login redirect).
    """
    client = app.test_client()
    cached = matrix.setdefault("sessions", {}).get(role)
    if cached is None:
        token = log_in(client, matrix["users"][role], role)
        cookie = client.get_cookie("session")
        cached = matrix["sessions"][role] = (cookie.value if cookie else None, token)
    elif cached[0] is not None:
        client.set_cookie("session", cached[0])
    return client, cached[1]


# URL parameters with several values: each value is its own request (every action, every kind of PDF)
VARIANTS = {"action": ("submit", "withdraw", "delete"), "kind": ("completion", "register")}


def urls_and_forms(app, endpoint: str, data: dict) -> list[tuple[str, dict]]:
    """The URLs of `endpoint` with parameters naming another org's records, each with a plausible form."""
    from flask import url_for

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    view = endpoint.split(".")[0]
    pk = {"OrgModelView": data["other_unit"], "StaffModelView": data["other_person"],
          "RegionModelView": data["region"], "AuditLogModelView": data["audit_id"],
          "AnnualStandardModelView": data["other_standard"],
          "LearningFormModelView": data["learning_form"]}.get(view)
    values = {"pk": pk, "name": "reset_password", "filename": "export.csv", "account_id": data["other_account"],
              "membership_id": data["other_membership"], "declaration_id": data["other_declaration"],
              "attachment_id": data["other_attachment"], "report_id": data["other_report"], "year": YEAR,
              "transfer_id": data["other_transfer"],
              "admin_id": data["other_admin"], "role_id": data["other_org_role"], "org_id": data["other_unit"]}
    values.update(change_id=data["other_title_change"], correction_id=data["other_correction"])
    values["org_change_id"] = data["other_org_change"]
    values["registration_id"] = data["other_reg"]
    if view == "ChangeAttachmentView":  # the other unit's title change evidence
        values["attachment_id"] = data["other_change_file"]
    form = {
        "RegistrationReviewView.decide": {"ids": str(data["other_reg"]), "action": "approve"},
        "RegistrationReviewView.decide_one": {"action": "approve"},
        "SupportView.assign": {"role": R.UNIT_ADMIN.value, "org_id": str(data["other_unit"])},
        "SupportView.lookup": {"id_number": data["other_username"]},
        "HoursView.declare": {"form_id": str(data["learning_form"]), "title": TAMPERED, "action": "submit"},
        "HoursView.edit": {"form_id": str(data["learning_form"]), "title": TAMPERED, "action": "submit"},
        "DeclarationReviewView.decide": {"ids": str(data["other_declaration"]), "action": "approve"},
        "BaseReportReviewView.decide": {"action": "approve"},
        "BaseReportView.new": {"title": TAMPERED, "subject": "professional", "form_id": str(data["learning_form"]),
                               "year": str(YEAR), "lines": f"{data['other_username']} 8"},
        "AnnualStandardModelView.add": {"year": str(YEAR), "region": str(data["region"]), "public_min": "1",
                                        "professional_min": "1", "total_min": "2"},
        "AnnualStandardModelView.edit": {"year": str(YEAR), "region": str(data["region"]), "public_min": "1",
                                         "professional_min": "1", "total_min": "2"},
        "LearningFormModelView.add": {"code": "tampered", "name": TAMPERED, "group": "training",
                                      "fields_json": "[]", "max_hours": "500", "active": "y"},
        "LearningFormModelView.edit": {"code": "tampered", "name": TAMPERED, "group": "training",
                                       "fields_json": "[]", "max_hours": "500", "active": "y"},
        "TransferView.index": {"to_unit_id": str(data["third_unit"]), "note": TAMPERED},
        "OrgAdminsView.add_staff": {"person_id": str(data["other_person"])},
        "OrgAdminsView.add_new": {"id_type": "resident_id", "id_number": factories.new_id_number(), "name": TAMPERED,
                                  "email": "tampered@example.cn", "mobile": "13912345670",
                                  "password": "Tamper#2026x", "confirm": "Tamper#2026x"},
        "OrgAdminsView.add_existing": {"id_number": data["other_username"], "password": factories.PASSWORD},
        "OrgAdminsView.set_role": {"org_role_id": str(data["other_org_role"])},
        "OrgAdminsView.roles": {"name": TAMPERED, "modules": "staff"},
        "OrgAdminsView.edit_role": {"name": TAMPERED, "modules": "staff"},
        "TransferReviewView.decide": {"ids": str(data["other_transfer"]), "action": "approve"},
        "TransferReviewView.start": {"person_id": str(data["other_person"]), "to_unit_id": str(data["third_unit"])},
        "ProfileView.index": {"gender": "M", "ethnicity": "汉族", "education": "大学本科", "school": TAMPERED,
                              "major": TAMPERED, "degree": "学士"},
        "ProfileView.title": {"title_series": "卫生技术", "title_level": "正高级", "title_name": TAMPERED},
        "ProfileView.identity": {"new_name": "篡改姓名", "new_id_number": data["other_username"]},
        "PersonnelReviewView.decide": {"ids": str(data["other_title_change"]), "action": "approve"},
        "IdentityReviewView.decide": {"action": "approve"},
        "OrgProfileView.edit": {"phone": "0531-0000000", "address": TAMPERED, "description": TAMPERED},
        "SubUnitView.edit": {"name": TAMPERED, "phone": "0531-0000000", "address": TAMPERED,
                             "credit_code": _valid_code(660003), "parent_id": str(data["third_unit"])},
        "OrgProfileView.change": {"credit_code": _valid_code(660002),
                                   "parent_id": str(data["other_unit"])},
        "OrgChangeReviewView.decide": {"ids": str(data["other_org_change"]), "action": "approve"},
        "SupportOrgView.merge": {"source_id": str(data["other_unit"]), "target_id": str(data["third_unit"]),
                                 "confirm": "y"},
    }.get(endpoint)
    if endpoint.startswith("HoursView.") and form is not None:
        form = declaration_data(db.session.get(LearningForm, data["learning_form"]), **form)
    if form is None and endpoint.endswith(".action_post"):
        form = {"action": "reset_password", "rowid": str(pk)}
    if form is None and endpoint.split(".")[1] in ("add", "edit"):
        form = {"name": TAMPERED, "code": "370199"}
    names = sorted(rule.arguments)
    choices = [VARIANTS[name] if name in VARIANTS else (values[name],) for name in names]
    with app.test_request_context():
        return [(url_for(endpoint, **dict(zip(names, combo))), form or {}) for combo in itertools.product(*choices)]


def _valid_code(seq: int) -> str:
    from app.demo import make_credit_code

    return make_credit_code("370103", seq)


def url_and_form(app, endpoint: str, data: dict) -> tuple[str, dict]:
    return urls_and_forms(app, endpoint, data)[0]


def methods_of(app, endpoint: str) -> list[str]:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    return sorted(rule.methods & {"GET", "POST"})


# ------------------------------------------------------------------ the matrix

def test_every_route_is_classified(app):
    """A new route fails here until it is declared public, self-service or restricted to named roles."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    tables = [PUBLIC, SELF_SERVICE, set(RESTRICTED)]
    unclassified = endpoints - set().union(*tables)
    assert not unclassified, f"classify these endpoints in tests/test_access_matrix.py: {sorted(unclassified)}"
    stale = set().union(*tables) - endpoints
    assert not stale, f"classified endpoints that no longer exist: {sorted(stale)}"
    assert not (PUBLIC & SELF_SERVICE) and not (PUBLIC & set(RESTRICTED)) and not (SELF_SERVICE & set(RESTRICTED))


@pytest.mark.parametrize("role,endpoint", DENIED_CASES, ids=[f"{r}-{e}" for r, e in DENIED_CASES])
def test_role_without_permission_is_refused(app, matrix, role, endpoint):
    client, token = client_as(app, matrix, role)
    before = state_snapshot()
    for url, form in urls_and_forms(app, endpoint, matrix):
        for method in methods_of(app, endpoint):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data={"csrf_token": token, **form})
            where = f"{method} {url}: {response.status_code} {response.headers.get('Location')}"
            if role == ANONYMOUS:
                # pages send the visitor to the login form; FAB's JSON API answers 401
                expected_api = endpoint.startswith("MenuApi.") and response.status_code == 401
                assert is_login_redirect(response) or expected_api, where
            else:
                # 404 only where the URL names nothing of the view (FAB action names a view does not have)
                assert response.status_code == 403 or (response.status_code == 404 and ".action" in endpoint), where
                body = response.get_data(as_text=True)
                for secret in (OTHER_PERSON_NAME, OTHER_APPLICANT_NAME, OTHER_DECLARATION_TITLE, OTHER_REPORT_TITLE):
                    assert secret not in body, where
            assert_unchanged(before)


PERMITTED_PAGES = [(role, endpoint) for endpoint in ("RegistrationReviewView.index", "OrgModelView.list",
                                                     "StaffModelView.list", "RegionModelView.list",
                                                     "AuditLogModelView.list", "SupportView.lookup",
                                                     "SupportView.account", "HoursView.index", "HoursView.declare",
                                                     "HoursView.annual", "HoursView.standards",
                                                     "DeclarationReviewView.index", "BaseReportView.index",
                                                     "BaseReportView.new", "BaseReportReviewView.index",
                                                     "AnnualStandardModelView.list", "LearningFormModelView.list",
                                                     "ProfileView.index", "ProfileView.title", "ProfileView.identity",
                                                     "PersonnelReviewView.index", "IdentityReviewView.index",
                                                     "OrgAdminsView.index", "OrgAdminsView.roles", "SubUnitView.index",
                                                     "OrgProfileView.index", "OrgChangeReviewView.index",
                                                     "SupportOrgView.index")
                   for role in sorted(RESTRICTED[endpoint])]


@pytest.mark.parametrize("role,endpoint", PERMITTED_PAGES, ids=[f"{r}-{e}" for r, e in PERMITTED_PAGES])
def test_role_with_permission_reaches_its_pages(app, matrix, role, endpoint):
    """The other side of the matrix: the roles that hold a page get it (so the refusals above mean something)."""
    client = app.test_client()
    log_in(client, matrix["users"][role], role)
    url, _ = url_and_form(app, endpoint, matrix)
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("endpoint", sorted(SELF_SERVICE))
def test_self_service_needs_a_login(app, matrix, endpoint):
    url, _ = url_and_form(app, endpoint, matrix)
    assert is_login_redirect(app.test_client().get(url))


@pytest.mark.parametrize("role", [r.value for r in RoleName])
def test_self_service_open_to_every_role(app, matrix, role):
    client = app.test_client()
    log_in(client, matrix["users"][role], role)
    assert client.get("/home/").status_code == 200
    assert client.get("/account/password").status_code == 200


@pytest.mark.parametrize("role", [R.PROFESSIONAL, R.UNIT_ADMIN, R.DEPT_ADMIN, R.HR_ADMIN, R.BASE_ADMIN,
                                  R.AUDITOR])
def test_support_endpoints_refuse_other_roles(app, matrix, role):
    """Support actions (reset, grant, revoke, look up) by anyone but support staff: 403, nothing changed."""
    client = app.test_client()
    token = log_in(client, matrix["users"][role.value], role.value)
    account, membership = matrix["other_account"], matrix["other_membership"]
    before = state_snapshot()
    for url, data in ((f"/support/accounts/{account}/reset-password", {}),
                      (f"/support/accounts/{account}/roles", {"role": R.SUPPORT.value}),
                      (f"/support/memberships/{membership}/revoke", {}),
                      ("/support/accounts", {"id_number": matrix["other_username"]})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert client.get(f"/support/accounts/{account}").status_code == 403
    assert_unchanged(before)


def test_unknown_fab_action_is_not_found(app, matrix):
    """An action name a view does not have is a 404 (FAB itself answers with a 500)."""
    client = app.test_client()
    token = log_in(client, matrix["users"][R.SYSADMIN.value], R.SYSADMIN.value)
    before = state_snapshot()
    for url, data in ((f"/orgs/action/delete_all/{matrix['other_unit']}", {}),
                      ("/orgs/action_post", {"action": "nope", "rowid": str(matrix["other_unit"])}),
                      (f"/regions/action/nope/{matrix['region']}", {})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 404, url
    assert_unchanged(before)


# ------------------------------------------------------------------ scope: permitted roles, another org's records

def decide(client, token: str, reg_id: int, action: str):
    data = {"csrf_token": token, "ids": str(reg_id), "action": action}
    if action == "reject":
        data["reason"] = "材料不全"
    return client.post("/review/registrations/decide", data=data)


# (acting admin, role, the org the registration is addressed to, what registers there)
OUT_OF_SCOPE = [
    ("unit_admin", R.UNIT_ADMIN, "other_unit", "person"),
    ("unit_admin", R.UNIT_ADMIN, "dept", "unit"),              # upwards: a unit under the parent department
    ("sub_unit_admin", R.UNIT_ADMIN, "unit", "person"),        # a sub-unit's admin and the parent unit
    ("dept_admin", R.DEPT_ADMIN, "other_unit", "person"),
    ("dept_admin", R.DEPT_ADMIN, "district", "department"),    # upwards
    ("district_admin", R.HR_ADMIN, "other_district", "unit"),
    ("district_admin", R.HR_ADMIN, "other_unit", "person"),
    ("other_district_admin", R.HR_ADMIN, "unit", "person"),
]


@pytest.mark.parametrize("action", ["approve", "reject"])
@pytest.mark.parametrize("admin,role,where,kind", OUT_OF_SCOPE,
                         ids=[f"{a}-vs-{w}-{k}" for a, _, w, k in OUT_OF_SCOPE])
def test_reviewer_cannot_decide_another_orgs_registration(client, fast_world, admin, role, where, kind, action):
    world = fast_world
    org = getattr(world, where)
    reg = register(org, "越权申请人") if kind == "person" else register_org(OrgKind(kind), org, "越权测试单位")
    reg_id, membership_id = reg.id, reg.membership_id
    token = log_in(client, getattr(world, admin).username, role.value)
    assert "越权" not in client.get("/review/registrations/").get_data(as_text=True)  # not even listed
    before = state_snapshot()
    response = decide(client, token, reg_id, action)
    assert response.status_code in (302, 303, 403, 404)
    assert reg_state(reg_id) == RegistrationState.PENDING.value
    assert db.session.execute(select(Membership.state).where(Membership.id == membership_id)).scalar_one() \
        == MembershipState.PENDING.value
    assert decisions_for(reg_id) == []
    assert_unchanged(before)


# issue 8: the detail pages of queue rows (and what they serve) name a record by id; the roles that hold the page
# get a 404 for a record outside their subtree, whatever the method, and nothing changes
SCOPED_DETAILS = [(role, endpoint) for endpoint in ("RegistrationReviewView.detail", "RegistrationReviewView.decide_one",
                                                   "RegistrationReviewView.licence", "TransferReviewView.detail",
                                                   "PersonnelReviewView.detail", "OrgChangeReviewView.detail",
                                                   "DeclarationReviewView.detail", "SubUnitView.edit")
                  for role in sorted(RESTRICTED[endpoint])]


@pytest.mark.parametrize("role,endpoint", SCOPED_DETAILS, ids=[f"{r}-{e}" for r, e in SCOPED_DETAILS])
def test_detail_pages_of_another_orgs_records_are_not_found(app, matrix, role, endpoint):
    client, token = client_as(app, matrix, role)
    before = state_snapshot()
    for url, form in urls_and_forms(app, endpoint, matrix):
        for method in methods_of(app, endpoint):
            response = client.get(url) if method == "GET" else client.post(url, data={"csrf_token": token, **form})
            assert response.status_code == 404, f"{method} {url}: {response.status_code}"
            body = response.get_data(as_text=True)
            for secret in (OTHER_PERSON_NAME, OTHER_APPLICANT_NAME, OTHER_DECLARATION_TITLE):
                assert secret not in body
    assert_unchanged(before)


@pytest.mark.parametrize("admin,role,where", [
    ("unit_admin", R.UNIT_ADMIN, "sub_unit"),       # the parent unit's admin decides for its sub-unit
    ("dept_admin", R.DEPT_ADMIN, "sub_unit"),
    ("district_admin", R.HR_ADMIN, "unit"),
    ("city_admin", R.HR_ADMIN, "other_unit"),
])
def test_reviewer_decides_inside_the_subtree(client, fast_world, admin, role, where):
    """The subtree rule works downwards (the counterpart of the refusals above)."""
    world = fast_world
    reg = register(getattr(world, where), "下级申请人")
    token = log_in(client, getattr(world, admin).username, role.value)
    assert "下级申请人" in client.get("/review/registrations/").get_data(as_text=True)
    decide(client, token, reg.id, "approve")
    assert reg_state(reg.id) == RegistrationState.APPROVED.value
    assert decisions_for(reg.id) == ["registration.approve"]


@pytest.mark.parametrize("admin,role,unit", [
    ("unit_admin", R.UNIT_ADMIN, "unit"),
    ("dept_admin", R.DEPT_ADMIN, "unit"),
    ("district_admin", R.HR_ADMIN, "sub_unit"),
])
def test_nobody_approves_their_own_registration(client, fast_world, admin, role, unit):
    """An admin who registers as a professional inside their own scope cannot decide it."""
    world = fast_world
    account = getattr(world, admin)
    reg = register(getattr(world, unit), account.first_name, account=account)
    token = log_in(client, account.username, role.value)
    before = state_snapshot()
    for action in ("approve", "reject"):
        decide(client, token, reg.id, action)
    assert reg_state(reg.id) == RegistrationState.PENDING.value
    assert decisions_for(reg.id) == []
    assert_unchanged(before)


# ------------------------------------------------------------------ scope of the FAB screens

STAFF = {"unit": "甲院在编甲", "sub_unit": "分院在编乙", "other_unit": "乙校在编丙"}
WORLD_ORGS = ("city", "district", "other_district", "dept", "unit", "sub_unit", "other_unit", "base")


def people(world) -> dict[str, Account]:
    return {where: make_person(name, getattr(world, where)) for where, name in STAFF.items()}


# acting admin -> the world orgs whose rows (and staff) they see; every other org is out of scope
LIST_SCOPE = [
    ("sub_unit_admin", R.UNIT_ADMIN, {"sub_unit"}),
    ("unit_admin", R.UNIT_ADMIN, {"unit", "sub_unit"}),
    ("dept_admin", R.DEPT_ADMIN, {"dept", "unit", "sub_unit"}),
    ("district_admin", R.HR_ADMIN, {"district", "dept", "unit", "sub_unit"}),
    ("other_district_admin", R.HR_ADMIN, {"other_district", "other_unit"}),
]


@pytest.mark.parametrize("admin,role,visible", LIST_SCOPE, ids=[x[0] for x in LIST_SCOPE])
def test_fab_lists_show_only_the_subtree(client, fast_world, admin, role, visible):
    world = fast_world
    staff = {where: person_of(account) for where, account in people(world).items()}
    log_in(client, getattr(world, admin).username, role.value)
    orgs = client.get("/orgs/list/")
    assert orgs.status_code == 200
    html = orgs.get_data(as_text=True)
    for name in WORLD_ORGS:
        row = f'href="/orgs/show/{getattr(world, name).id}"'
        assert (row in html) == (name in visible), (name, name in visible)

    listing = client.get("/staff/list/")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    for where, person in staff.items():
        shown = where in visible
        assert (f'href="/staff/show/{person.id}"' in html) == shown, (person.name, shown)
        assert (person.name in html) == shown, (person.name, shown)
        if not shown:  # a filter on the name does not reach around the scope either
            filtered = client.get(f"/staff/list/?_flt_0_name={person.name}").get_data(as_text=True)
            assert f'href="/staff/show/{person.id}"' not in filtered


@pytest.mark.parametrize("admin,role", [("unit_admin", R.UNIT_ADMIN), ("dept_admin", R.DEPT_ADMIN),
                                        ("district_admin", R.HR_ADMIN)])
def test_fab_show_of_another_orgs_row_is_not_found(client, fast_world, admin, role):
    world = fast_world
    staff = people(world)
    other = person_of(staff["other_unit"])
    log_in(client, getattr(world, admin).username, role.value)
    for url, secret in ((f"/staff/show/{other.id}", STAFF["other_unit"]),
                        (f"/orgs/show/{world.other_unit.id}", world.other_unit.credit_code),
                        (f"/orgs/show/{world.other_district.id}", world.other_district.credit_code)):
        response = client.get(url)
        assert response.status_code in (302, 303, 404), (url, response.status_code)
        assert secret not in response.get_data(as_text=True)
    # the admin's own staff member is shown: the refusals are about scope, not a broken page
    mine = person_of(staff["unit"])
    assert STAFF["unit"] in client.get(f"/staff/show/{mine.id}").get_data(as_text=True)


@pytest.mark.parametrize("admin,role", [("unit_admin", R.UNIT_ADMIN), ("sub_unit_admin", R.UNIT_ADMIN),
                                        ("dept_admin", R.DEPT_ADMIN), ("district_admin", R.HR_ADMIN)])
def test_fab_reset_password_action_on_another_org_is_refused(client, fast_world, admin, role):
    world = fast_world
    staff = people(world)
    victims = [staff["other_unit"]] + ([staff["unit"]] if admin == "sub_unit_admin" else [])
    token = log_in(client, getattr(world, admin).username, role.value)
    before = state_snapshot()
    for victim in victims:
        pk = person_of(victim).id
        client.post(f"/staff/action/reset_password/{pk}", data={"csrf_token": token})
        client.post("/staff/action_post", data={"csrf_token": token, "action": "reset_password",
                                                "rowid": [str(pk)]})
        client.get(f"/staff/action/reset_password/{pk}")
    assert_unchanged(before)


def test_fab_reset_password_action_mixed_rows_only_touch_the_scope(client, fast_world):
    """One in-scope and one out-of-scope row in one action_post: only the in-scope password changes."""
    world = fast_world
    staff = people(world)
    mine, other = staff["sub_unit"], staff["other_unit"]
    mine_before, other_before = password_of(mine.id), password_of(other.id)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    client.post("/staff/action_post", data={"csrf_token": token, "action": "reset_password",
                                            "rowid": [str(person_of(other).id), str(person_of(mine).id)]})
    assert password_of(other.id) == other_before
    assert password_of(mine.id) != mine_before
    assert db.session.execute(select(Account.must_change_password).where(Account.id == mine.id)).scalar_one()


# ------------------------------------------------------------------ scope of issue 3: declarations, attachments

def declaration_row(item_id: int):
    return db.session.execute(select(Declaration.state, Declaration.reviewer_org_id, Declaration.title,
                                     Declaration.hours, Declaration.reason)
                              .where(Declaration.id == item_id)).one_or_none()


def attachment_of(item_id: int) -> int:
    return db.session.scalar(select(Attachment.id).where(Attachment.declaration_id == item_id))


def refused(response) -> bool:
    return response.status_code in (403, 404)


@pytest.mark.parametrize("state", ["draft", "pending_unit", "rejected", "approved"])
@pytest.mark.parametrize("owner_unit", ["unit", "other_unit"], ids=["colleague", "other-unit"])
def test_professional_cannot_touch_another_persons_declaration(client, fast_world, owner_unit, state):
    """Every owner action on someone else's declaration (a colleague's or another unit's): 403/404, no change."""
    world = fast_world
    owner = make_person("被冒用的申报人", getattr(world, owner_unit))
    item = make_declaration(world, owner, state, title="别人的进修申报")
    item_id, attachment = item.id, attachment_of(item.id)
    me = make_person("好奇的同事", world.unit)
    token = log_in(client, me.username, R.PROFESSIONAL.value)
    row, before = declaration_row(item_id), state_snapshot()
    gets = [f"/hours/{item_id}", f"/hours/{item_id}/edit", f"/attachments/{attachment}",
            f"/review/declarations/{item_id}"]
    for url in gets:
        response = client.get(url)
        assert refused(response), (url, response.status_code)
        assert "别人的进修申报" not in response.get_data(as_text=True), url
    posts = [(f"/hours/{item_id}/edit", declaration_data(title="改成我的标题", hours="80", action="submit"))]
    posts += [(f"/hours/{item_id}/{action}", {}) for action in ("submit", "withdraw", "delete")]
    for url, data in posts:
        response = client.post(url, data={"csrf_token": token, **data})
        assert refused(response), (url, response.status_code)
    response = client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item_id),
                                                                "action": "approve"})
    assert response.status_code == 403
    assert "别人的进修申报" not in client.get("/hours/").get_data(as_text=True)
    assert declaration_row(item_id) == row
    assert_unchanged(before)


# (acting reviewer, role, whose unit the declaration belongs to, the state it waits in)
OUT_OF_SCOPE_DECLARATIONS = [
    ("other_unit_admin", R.UNIT_ADMIN, "unit", "pending_unit"),
    ("sub_unit_admin", R.UNIT_ADMIN, "unit", "pending_unit"),         # upwards: the parent unit's declaration
    ("unit_admin", R.UNIT_ADMIN, "other_unit", "pending_unit"),
    ("dept_admin", R.DEPT_ADMIN, "other_unit", "pending_hr"),
    ("district_admin", R.HR_ADMIN, "other_unit", "pending_hr"),
    ("other_district_admin", R.HR_ADMIN, "unit", "pending_hr"),
]


@pytest.mark.parametrize("admin,role,owner_unit,state", OUT_OF_SCOPE_DECLARATIONS,
                         ids=[f"{a}-vs-{u}" for a, _, u, _ in OUT_OF_SCOPE_DECLARATIONS])
def test_reviewer_cannot_see_or_decide_another_orgs_declaration(client, fast_world, admin, role, owner_unit, state):
    world = fast_world
    owner = make_person("乙方申报人", getattr(world, owner_unit))
    item = make_declaration(world, owner, state, title="越权审核测试培训")
    item_id, attachment = item.id, attachment_of(item.id)
    token = log_in(client, getattr(world, admin).username, role.value)
    row, before = declaration_row(item_id), state_snapshot()
    assert "越权审核测试培训" not in client.get("/review/declarations/").get_data(as_text=True)
    for url in (f"/review/declarations/{item_id}", f"/attachments/{attachment}"):
        response = client.get(url)
        assert response.status_code == 404, (url, response.status_code)
        assert "越权审核测试培训" not in response.get_data(as_text=True)
    for action in ("approve", "reject"):
        response = client.post("/review/declarations/decide", data={
            "csrf_token": token, "ids": str(item_id), "action": action, "reason": "不予认可"})
        assert response.status_code in (302, 303, 403, 404)
    assert declaration_row(item_id) == row
    assert_unchanged(before)


@pytest.mark.parametrize("admin,role", [("unit_admin", R.UNIT_ADMIN), ("dept_admin", R.DEPT_ADMIN),
                                        ("district_admin", R.HR_ADMIN)])
def test_reviewers_in_scope_do_not_see_an_unsubmitted_draft(client, fast_world, admin, role):
    """A draft (never submitted, or withdrawn) is the applicant's own: its page and evidence are not found."""
    world = fast_world
    owner = make_person("草稿申报人", world.unit)
    draft = make_declaration(world, owner, "draft", title="尚未提交的草稿")
    withdrawn = make_declaration(world, owner, "pending_unit", title="撤回的申报")
    decl_flow.withdraw(withdrawn, factories.actor_for(owner, R.PROFESSIONAL, world.unit))
    log_in(client, getattr(world, admin).username, role.value)
    for item in (draft, withdrawn):
        for url in (f"/review/declarations/{item.id}", f"/attachments/{attachment_of(item.id)}"):
            response = client.get(url)
            assert response.status_code == 404, (url, response.status_code)
            assert item.title not in response.get_data(as_text=True)


# A reviewer in scope, but not at the level the declaration waits at: no step is skipped, none is taken twice.
WRONG_LEVEL = [
    ("unit_admin", R.UNIT_ADMIN, "pending_dept"),
    ("unit_admin", R.UNIT_ADMIN, "pending_hr"),
    ("dept_admin", R.DEPT_ADMIN, "pending_unit"),
    ("district_admin", R.HR_ADMIN, "pending_unit"),
    ("district_admin", R.HR_ADMIN, "pending_dept"),
    ("city_admin", R.HR_ADMIN, "pending_dept"),
]


@pytest.mark.parametrize("admin,role,state", WRONG_LEVEL, ids=[f"{a}-{s}" for a, _, s in WRONG_LEVEL])
def test_reviewer_cannot_decide_at_another_level(client, fast_world, admin, role, state):
    world = fast_world
    owner = make_person("跳级测试人", world.unit)
    item = make_declaration(world, owner, state, title="跳级审核测试培训")
    token = log_in(client, getattr(world, admin).username, role.value)
    row, before = declaration_row(item.id), state_snapshot()
    for action in ("approve", "reject"):
        client.post("/review/declarations/decide", data={"csrf_token": token, "ids": str(item.id),
                                                         "action": action, "reason": "越级"})
    assert declaration_row(item.id) == row
    assert_unchanged(before)


def test_batch_decision_mixing_in_and_out_of_scope_touches_only_the_scope(client, fast_world):
    world = fast_world
    mine = make_declaration(world, make_person("本院申报人", world.unit), title="本院的培训")
    other = make_declaration(world, make_person("乙校申报人", world.other_unit), title="乙校的培训")
    other_row = declaration_row(other.id)
    token = log_in(client, world.unit_admin.username, R.UNIT_ADMIN.value)
    client.post("/review/declarations/decide", data={"csrf_token": token, "ids": [str(other.id), str(mine.id)],
                                                     "action": "approve"})
    assert declaration_row(other.id) == other_row
    assert declaration_row(mine.id).state == "pending_dept"


# ------------------------------------------------------------------ scope of issue 3: base reports

@pytest.fixture()
def other_base(fast_world):
    """A training base under the other district, with its admin."""
    base = factories.make_org(OrgKind.BASE, "乙区培训基地", fast_world.other_district)
    admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, base)])
    cheap_passwords()
    return base, admin


def report_row(report_id: int):
    return db.session.execute(select(BaseReport.state, BaseReport.reason).where(BaseReport.id == report_id)).one()


def test_base_admin_cannot_see_another_bases_report(client, fast_world, other_base):
    world = fast_world
    base, admin = other_base
    trainee = make_person("乙区学员", world.other_unit)
    report = make_report(admin, base, [trainee], title="乙区基地的培训班")
    log_in(client, world.base_admin.username, R.BASE_ADMIN.value)
    before = state_snapshot()
    assert "乙区基地的培训班" not in client.get("/base/reports/").get_data(as_text=True)
    response = client.get(f"/base/reports/{report.id}")
    assert response.status_code == 404
    assert "乙区学员" not in response.get_data(as_text=True)
    assert client.get(f"/review/base-reports/{report.id}").status_code == 403
    assert_unchanged(before)


@pytest.mark.parametrize("admin,base_under", [("district_admin", "other_district"),
                                              ("other_district_admin", "district"),
                                              ("district_admin", "city")])  # upwards: reviewed by the city
def test_hr_cannot_decide_a_report_outside_its_district(client, fast_world, admin, base_under):
    world = fast_world
    base = factories.make_org(OrgKind.BASE, "越权测试基地", getattr(world, base_under))
    base_admin = factories.make_account("越权基地管理员", [(R.BASE_ADMIN, base)])
    report = make_report(base_admin, base, [make_person("越权学员", world.unit)], title="越权培训班")
    token = log_in(client, getattr(world, admin).username, R.HR_ADMIN.value)
    row, before = report_row(report.id), state_snapshot()
    assert "越权培训班" not in client.get("/review/base-reports/").get_data(as_text=True)
    assert client.get(f"/review/base-reports/{report.id}").status_code == 404
    for action in ("approve", "reject"):
        response = client.post(f"/review/base-reports/{report.id}/decide",
                               data={"csrf_token": token, "action": action, "reason": "不予认可"})
        assert response.status_code in (302, 303, 403, 404)
    assert report_row(report.id) == row
    assert_unchanged(before)


def test_hr_decides_a_report_inside_its_scope(client, fast_world, other_base):
    """The counterpart: the city bureau covers every district's bases; the hours are credited."""
    world = fast_world
    base, admin = other_base
    trainee = make_person("乙区学员", world.other_unit)
    report = make_report(admin, base, [trainee], title="乙区基地的培训班", hours=12)
    token = log_in(client, world.city_admin.username, R.HR_ADMIN.value)
    assert "乙区基地的培训班" in client.get("/review/base-reports/").get_data(as_text=True)
    client.post(f"/review/base-reports/{report.id}/decide", data={"csrf_token": token, "action": "approve"})
    assert report_row(report.id).state == "approved"
    assert db.session.scalar(select(func.sum(HourRecord.hours)).where(
        HourRecord.person_id == person_of(trainee).id)) == 12


# ------------------------------------------------------------------ scope of issue 3: PDFs

def credit_year(account: Account, public: int, professional: int, year: int = YEAR) -> None:
    """Credited hours of a year (as online learning would credit them), with the year summary."""
    person = person_of(account)
    for n, (subject, hours) in enumerate((("public", public), ("professional", professional))):
        if hours:
            decl_flow.credit(person.id, year, decl_flow.Subject(subject), hours, form_id=learning_form().id,
                             title=f"{subject} 学习", source="online", source_id=year * 10 + n)
    db.session.commit()


def is_pdf(response) -> bool:
    return response.status_code == 200 and response.data.startswith(b"%PDF-")


def test_professional_prints_only_their_own_documents(client, fast_world):
    """The print route names no person: whatever is posted, it prints the session's own documents."""
    from pypdf import PdfReader
    import io

    world = fast_world
    passed = make_person("已达标的甲", world.unit)
    credit_year(passed, 30, 60)
    nosy = make_person("未达标的乙", world.other_unit)
    token = log_in(client, nosy.username, R.PROFESSIONAL.value)
    tricks = {"person_id": str(person_of(passed).id), "user_id": str(passed.id), "id_number": passed.username}
    for kind in ("completion", "register"):
        response = client.post(f"/hours/print/{YEAR}/{kind}?person_id={person_of(passed).id}",
                               data={"csrf_token": token, **tricks})
        assert not is_pdf(response), kind  # 乙 has no hours: nothing to print, and never 甲's documents
    assert db.session.scalar(select(func.count(Certificate.id))) == 0

    client.post("/logout/", data={"csrf_token": token})
    token = log_in(client, passed.username, R.PROFESSIONAL.value)
    response = client.post(f"/hours/print/{YEAR}/completion", data={"csrf_token": token})
    assert is_pdf(response)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "已达标的甲" in text and "未达标的乙" not in text
    assert db.session.execute(select(Certificate.person_id)).scalars().all() == [person_of(passed).id]


# ------------------------------------------------------------------ scope of issue 3: the catalogue (H7)

def test_district_hr_cannot_touch_another_regions_standard_or_the_catalogue(client, fast_world):
    world = fast_world
    mine, other = Region(code="370102", name="甲区"), Region(code="370103", name="乙区")
    db.session.add_all([mine, other])
    db.session.flush()
    db.session.execute(update(Org).where(Org.id == world.district.id).values(region_id=mine.id))
    db.session.execute(update(Org).where(Org.id == world.other_district.id).values(region_id=other.id))
    theirs = AnnualStandard(year=YEAR, region_id=other.id, public_min=20, professional_min=50, total_min=70)
    db.session.add(theirs)
    db.session.commit()
    form = learning_form()
    token = log_in(client, world.district_admin.username, R.HR_ADMIN.value)
    before = state_snapshot()
    standard = {"year": str(YEAR), "region": str(other.id), "public_min": "0", "professional_min": "0",
                "total_min": "0"}
    catalogue = {"code": form.code, "name": TAMPERED, "group": "training", "fields_json": "[]",
                 "max_hours": "999", "active": "y"}
    for url in (f"/standards/show/{theirs.id}", f"/standards/edit/{theirs.id}", f"/learning-forms/show/{form.id}",
                f"/learning-forms/edit/{form.id}"):
        response = client.get(url)
        assert response.status_code in (302, 403, 404), (url, response.status_code)
        assert TAMPERED not in response.get_data(as_text=True)
    for url, data in ((f"/standards/edit/{theirs.id}", standard), (f"/standards/delete/{theirs.id}", {}),
                      (f"/learning-forms/edit/{form.id}", catalogue), (f"/learning-forms/delete/{form.id}", {}),
                      ("/learning-forms/add", {**catalogue, "code": "tampered"})):
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code in (302, 403, 404), (url, response.status_code)
    assert_unchanged(before)


# ------------------------------------------------------------------ verification (X6): nothing beyond a match

def test_verification_shows_nothing_without_the_right_code(client, fast_world):
    from app.workflows import certificates

    world = fast_world
    holder = make_person("证书持有人", world.unit)
    credit_year(holder, 30, 60)
    cert = certificates.issue(person_of(holder), YEAR, "completion",
                              factories.actor_for(holder, R.PROFESSIONAL, world.unit))
    nosy = make_person("查询的人", world.other_unit)
    log_in(client, nosy.username, R.PROFESSIONAL.value)  # a logged-in user gets no more than the public
    wrong = "AAAAAAAA" if cert.verify_code != "AAAAAAAA" else "BBBBBBBB"
    for query in ({"number": cert.number, "code": wrong}, {"number": cert.number, "code": ""},
                  {"number": cert.number}):
        body = client.get("/verify/", query_string=query).get_data(as_text=True)
        assert "证书持有人" not in body and holder.username not in body
    assert "证书持有人" in client.get("/verify/", query_string={"number": cert.number,
                                                                "code": cert.verify_code}).get_data(as_text=True)
