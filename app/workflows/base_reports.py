"""B2 / state machine 6: a training base reports hours for a list of trainees; the HR bureau above it reviews;
approval credits the hours to every trainee in the same transaction."""
from __future__ import annotations

import datetime
import re
from decimal import Decimal

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import clock
from ..extensions import db
from ..models import (BaseReport, BaseReportLine, BaseReportState, LearningForm, Membership, MembershipState, Org,
                      OrgKind, Person, RoleName, Subject)
from ..validators import ValidationError, normalize_id_number, parse_number
from .base import Actor, DomainError, PermissionDenied, StateMachine, Transition, transaction
from .declaration import YEARS_BACK, credit, year_not_touched
from .orgs import subtree_ids

S = BaseReportState
MAX_LINES = 2000


class BaseReportMachine(StateMachine):
    model = BaseReport
    object_type = "base_report"
    initial = (S.PENDING,)
    transitions = (
        Transition(S.PENDING, "approve", S.APPROVED, frozenset({RoleName.HR_ADMIN})),
        Transition(S.PENDING, "reject", S.REJECTED, frozenset({RoleName.HR_ADMIN})),
    )

    def in_scope(self, item: BaseReport, actor: Actor) -> bool:
        return actor.covers(item.reviewer_org.path)

    def is_owner(self, item: BaseReport, actor: Actor) -> bool:
        return False

    def on_enter(self, item: BaseReport, transition: Transition, actor: Actor, comment: str | None) -> None:
        item.reason = comment
        if transition.action == "approve":
            for line in item.lines:
                credit(line.person_id, item.year, Subject(item.subject), line.hours, form_id=item.form_id,
                       title=item.title, source="base", source_id=item.id, provider=item.base.name)


machine = BaseReportMachine()


_NOT_A_NUMBER = _l("Hours must be a number.")


def parse_lines(text: str) -> tuple[list[tuple[int, str, Decimal]], list[str]]:
    """'证件号 学时' per line (space, comma or tab); returns rows (line number, 证件号, hours) and row-level
    error messages."""
    rows, errors, seen = [], [], set()
    for number, raw in enumerate((text or "").splitlines(), start=1):
        raw = raw.strip()
        if not raw:
            continue
        parts = [p for p in re.split(r"[\s,，;；]+", raw) if p]
        if len(parts) != 2:
            errors.append(gettext("Line %(n)s: write the ID number and the hours.", n=number))
            continue
        id_number = normalize_id_number(parts[0])
        try:  # ASCII digits, at most one decimal: "1.25" or "１２" is refused, never rounded or read as 12
            hours = parse_number(parts[1], places=1, invalid=_NOT_A_NUMBER)
        except ValidationError as exc:
            errors.append(gettext("Line %(n)s: the hours are not a number.", n=number) if exc.message is _NOT_A_NUMBER
                          else gettext("Line %(n)s: %(problem)s", n=number, problem=exc.message))
            continue
        if id_number in seen:
            errors.append(gettext("Line %(n)s: this ID number is listed twice.", n=number))
            continue
        seen.add(id_number)
        rows.append((number, id_number, hours))
    return rows, errors


