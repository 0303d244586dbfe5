"""Plain helpers shared by the test modules (fixtures live in tests/conftest.py, model factories in
tests/factories.py, the access policy tables in tests/access_policy.py). No test module imports another."""
from __future__ import annotations

import contextlib
import datetime
import html
import itertools
import os
import re
from collections import Counter
from html.parser import HTMLParser

import pytest
from sqlalchemy import and_, event, or_, select, text, update
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash

from app import clock
from app.extensions import db
from app.models import (Account, Delegation, ImportBatch, AnnualStandard, Attachment, AuditLog, BaseReport, BaseReportLine, Certificate,
                        ChangeAttachment, Declaration, HourRecord, IdentityCorrection, LearningForm, Membership, Org,
                        OrgChange, OrgKind, OrgRole, Person, Region, Registration, RoleName, TitleChange, Transfer,
                        YearSummary)
from app.workflows import base_reports as report_flow
from app.workflows import declaration as decl_flow
from app.workflows import identity as id_flow
from app.workflows import registration as reg_flow
from app.workflows import title_change as title_flow
from app.workflows.base import Actor
from app.workflows.title_change import split_list
from tests import factories
from tests.factories import actor_for
from tests.access_policy import ANONYMOUS

R = RoleName

CAPTCHA = "2468"  # the fixed captcha of the test app (CAPTCHA_FIXED)

# ------------------------------------------------------------------ the database between tests

# Reference data that the migrations load (learning-form catalogue, yearly standards): restored after each test.
REFERENCE_TABLES = ("learning_form", "annual_standard", "completion_standard")  # the last is derived from the second
_reference: dict[str, list[dict]] = {}


def snapshot_reference_data() -> None:
    from app.extensions import db as _db

    with _db.engine.connect() as conn:
        for table in REFERENCE_TABLES:
            _reference[table] = [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}"'))]


def truncate(_db) -> None:
    """Empty every table, then put the reference data back."""
    from flask_appbuilder import Model

    tables = [t.name for t in reversed(Model.metadata.sorted_tables)]
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Only the tables that hold rows (one query finds them) are emptied, by DELETE, and then VACUUMed below.
            # A TRUNCATE makes new files for a table and each of its indexes: 0.18 s a test for a dozen tables, the
            # PostgreSQL run's biggest cost. The VACUUM removes the deleted rows, so no later write reuses their
            # place in a page before rows written after it (rows come back in the order they are written, as after
            # a TRUNCATE; without it a pruned page handed a new row an older row's slot), and gives the emptied
            # pages back.
            present = [t for t in conn.execute(text(" UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables))).scalars()]
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # no trigger: the append-only
            for table in present:  # audit log's, the rollups' and the foreign keys' (every table is emptied)
                conn.execute(text(f'DELETE FROM "{table}"'))
            conn.execute(text("SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n"  # rolled-back ids
                              " ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = current_schema()"))
        else:
            present = []
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
    if present:
        with _db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM " + ", ".join(f'"{t}"' for t in present)))
    with _db.engine.begin() as conn:
        for table, rows in _reference.items():
            if rows:
                conn.execute(Model.metadata.tables[table].insert(), rows)
                if conn.dialect.name == "postgresql" and "id" in Model.metadata.tables[table].c:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM \"{table}\"))"))


# ------------------------------------------------------------------ form helpers

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf_token in page"
    return match.group(1)


def submit(client, url: str, data: dict, *, get_url: str | None = None, follow: bool = False):
    """Load the page that holds the form (for its CSRF token and captcha), then post the form."""
    page = client.get(get_url or url)
    token = csrf_from(page.get_data(as_text=True))
    if "captcha" in data and data["captcha"] in (None, factories.FRESH_CAPTCHA):
        client.get("/captcha.png")
        data = {**data, "captcha": CAPTCHA}
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=follow)


def login(client, id_number: str, password: str = factories.PASSWORD, role: str = "Professional", follow=True):
    return submit(client, "/login/", {"role": role, "id_number": id_number, "password": password,
                                      "captcha": None}, follow=follow)


QUEUE_REDIS_URL = "redis://127.0.0.1:6379/14"  # the task-queue tests' Redis database (the scheduler's: 13)

CJK = re.compile(r"[\u4e00-\u9fff]")


def zh(msgid: str, **kwargs) -> str:
    """The Chinese text a user sees for an English msgid (fails while the translation is missing)."""
    from flask_babel import force_locale, gettext

    with force_locale("zh"):
        text = gettext(msgid, **kwargs)
    assert CJK.search(text), f"no Chinese translation for msgid {msgid!r}"
    return text


