"""B2 / state machine 6, called directly: a training base reports hours for a list of trainees (all or nothing,
row-level errors), the HR bureau above it approves (every trainee credited) or rejects with a reason."""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.models import (AuditLog, BaseReport, BaseReportLine, HourRecord, LearningForm, Membership,
                        MembershipState, OrgKind, Person, RoleName, YearSummary)
from app.workflows import base_reports as flow
from app.workflows.base import DomainError, PermissionDenied, TransitionNotAllowed
from tests import factories
from tests.factories import actor_for
from tests.helpers import zh

R = RoleName
TODAY = clock.today()
YEAR = TODAY.year
START, END = TODAY - datetime.timedelta(days=5), TODAY - datetime.timedelta(days=3)


pytestmark = pytest.mark.usefixtures("fresh_id_sequence")  # 证件号 birth dates stay in the past


def training():
    from app.extensions import db

    return db.session.scalar(select(LearningForm).where(LearningForm.code == "training"))


def trainee(unit, name="学员"):
    """(account, person) of an active professional."""
    from app.extensions import db

    account = factories.make_account(name, [(R.PROFESSIONAL, unit)], person_unit=unit)
    return account, db.session.scalar(select(Person).where(Person.user_id == account.id))


def report(actor, lines: str, **kw) -> BaseReport:
    args = {"title": "2026年公需科目集中培训班", "subject": "public", "form_id": training().id, "year": YEAR,
            "start_date": START, "end_date": END, **kw}
    return flow.submit_report(actor, lines_text=lines, **args)


@pytest.fixture()
def base(world):
    return actor_for(world.base_admin, R.BASE_ADMIN, world.base)


@pytest.fixture()
def city_hr(world):
    return actor_for(world.city_admin, R.HR_ADMIN, world.city)


@pytest.fixture()
def trainees(world):
    return [trainee(unit, f"学员{i}") for i, unit in enumerate((world.unit, world.sub_unit, world.other_unit))]


def written(db) -> tuple:
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(t)) for t in (
        BaseReport.__table__, BaseReportLine.__table__, HourRecord.__table__, YearSummary.__table__,
        AuditLog.__table__)) + (sorted(tuple(r) for r in db.session.execute(select(
            BaseReport.id, BaseReport.state, BaseReport.reason))),)


def sums(db, person_id: int, year: int = YEAR) -> tuple:
    db.session.expire_all()
    s = db.session.get(YearSummary, (person_id, year))
    return (s.public_hours, s.professional_hours) if s else (0, 0)


# ---------------------------------------------------------------- the good path

def test_a_good_list_credits_nothing_until_hr_approves(world, db, base, city_hr, trainees):
    (a1, p1), (a2, p2), (a3, p3) = trainees
    # "证件号 学时" per line; spaces, commas and tabs all separate; blank lines are ignored.
    item = report(base, f"{a1.username} 24\n\n{a2.username},16\n{a3.username}\t8.5\n")
    assert (item.state, item.reviewer_org_id, item.base_id) == ("pending", world.city.id, world.base.id)
    assert sorted((line.person_id, line.hours) for line in item.lines) == sorted(
        [(p1.id, Decimal("24.0")), (p2.id, Decimal("16.0")), (p3.id, Decimal("8.5"))])
    assert db.session.scalar(select(func.count(HourRecord.id))) == 0
    assert all(sums(db, p.id) == (0, 0) for p in (p1, p2, p3))
    [row] = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "base_report"))
    assert (row.action, row.object_id, row.to_state, row.actor_id) == (
        "base_report.submit", item.id, "pending", world.base_admin.id)

    # Each trainee sees it among the hours bases reported for them, before and after the review.
    for person in (p1, p2, p3):
        assert [(r.id, line.person_id) for r, line in flow.reported_for(person)] == [(item.id, person.id)]
    assert flow.reported_for(trainee(world.unit, "未参训")[1]) == []

    flow.approve(item, city_hr)
    db.session.expire_all()
    item = db.session.get(BaseReport, item.id)
    assert item.state == "approved"
    records = db.session.scalars(select(HourRecord).order_by(HourRecord.person_id)).all()
    assert sorted((r.person_id, r.year, r.subject, r.hours, r.source, r.source_id, r.provider) for r in records) \
        == sorted((p.id, YEAR, "public", h, "base", item.id, world.base.name)
                  for p, h in ((p1, Decimal("24.0")), (p2, Decimal("16.0")), (p3, Decimal("8.5"))))
    assert [sums(db, p.id) for p in (p1, p2, p3)] == [(Decimal("24.0"), 0), (Decimal("16.0"), 0),
                                                      (Decimal("8.5"), 0)]
    assert db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.action == "base_report.approve", AuditLog.object_id == item.id)) == 1

    # A second report grows the summary; it cannot be approved twice.
    second = report(base, f"{a1.username} 6", subject="professional", title="专业科目研修班")
    flow.approve(second, city_hr)
    assert sums(db, p1.id) == (Decimal("24.0"), Decimal("6.0"))
    with pytest.raises(TransitionNotAllowed):
        flow.approve(db.session.get(BaseReport, second.id), city_hr)
    assert db.session.scalar(select(func.count(HourRecord.id))) == 4
    assert [r.id for r, _ in flow.reported_for(p1)] == [second.id, item.id]


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_rejection_needs_a_reason(world, db, base, city_hr, trainees, reason):
    item = report(base, f"{trainees[0][0].username} 10")
    before = written(db)
    with pytest.raises(DomainError) as exc:
        flow.reject(db.session.get(BaseReport, item.id), city_hr, reason)
    assert str(exc.value.message) == zh("A reason is required to reject.")
    assert written(db) == before