def submit_report(actor: Actor, *, title: str, subject: str, form_id: int | None, year: int | None,
                  start_date: datetime.date | None, end_date: datetime.date | None, lines_text: str) -> BaseReport:
    """All or nothing: any bad line refuses the whole report with every line's reason."""
    if actor.role != RoleName.BASE_ADMIN or not actor.org_id:
        raise PermissionDenied(_l("You do not have permission to do this."))
    base = db.session.get(Org, actor.org_id)
    if base is None or base.kind != OrgKind.BASE.value or base.state != "active" or base.parent is None:
        raise PermissionDenied(_l("You do not have permission to do this."))
    errors = []
    title = (title or "").strip()
    if not (2 <= len(title) <= 100) or re.search(r"[<>]", title):
        errors.append(str(_l("Enter a title of 2 to 100 characters without < or >.")))
    if subject not in {s.value for s in Subject}:
        errors.append(str(_l("Choose public or professional subjects.")))
    form = db.session.get(LearningForm, form_id) if form_id else None
    if form is None or not form.active:
        errors.append(str(_l("Choose a learning form.")))
    this_year = clock.today().year
    if year is None or not (this_year - YEARS_BACK <= year <= this_year):
        errors.append(gettext("The year must be between %(a)s and %(b)s.", a=this_year - YEARS_BACK, b=this_year))
    if start_date and end_date and end_date < start_date:
        errors.append(str(_l("The end date is before the start date.")))
    elif start_date and end_date and year is not None and not start_date.year <= year <= end_date.year:
        errors.append(year_not_touched(start_date, end_date, year))
    rows, line_errors = parse_lines(lines_text)
    errors += line_errors
    if not rows and not line_errors:
        errors.append(str(_l("List at least one trainee.")))
    if len(rows) > MAX_LINES:
        errors.append(gettext("At most %(n)s trainees per report.", n=MAX_LINES))
    persons = {}
    if rows:
        found = db.session.execute(select(Person.id_number, Person.id).join(
            Membership, Membership.user_id == Person.user_id).where(
            Person.id_number.in_([r[1] for r in rows]), Membership.role == RoleName.PROFESSIONAL.value,
            Membership.state == MembershipState.ACTIVE.value)).all()
        persons = dict(found)
    # Errors name the line of the pasted list (blank and refused lines included), as the other line errors do.
    for number, id_number, hours in rows:
        if id_number not in persons:
            errors.append(gettext("Line %(n)s: no registered professional has this ID number.", n=number))
        if hours <= 0 or (form is not None and hours > form.max_hours):
            errors.append(gettext("Line %(n)s: the hours must be above 0 and at most %(max)s.", n=number,
                                  max=form.max_hours if form else 0))
    if errors:
        raise DomainError("；".join(errors), field="lines")
    with transaction():
        report = machine.open(BaseReport(base_id=base.id, reviewer_org_id=base.parent_id, title=title,
                                         subject=subject, form_id=form.id, year=year, start_date=start_date,
                                         end_date=end_date), actor, comment=f"{len(rows)}", commit=False)
        db.session.add_all([BaseReportLine(report_id=report.id, person_id=persons[i], hours=h) for _, i, h in rows])
    return report


def approve(report: BaseReport, actor: Actor) -> BaseReport:
    return machine.apply(report, "approve", actor)


def reject(report: BaseReport, actor: Actor, reason: str | None) -> BaseReport:
    return machine.apply(report, "reject", actor, reason)


def can_decide(report: BaseReport, actor: Actor) -> bool:
    """Whether this HR admin may decide the report now: the detail page offers the decision panel on it."""
    return machine.can_decide(report, actor)


def of_base(actor: Actor) -> list[BaseReport]:
    if actor.role != RoleName.BASE_ADMIN:
        return []
    return list(db.session.scalars(select(BaseReport).options(selectinload(BaseReport.form)).where(
        BaseReport.base_id == actor.org_id).order_by(BaseReport.id.desc()).limit(200)))


def queue(actor: Actor, state: str = S.PENDING.value) -> list[BaseReport]:
    if actor.role != RoleName.HR_ADMIN or not actor.scope_path:
        return []
    orgs = subtree_ids(actor.scope_path)
    return list(db.session.scalars(select(BaseReport).options(selectinload(BaseReport.base)).where(
        BaseReport.state == state, BaseReport.reviewer_org_id.in_(orgs)).order_by(BaseReport.id.desc()).limit(100)))


def reported_for(person: Person) -> list[tuple[BaseReport, BaseReportLine]]:
    """P9's second tab: what training bases reported for this person."""
    return list(db.session.execute(select(BaseReport, BaseReportLine).join(BaseReportLine).where(
        BaseReportLine.person_id == person.id).order_by(BaseReport.id.desc())).all())


def can_see(report: BaseReport, actor: Actor) -> bool:
    return (actor.role == RoleName.BASE_ADMIN and report.base_id == actor.org_id) or (
        actor.role == RoleName.HR_ADMIN and actor.covers(report.reviewer_org.path))