def page(response) -> str:
    """The response body with HTML entities resolved, as a person reads it."""
    return html.unescape(response.get_data(as_text=True))


# ------------------------------------------------------------------ people, records and checks

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
        **_class_snapshot(ex),  # issue 11: online classes and their catalogue (B3)
        "delegations": ex(select(Delegation.id, Delegation.deputy_id, Delegation.state, Delegation.start_date,
                                 Delegation.end_date).order_by(Delegation.id)).all(),  # issue 12: X9
    }


def _class_snapshot(ex) -> dict:
    from app.models import ClassCourse, ClassSection, Lesson, OnlineClass, Question

    return {
        "online classes": ex(select(OnlineClass.id, OnlineClass.base_id, OnlineClass.title, OnlineClass.state,
                                    OnlineClass.price, OnlineClass.hours, OnlineClass.reason, OnlineClass.cover_name)
                             .order_by(OnlineClass.id)).all(),
        "class catalogue": [ex(select(m.id, m.title).order_by(m.id)).all()
                            for m in (ClassCourse, ClassSection, Lesson)]
                           + [ex(select(Question.id, Question.text, Question.answer_json).order_by(Question.id)).all()],
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


def credit_year(account: Account, public: int, professional: int, year: int = YEAR) -> None:
    """Credited hours of a year (as online learning would credit them), with the year summary."""
    person = person_of(account)
    for n, (subject, hours) in enumerate((("public", public), ("professional", professional))):
        if hours:
            decl_flow.credit(person.id, year, decl_flow.Subject(subject), hours, form_id=learning_form().id,
                             title=f"{subject} 学习", source="online", source_id=year * 10 + n)
    db.session.commit()


def needs_postgres(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("T4 needs a server database with row locks: SQLite serialises all writers. "
                    "Run with TEST_DATABASE_URL=postgresql+psycopg://… to exercise it.")


def pro(account: Account, unit: Org) -> Actor:
    """`account` acting as a professional of `unit`."""
    return actor_for(account, R.PROFESSIONAL, unit)


def unit_of(account) -> int:
    return db.session.execute(select(Person.unit_id).where(Person.user_id == account.id)).scalar_one()


# ------------------------------------------------------------------ one shared world for the matrix (fixture `matrix`)

ROLE_ACCOUNTS = {
    R.UNIT_ADMIN.value: "unit_admin", R.DEPT_ADMIN.value: "dept_admin", R.HR_ADMIN.value: "district_admin",
    R.BASE_ADMIN.value: "base_admin", R.SUPPORT.value: "support", R.SYSADMIN.value: "sysadmin",
    R.AUDITOR.value: "auditor",
}


def build_matrix() -> dict:
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
    other_class = _other_class(other_base_admin, other_base)  # issue 11: another base's class (B3)
    from app.workflows import base_plans as plan_flow  # issue 11: another base's annual plan (B1)

    other_filing = plan_flow.submit(factories.actor_for(other_base_admin, R.BASE_ADMIN, other_base), kind="plan",
                                    year=YEAR, title=OTHER_REPORT_TITLE, classes="3", trainees="120", hours="24",
                                    content="乙区基地的年度培训计划内容")
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
    # issue 10: the other unit's checked staff file, not imported yet
    other_batch = ImportBatch(org_id=world.other_unit.id, user_id=world.other_unit_admin.id,
                              membership_id=db.session.scalar(select(Membership.id).where(
                                  Membership.user_id == world.other_unit_admin.id)),
                              locale="zh", file_name="乙校人员.xlsx", stored_name="absent.xlsx", sha256="0" * 64,
                              mode="valid", state="checked", total_rows=1, valid_rows=1, problems_json="[]")
    db.session.add(other_batch)
    db.session.commit()
    # issue 12: the other unit's admin delegating to another admin of that unit (X9)
    from app.workflows import delegation as delegation_flow

    other_deputy = membership_of(second_admin(world, "乙校代理管理员", org=world.other_unit), world.other_unit)
    other_delegation = delegation_flow.create(factories.actor_for(world.other_unit_admin, R.UNIT_ADMIN,
                                                                  world.other_unit), other_deputy.id,
                                              clock.today(), clock.today() + datetime.timedelta(days=7))
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
        "other_batch": other_batch.id,
        "other_class": other_class.id,  # issue 11: another base's class and its catalogue
        "other_course": other_class.courses[0].id,
        "other_section": other_class.courses[0].sections[0].id,
        "other_lesson": other_class.courses[0].sections[0].lessons[0].id,
        "other_filing": other_filing.id,
        "other_delegation": other_delegation.id,
    }


def _other_class(admin: Account, base: Org):
    """A class of another base with a course, a section, a lesson (no video file) and a quiz question."""
    from app.models import Lesson
    from app.workflows import classes as class_flow

    actor = factories.actor_for(admin, R.BASE_ADMIN, base)
    item = class_flow.create_class(actor, {
        "title": OTHER_REPORT_TITLE, "track": "public", "specialty": "", "year": clock.today().year, "hours": 8,
        "price": 0, "enrol_start": clock.today(), "enrol_end": clock.today() + datetime.timedelta(days=30),
        "intro": ""})
    course = class_flow.add_course(actor, item, "乙区基地的课程")
    section = class_flow.add_section(actor, course, "乙区基地的小节", 60)
    db.session.add(Lesson(section_id=section.id, title="乙区基地的课件", stored_name="absent.mp4",
                          content_type="video/mp4", size=1, duration=60))
    db.session.commit()
    class_flow.add_question(actor, section, "true_false", "乙区基地的题目", [], [0])
    return item


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
    values["batch_id"] = data["other_batch"]
    for name in ("enrolment_id", "lesson_id", "section_id"):  # issue 11: learning; only the owner reaches these
        values.setdefault(name, data.get(f"other_{name[:-3]}", 1))
    values.setdefault("order_id", data.get("other_order", 1))  # issue 11: no role but the owner reaches an order
    values.setdefault("class_id", data.get("other_class", 1))
    values.setdefault("course_id", data.get("other_course", 1))  # issue 11: another base's catalogue
    values["filing_id"] = data["other_filing"]
    values["delegation_id"] = data.get("other_delegation", 1)
    values["export_id"] = data.get("other_export", 1)  # issue 13: another person's background export
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
    form = form if form is not None else _class_form(endpoint, data)  # issue 11: B3 classes and their review
    if endpoint.startswith("HoursView.") and form is not None:
        form = declaration_data(db.session.get(LearningForm, data["learning_form"]), **form)
    if form is None and endpoint.endswith(".action_post"):
        form = {"action": "reset_password", "rowid": str(pk)}
    if form is None and endpoint.split(".")[1] in ("add", "edit"):
        form = {"name": TAMPERED, "code": "370199"}
    if "queue" in rule.arguments:  # issue 12: the API's review endpoints, with another org's item of each queue
        items = {"registrations": "other_reg", "title-changes": "other_title_change",
                 "declarations": "other_declaration", "transfers": "other_transfer"}
        with app.test_request_context():
            return [(url_for(endpoint, queue=queue, **{name: value for name, value in (
                ("item_id", data[key]), ("file_id", data["other_attachment"])) if name in rule.arguments}),
                form or {}) for queue, key in items.items()]
    values["file_id"] = data["other_attachment"]  # issue 12: an evidence file of another person's declaration
    names = sorted(rule.arguments)
    choices = [VARIANTS[name] if name in VARIANTS else (values[name],) for name in names]
    with app.test_request_context():
        return [(url_for(endpoint, **dict(zip(names, combo))), form or {}) for combo in itertools.product(*choices)]


def _class_form(endpoint: str, data: dict) -> dict | None:
    info = {"title": TAMPERED, "track": "public", "specialty": "", "year": str(YEAR), "hours": "8", "price": "0",
            "enrol_start": clock.today().isoformat(), "enrol_end": clock.today().isoformat(), "intro": TAMPERED}
    question = {"kind": "single", "text": TAMPERED, "options-0": "甲", "options-1": "乙", "correct": "0"}
    return {
        "ClassAdminView.new": info, "ClassAdminView.edit": info, "ClassAdminView.act": {"action": "submit"},
        "ClassAdminView.add_course": {"course-title": TAMPERED},
        "ClassAdminView.add_section": {"section-title": TAMPERED, "section-pass_mark": "60"},
        "ClassAdminView.add_lesson": {"lesson-title": TAMPERED},
        "ClassAdminView.add_question": {f"question-{k}": v for k, v in question.items()},
        "ClassAdminView.add_popup": {**{f"popup-{k}": v for k, v in question.items()}, "popup-at_second": "1"},
        "ClassAdminView.remove": {"kind": "lesson", "item_id": str(data.get("other_lesson", 1))},
        "ClassAdminView.rename": {"kind": "course", "item_id": str(data.get("other_course", 1)), "title": TAMPERED},
        "ClassReviewView.decide": {"ids": str(data.get("other_class", 1)), "action": "approve"},
        "ClassReviewView.decide_one": {"action": "approve"},
    }.get(endpoint)


def _valid_code(seq: int) -> str:
    from app.demo import make_credit_code

    return make_credit_code("370103", seq)


# ------------------------------------------------------------------ org admins (tests/test_admins.py and others)

def membership_of(account: Account, org=None, role: RoleName | None = None) -> Membership:
    stmt = select(Membership).where(Membership.user_id == account.id).order_by(Membership.id.desc())
    if org is not None:
        stmt = stmt.where(Membership.org_id == org.id)
    if role is not None:
        stmt = stmt.where(Membership.role == role.value)
    return db.session.scalars(stmt).first()


def audits(action: str) -> list[AuditLog]:
    """The audit rows of `action`, oldest first."""
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def second_admin(world, name="第二管理员", org=None, role=R.UNIT_ADMIN) -> Account:
    """A non-super active admin of the org (unit by default)."""
    org = org or world.unit
    account = factories.make_account(name)
    account.email = f"admin{account.id}@example.cn"
    db.session.add(Membership(user_id=account.id, role=role.value, org_id=org.id, state="active", is_super=False))
    db.session.commit()
    cheap_passwords()
    return account


def boss(world):
    return actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit)