def test_rejection_credits_nothing_and_is_final(world, db, base, city_hr, trainees):
    item = report(base, "\n".join(f"{a.username} 10" for a, _ in trainees))
    flow.reject(item, city_hr, "签到表与名单不符")
    db.session.expire_all()
    item = db.session.get(BaseReport, item.id)
    assert (item.state, item.reason) == ("rejected", "签到表与名单不符")
    assert db.session.scalar(select(func.count(HourRecord.id))) == 0
    assert db.session.scalar(select(func.count(YearSummary.person_id))) == 0
    before = written(db)
    for action in (lambda: flow.approve(item, city_hr), lambda: flow.reject(item, city_hr, "再次驳回")):
        with pytest.raises(TransitionNotAllowed):
            action()
    assert written(db) == before


# ---------------------------------------------------------------- bad lists: all or nothing, by line

def _bad_line(world, kind: str) -> tuple[str, str, dict]:
    """(line text, msgid, args) for one bad line, placed on line 3 of the list."""
    if kind in ("pending", "rejected", "revoked"):
        account, _ = trainee(world.unit, "待审学员")
        from app.extensions import db

        membership = db.session.scalar(select(Membership).where(Membership.user_id == account.id))
        membership.state = {"pending": MembershipState.PENDING, "rejected": MembershipState.REJECTED,
                            "revoked": MembershipState.REVOKED}[kind].value
        db.session.commit()
        return f"{account.username} 8", "Line %(n)s: no registered professional has this ID number.", {}
    unknown = factories.new_id_number()
    table = {
        "unknown": (f"{unknown} 8", "Line %(n)s: no registered professional has this ID number.", {}),
        "admin-only": (f"{world.unit_admin.username} 8", "Line %(n)s: no registered professional has this ID number.",
                       {}),
        "text-hours": (f"{unknown} 八", "Line %(n)s: the hours are not a number.", {}),
        "nan-hours": (f"{unknown} NaN", "Line %(n)s: the hours are not a number.", {}),
        "infinite-hours": (f"{unknown} Infinity", "Line %(n)s: the hours are not a number.", {}),
        "one-field": (f"{unknown}", "Line %(n)s: write the ID number and the hours.", {}),
        "three-fields": (f"{unknown} 8 张三", "Line %(n)s: write the ID number and the hours.", {}),
    }
    return table[kind]


@pytest.mark.parametrize("kind", ["unknown", "admin-only", "pending", "rejected", "revoked", "text-hours",
                                  "nan-hours", "infinite-hours", "one-field", "three-fields"])
def test_a_bad_line_refuses_the_whole_list_naming_its_line(world, db, base, trainees, kind):
    text, msgid, args = _bad_line(world, kind)
    before = written(db)
    lines = f"{trainees[0][0].username} 8\n\n{text}\n{trainees[1][0].username} 8"
    with pytest.raises(DomainError) as exc:
        report(base, lines)
    assert str(exc.value.message) == zh(msgid, n=3, **args)
    assert exc.value.field == "lines"
    assert written(db) == before


@pytest.mark.parametrize("hours", ["0", "-8", "0.0", "90.1", "1000"])
def test_hours_out_of_range_are_refused_by_line(world, db, base, trainees, hours):
    before = written(db)
    with pytest.raises(DomainError) as exc:
        report(base, f"{trainees[0][0].username} 8\n{trainees[1][0].username} {hours}")
    assert str(exc.value.message) == zh("Line %(n)s: the hours must be above 0 and at most %(max)s.", n=2,
                                        max=Decimal("90.0"))
    assert written(db) == before


def test_every_bad_line_is_listed_at_once(world, db, base, trainees):
    (a1, _), (a2, _), (a3, _) = trainees
    unknown = factories.new_id_number()
    lines = "\n".join([f"{a1.username} 8",         # 1 good
                       f"{a2.username} abc",       # 2 not a number
                       f"{a1.username} 4",         # 3 listed twice
                       "",                         # 4 blank
                       f"{unknown} 8",             # 5 unknown
                       f"{a3.username} 120",       # 6 over the cap
                       f"{a2.username}"])          # 7 one field
    before = written(db)
    with pytest.raises(DomainError) as exc:
        report(base, lines)
    message = str(exc.value.message)
    for msgid, n in (("Line %(n)s: the hours are not a number.", 2), ("Line %(n)s: this ID number is listed twice.", 3),
                     ("Line %(n)s: no registered professional has this ID number.", 5),
                     ("Line %(n)s: write the ID number and the hours.", 7)):
        assert zh(msgid, n=n) in message
    assert zh("Line %(n)s: the hours must be above 0 and at most %(max)s.", n=6, max=Decimal("90.0")) in message
    assert written(db) == before


def test_id_numbers_are_matched_after_normalisation(world, db, base, city_hr, trainees):
    """A lower-case check letter, full-width digits, a full-width comma and stray spaces still find the
    registered professional."""
    from app.demo import make_id_number

    number = next(n for n in (make_id_number("370102", datetime.date(1985, 3, 1), s) for s in range(1, 200))
                  if n.endswith("X"))
    account = factories.make_account("末位X学员", [(R.PROFESSIONAL, world.unit)], id_number=number,
                                     person_unit=world.unit)
    wide = trainees[0][0].username.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})
    item = report(base, f"  {number.lower()}   12  \n{wide}，6")
    flow.approve(item, city_hr)
    person = db.session.scalar(select(Person).where(Person.user_id == account.id))
    assert sums(db, person.id) == (Decimal("12.0"), 0)
    assert sums(db, trainees[0][1].id) == (Decimal("6.0"), 0)


@pytest.mark.parametrize("field,value,msgid,args", [
    ("title", "<script>alert(1)</script>", "Enter a title of 2 to 100 characters without < or >.", {}),
    ("title", "班", "Enter a title of 2 to 100 characters without < or >.", {}),
    ("subject", "other", "Choose public or professional subjects.", {}),
    ("form_id", None, "Choose a learning form.", {}),
    ("year", YEAR + 1, "The year must be between %(a)s and %(b)s.", {"a": YEAR - 5, "b": YEAR}),
    ("year", YEAR - 6, "The year must be between %(a)s and %(b)s.", {"a": YEAR - 5, "b": YEAR}),
    ("end_date", START - datetime.timedelta(days=1), "The end date is before the start date.", {}),
    ("lines", "\n \n", "List at least one trainee.", {}),
])
def test_bad_report_fields_are_refused(world, db, base, trainees, field, value, msgid, args):
    kw = {field: value}
    lines = kw.pop("lines", f"{trainees[0][0].username} 8")
    before = written(db)
    with pytest.raises(DomainError) as exc:
        report(base, lines, **kw)
    assert zh(msgid, **args) in str(exc.value.message)
    assert written(db) == before