# ------------------------------------------------------------------ title changes and identity corrections

OLD_TITLE = {"title_series": "卫生技术", "title_level": "中级", "title_name": "主治医师",
             "title_date": datetime.date(2018, 9, 1), "title_cert_no": "ZC-2018-0001"}
NEW_TITLE = {"title_series": "卫生技术", "title_level": "副高级", "title_name": "副主任医师",
             "title_date": datetime.date(2025, 6, 1), "title_cert_no": "ZC-2025-0042"}


def professional(unit: Org, name: str = "申请职称的医生") -> Account:
    """An active professional of `unit` with a current title."""
    account = make_person(name, unit)
    person = person_of(account)
    for key, value in OLD_TITLE.items():
        setattr(person, key, value)
    db.session.commit()
    return account


def as_professional(account: Account) -> Actor:
    return actor_for(account, R.PROFESSIONAL, person_of(account).unit)


def make_change(world, account: Account, state: str = "pending", values: dict | None = None) -> TitleChange:
    """A title change of `account` brought to `state` through the workflow."""
    item = title_flow.submit(as_professional(account), values or NEW_TITLE, [("职称证书.png", PNG)])
    unit = person_of(account).unit
    reviewer = actor_for(world.unit_admin, R.UNIT_ADMIN, world.unit) if world.unit.path in unit.path else \
        actor_for(world.other_unit_admin, R.UNIT_ADMIN, world.other_unit)
    if state == "approved":
        title_flow.approve(item, reviewer)
    elif state == "rejected":
        title_flow.reject(item, reviewer, "证书编号与扫描件不符")
    elif state == "withdrawn":
        title_flow.withdraw(item, as_professional(account))
    assert item.state == state
    return item


def title_of(account: Account) -> dict:
    person = db.session.execute(select(Person).where(Person.user_id == account.id)).scalar_one()
    db.session.refresh(person)
    return {key: getattr(person, key) for key in title_flow.TITLE_FIELDS}


def said(msgid: str, **kwargs) -> str:
    """A pattern of the (Chinese) message the user reads for this msgid."""
    return "^" + re.escape(zh(msgid, **kwargs)) + "$"


NEW_NAME = "张晓明"


def support(world):
    return actor_for(world.support, R.SUPPORT)


def make_correction(world, account: Account, state: str = "pending", *, name: str = NEW_NAME,
                    id_number: str | None = None) -> IdentityCorrection:
    item = id_flow.submit(as_professional(account), name, id_number or factories.new_id_number(),
                          [("正面.png", PNG), ("反面.jpg", factories.JPEG)])
    if state == "approved":
        id_flow.approve(item, support(world))
    elif state == "rejected":
        id_flow.reject(item, support(world), "照片不清晰")
    elif state == "withdrawn":
        id_flow.withdraw(item, as_professional(account))
    assert item.state == state
    return item


# ------------------------------------------------------------------ a browser's view of a FAB form

class FormFields(HTMLParser):
    """The fields of the page's model form (id="model_form") in document order, each a dict with type, name,
    value, checked / options, and for a box inside a <label> the label's text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.fields: list[dict] = []
        self.links: list[tuple[str, str]] = []  # (id, href) of the form's links
        self._in_form = False
        self._select = self._textarea = self._label = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form" and a.get("id") == "model_form":
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input":
            field = {"type": a.get("type", "text").lower(), "name": a.get("name"), "value": a.get("value", ""),
                     "checked": "checked" in a, "id": a.get("id")}
            self.fields.append(field)
            if self._label is not None:
                self._label["input"] = field
        elif tag == "select":
            self._select = {"type": "select", "name": a.get("name"), "options": [], "multiple": "multiple" in a,
                            "id": a.get("id")}
            self.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._select["options"].append((a.get("value", ""), "selected" in a))
            self._select.setdefault("texts", []).append("")
        elif tag == "textarea":
            self._textarea = {"type": "textarea", "name": a.get("name"), "value": "", "id": a.get("id")}
            self.fields.append(self._textarea)
        elif tag == "label":
            self._label = {"text": "", "input": None}
        elif tag == "a":
            self.links.append((a.get("id", ""), a.get("href", "")))

    def handle_endtag(self, tag):
        if tag == "form" and self._in_form:
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "label" and self._label is not None:
            if self._label["input"] is not None:
                self._label["input"]["label"] = " ".join(self._label["text"].split())
            self._label = None

    def handle_data(self, data):
        if self._select is not None and self._select["options"]:
            self._select["texts"][-1] += data
        if self._textarea is not None:
            self._textarea["value"] += data
        if self._label is not None:
            self._label["text"] += data

    def value(self, name: str):
        return next((f.get("value") for f in self.fields if f.get("name") == name), None)

    def options(self, name: str) -> dict[str, str]:
        """A select's options: shown text -> value."""
        select = next(f for f in self.fields if f["type"] == "select" and f.get("name") == name)
        return {" ".join(t.split()): v for (v, _selected), t in zip(select["options"], select["texts"])}

    def boxes(self, name: str) -> dict[str, dict]:
        """The checkboxes of a field by their label text."""
        return {f.get("label", ""): f for f in self.fields if f["type"] == "checkbox" and f.get("name") == name}

    def submission(self, **changes) -> MultiDict:
        """What the browser posts; `changes` replace a field's value(s) (a list for several)."""
        data = MultiDict()
        for f in self.fields:
            name = f.get("name")
            if not name or f["type"] in ("submit", "button", "file", "image", "reset") or name in changes:
                continue
            if f["type"] in ("checkbox", "radio"):
                if f["checked"]:
                    data.add(name, f["value"] or "on")
            elif f["type"] == "select":
                chosen = [v for v, selected in f["options"] if selected]
                if not chosen and f["options"] and not f["multiple"]:
                    chosen = [f["options"][0][0]]
                for v in chosen:
                    data.add(name, v)
            else:
                data.add(name, f["value"])
        for name, value in changes.items():
            for v in value if isinstance(value, list) else [value]:
                data.add(name, v)
        return data