# ---------------------------------------------------------------- who may submit and who may decide

@pytest.mark.parametrize("who", ["unit_admin", "district_admin", "city_admin", "professional", "support",
                                 "sysadmin", "base_admin_elsewhere"])
def test_only_a_base_admin_of_a_base_can_report(world, db, trainees, who):
    accounts = {"unit_admin": (world.unit_admin, R.UNIT_ADMIN, world.unit),
                "district_admin": (world.district_admin, R.HR_ADMIN, world.district),
                "city_admin": (world.city_admin, R.HR_ADMIN, world.city),
                "professional": (trainees[0][0], R.PROFESSIONAL, world.unit),
                "support": (world.support, R.SUPPORT, None), "sysadmin": (world.sysadmin, R.SYSADMIN, None),
                # the BaseAdmin role pointed at an org that is not a training base
                "base_admin_elsewhere": (world.base_admin, R.BASE_ADMIN, world.unit)}
    actor = actor_for(*accounts[who])
    before = written(db)
    with pytest.raises(PermissionDenied) as exc:
        report(actor, f"{trainees[0][0].username} 8")
    assert str(exc.value.message) == zh("You do not have permission to do this.")
    assert written(db) == before


def test_a_base_that_is_not_active_cannot_report(world, db, base, trainees):
    from app.models import Org

    db.session.get(Org, world.base.id).state = "withdrawn"
    db.session.commit()
    before = written(db)
    with pytest.raises(PermissionDenied):
        report(base, f"{trainees[0][0].username} 8")
    assert written(db) == before


@pytest.mark.parametrize("who", ["district_admin", "other_district_admin", "unit_admin", "dept_admin",
                                 "base_admin", "professional"])
def test_only_the_hr_bureau_above_the_base_can_decide(world, db, base, trainees, who):
    accounts = {"district_admin": (world.district_admin, R.HR_ADMIN, world.district),
                "other_district_admin": (world.other_district_admin, R.HR_ADMIN, world.other_district),
                "unit_admin": (world.unit_admin, R.UNIT_ADMIN, world.unit),
                "dept_admin": (world.dept_admin, R.DEPT_ADMIN, world.dept),
                "base_admin": (world.base_admin, R.BASE_ADMIN, world.base),
                "professional": (trainees[0][0], R.PROFESSIONAL, world.unit)}
    actor = actor_for(*accounts[who])
    item = report(base, f"{trainees[0][0].username} 8")
    before = written(db)
    for decide in (lambda: flow.approve(db.session.get(BaseReport, item.id), actor),
                   lambda: flow.reject(db.session.get(BaseReport, item.id), actor, "不予认可")):
        with pytest.raises(PermissionDenied):
            decide()
    assert written(db) == before
    assert flow.queue(actor) == []
    if who != "base_admin":  # the base itself sees the report it sent
        assert not flow.can_see(db.session.get(BaseReport, item.id), actor)


def test_a_district_base_is_decided_by_its_own_district(world, db, trainees):
    district_base = factories.make_org(OrgKind.BASE, "甲区职业培训学校", world.district)
    admin = factories.make_account("甲区基地管理员", [(R.BASE_ADMIN, district_base)])
    actor = actor_for(admin, R.BASE_ADMIN, district_base)
    item = report(actor, f"{trainees[2][0].username} 8")
    assert item.reviewer_org_id == world.district.id
    other = actor_for(world.other_district_admin, R.HR_ADMIN, world.other_district)
    with pytest.raises(PermissionDenied):
        flow.approve(item, other)
    own = actor_for(world.district_admin, R.HR_ADMIN, world.district)
    assert [r.id for r in flow.queue(own)] == [item.id] and flow.can_see(item, own)
    assert [r.id for r in flow.of_base(actor)] == [item.id]
    assert flow.of_base(actor_for(world.base_admin, R.BASE_ADMIN, world.base)) == []
    flow.approve(item, own)
    assert sums(db, trainees[2][1].id) == (Decimal("8.0"), 0)