@contextlib.contextmanager
def statements():
    """The SQL statements the database receives inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


# ------------------------------------------------------------------ distribution statistics (tests of 统计)

# The people of the distribution_world fixture: (org attribute of the world, name, title series, title level,
# qualifications, staff?)
DISTRIBUTION_PEOPLE = [
    ("unit", "甲医甲", "卫生技术", "正高级", "执业医师,主治医师", True),
    ("unit", "甲医乙", "卫生技术", "副高级", "执业医师", True),
    ("unit", "甲医丙", "卫生技术", "中级", "执业医师、执业药师", True),
    ("unit", "甲医丁", "工程技术", "初级", None, True),
    ("unit", "甲医戊", None, None, "", True),
    ("sub_unit", "分院甲", "卫生技术", "初级", "执业护士", True),
    ("sub_unit", "分院乙", "会计", "未定级", "注册会计师；执业医师", True),
    ("other_unit", "乙校甲", "中小学教师", "中级", "教师资格", True),
    ("other_unit", "乙校乙", "中小学教师", "副高级", "教师资格,教师资格", True),
    ("dept", "卫健局甲", "经济", "中级", None, True),
    ("unit", "非在册人员", "卫生技术", "正高级", "执业医师", False),  # not staff: never counted
]


# The independent count of the distribution figures, read from the database rows

def staff_under(org: Org) -> list[tuple[Person, Org]]:
    """Every staff member of the subtree of `org` with their unit, read row by row (not through the tally)."""
    rows = db.session.execute(select(Person, Org).join(Org, Org.id == Person.unit_id)
                              .where(Person.is_staff)).all()
    return [(p, u) for p, u in rows if u.path.startswith(org.path)]


def _grade(level) -> str:
    return {"初级": "junior", "中级": "intermediate", "副高级": "senior", "正高级": "senior"}.get(level, "none")


def expected_titles(org: Org) -> dict:
    out: dict = {}
    for p, _u in staff_under(org):
        row = out.setdefault(p.title_series or "", Counter())
        row[_grade(p.title_level)] += 1
        row["staff"] += 1
        if p.title_level in ("正高级", "副高级"):
            row["senior_" + p.title_level] += 1
    return out


def expected_qualifications(org: Org) -> Counter:
    return Counter(q for p, _u in staff_under(org) for q in set(split_list(p.vocational_qualifications)))


def expected_industries(org: Org) -> dict:
    out: dict = {}
    for p, u in staff_under(org):
        out.setdefault(u.industry or "", [0, 0])[1] += 1
    for u in db.session.scalars(select(Org).where(Org.kind == OrgKind.UNIT.value, Org.state == "active")):
        if u.path.startswith(org.path):
            out.setdefault(u.industry or "", [0, 0])[0] += 1
    return out


def expected_orgs(org: Org) -> dict:
    """Per child: [departments, units, bases, staff] of its subtree (itself included); None: own staff."""
    out: dict = {}
    for child in db.session.scalars(select(Org).where(Org.parent_id == org.id)):
        below = [o for o in db.session.scalars(select(Org)) if o.path.startswith(child.path) and o.state == "active"]
        out[child.id] = [sum(o.kind == k for o in below) for k in ("department", "unit", "base")] + \
            [len(staff_under(child))]
    own = sum(1 for _p, u in staff_under(org) if u.id == org.id)
    if own:
        out[None] = [0, 0, 0, own]
    return out


def titles_of(result) -> dict:
    return {item.value: Counter({k: v for k, v in item.grades.items() if v}) + Counter({"staff": item.staff})
            for item in result.items}


def orgs_of(result) -> dict:
    return {(r.org.id if r.org else None): [r.departments, r.units, r.bases, r.staff] for r in result.rows}


ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOW_WORKER_SECONDS = 20
# `flask worker`, with a handler that prints every thread's stack on SIGUSR1 (where a slow worker waits)
_WORKER_MAIN = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
                "from flask.cli import main; sys.argv = ['flask', '--app', 'run.py', 'worker', '--burst']; main()")


def run_worker_burst(app, **env) -> None:
    """A real `flask worker --burst` process on the app's database and task queue: runs the queued jobs, then stops.
    One slower than SLOW_WORKER_SECONDS has its threads' stacks and the database's sessions written to
    test-artifacts/slow-worker-*.txt (and still runs to its end)."""
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    env = dict(os.environ, APP_ENV="development", SECRET_KEY="test-secret", TASKS_INLINE="0",
               REDIS_URL=QUEUE_REDIS_URL, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               TASK_QUEUE=app.config["TASK_QUEUE"], UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"],
               PLATFORM_TIMEZONE=app.config["PLATFORM_TIMEZONE"], **env)
    with tempfile.TemporaryFile() as out:
        worker = subprocess.Popen([sys.executable, "-c", _WORKER_MAIN], cwd=ROOT_DIR, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
        started = time.monotonic()
        try:
            worker.wait(timeout=SLOW_WORKER_SECONDS)
        except subprocess.TimeoutExpired:
            sessions = _database_sessions(app)
            worker.send_signal(signal.SIGUSR1)
            worker.wait(timeout=120)
            out.seek(0)
            os.makedirs(os.path.join(ROOT_DIR, "test-artifacts"), exist_ok=True)
            path = os.path.join(ROOT_DIR, "test-artifacts", f"slow-worker-{os.getpid()}-{int(started)}.txt")
            with open(path, "wb") as diag:
                diag.write(f"{os.environ.get('PYTEST_CURRENT_TEST')}\n"
                           f"{time.monotonic() - started:.1f} s\n{sessions}\n".encode())
                diag.write(out.read())
        out.seek(0)
        assert worker.returncode == 0, out.read()[-2000:]


def _database_sessions(app) -> str:
    """The database's other sessions and what they wait for (PostgreSQL), for a slow worker's report."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return "(SQLite)"
    from sqlalchemy import create_engine

    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 300) "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
    finally:
        engine.dispose()
    return "\n".join(repr(tuple(row)) for row in rows)
