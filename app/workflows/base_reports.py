"""B2 / state machine 6: a training base reports hours for a list of trainees; the HR bureau above it reviews;
approval credits the hours to every trainee in the same transaction."""
from __future__ import annotations

import datetime
import io
import re
import tempfile
from dataclasses import dataclass
from decimal import Decimal

import openpyxl
from openpyxl.styles import Font

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import clock
from ..extensions import db
from ..models import (BaseReport, BaseReportLine, BaseReportState, LearningForm, Membership, MembershipState,
                      NotificationKind, Org, OrgKind, Person, RoleName, Subject)
from ..validators import ValidationError, normalize_id_number, parse_number
from .base import Actor, DomainError, PermissionDenied, StateMachine, Transition, transaction
from .declaration import YEARS_BACK, credit, year_not_touched
from .notifications import Note, Waiting, admins, reason_line
from .orgs import subtree_ids
from .spreadsheet import CellProblem, Column, as_text, read_rows

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

    queues = True

    def notify(self, item: BaseReport, transition: Transition, actor: Actor | None) -> list[Note]:
        """X2: the base's admins hear of the HR bureau's decision."""
        if transition.action not in ("approve", "reject"):
            return []
        reason = reason_line(item.reason) if transition.action == "reject" else ""
        label = gettext("Approved") if transition.action == "approve" else gettext("Rejected")
        return [Note(admins([item.base_id], RoleName.BASE_ADMIN.value, "BaseReportView"), NotificationKind.DECISION,
                     gettext("Your hour report: %(state)s", state=label),
                     gettext("The report \"%(title)s\" (%(year)s) is now: %(state)s.%(reason)s", title=item.title,
                             year=item.year, state=label, reason=reason),
                     f"/base/reports/{item.id}")]

    def waiting(self, item: BaseReport) -> list[Waiting]:
        """A pending report waits for the HR bureau above the base."""
        if item.state != S.PENDING.value:
            return []
        return [Waiting(item.reviewer_org, RoleName.HR_ADMIN.value, "BaseReportReviewView",
                        gettext("A base's hour report waits for your review"),
                        gettext("\"%(title)s\" (%(year)s) from %(base)s waits for your review.", title=item.title,
                                year=item.year, base=item.base.name),
                        f"/review/base-reports/{item.id}")]


machine = BaseReportMachine()


_NOT_A_NUMBER = _l("Hours must be a number.")


def _entry(number: int, id_text: str, hours_text, seen: set, errors: list) -> tuple[int, str, Decimal] | None:
    """One trainee of a typed line or a sheet row (the same rules for both): (number, 证件号, hours), or None with
    the reason added to `errors`."""
    id_number = normalize_id_number(id_text)
    try:  # ASCII digits, at most one decimal: "1.25" or "１２" is refused, never rounded or read as 12
        hours = parse_number(hours_text, places=1, invalid=_NOT_A_NUMBER)
    except ValidationError as exc:
        errors.append(gettext("Line %(n)s: the hours are not a number.", n=number) if exc.message is _NOT_A_NUMBER
                      else gettext("Line %(n)s: %(problem)s", n=number, problem=exc.message))
        return None
    if id_number in seen:
        errors.append(gettext("Line %(n)s: this ID number is listed twice.", n=number))
        return None
    seen.add(id_number)
    return number, id_number, hours


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
        row = _entry(number, parts[0], parts[1], seen, errors)
        if row:
            rows.append(row)
    return rows, errors


# ---------------------------------------------------------------- the same list as an .xlsx (证件号, 姓名, 学时)

@dataclass(frozen=True)
class _Column(Column):
    aliases: tuple = ()  # other spellings of the header a base's own list may use

    def headers(self) -> set[str]:
        return super().headers() | set(self.aliases) | {f"{a}*" for a in self.aliases}


COLUMNS = [_Column("id_number", _l("ID number"), required=True, kind="id", aliases=("证件号", "身份证号")),
           Column("name", _l("Name"), required=True, max_length=30),
           Column("hours", _l("Hours"), required=True)]
EXAMPLE_ROW = ("110105199001011236", "张三", 24)


def template_workbook() -> bytes:
    """The sheet to fill in: the three headers, one grey example row (ignored on upload), 证件号 as a text column."""
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.title = gettext("Trainees")
    for index, (column, example) in enumerate(zip(COLUMNS, EXAMPLE_ROW), start=1):
        letter = openpyxl.utils.get_column_letter(index)
        sheet.cell(row=1, column=index, value=f"{column.header}*").font = Font(bold=True)
        sheet.cell(row=2, column=index, value=example).font = Font(italic=True, color="808080")
        sheet.column_dimensions[letter].width = 24 if column.kind == "id" else 12
        if column.kind == "id":  # an ID number typed into a text column keeps every digit
            sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def read_sheet(content: bytes) -> tuple[list[tuple[int, str, Decimal]], list[str], dict[str, tuple[int, str]]]:
    """The rows of an uploaded list, checked as a typed list is (same messages, the sheet's row numbers), after the
    staff import's container and header checks (FileRefused for the file as a whole). Returns the rows, the
    row-level errors and {证件号: (row number, name)} for the name check."""
    if not content:
        raise DomainError(_l("Choose the filled template (.xlsx) to upload."), field="file")
    rows, errors, seen, names = [], [], set(), {}
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as fh:
        fh.write(content)
        fh.flush()
        for number, raw in read_rows(fh.name, COLUMNS, MAX_LINES, skip=EXAMPLE_ROW):
            cells, problems = {}, []
            for column in COLUMNS:
                value = raw.get(column.key)
                if value is None or (isinstance(value, str) and not value.strip()):
                    problems.append(gettext("%(column)s is required", column=column.header))
                elif column.kind == "id" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    problems.append(f"{column.header}：" + gettext(
                        "is a number cell: enter the ID number as text (a number cell loses its last digits)"))
                elif column.key == "hours" and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
                    cells[column.key] = format(Decimal(str(value)).normalize(), "f")
                else:
                    try:
                        cells[column.key] = as_text(value)
                    except CellProblem as exc:
                        problems.append(f"{column.header}：{exc}")
            if problems:
                errors.append(gettext("Line %(n)s: %(problem)s", n=number, problem="；".join(problems)))
                continue
            row = _entry(number, cells["id_number"], cells["hours"], seen, errors)
            if row:
                rows.append(row)
                names[row[1]] = (number, cells["name"])
    return rows, errors, names


def submit_report(actor: Actor, *, title: str, subject: str, form_id: int | None, year: int | None,
                  start_date: datetime.date | None, end_date: datetime.date | None, lines_text: str = "",
                  sheet: bytes | None = None) -> BaseReport:
    """All or nothing: any bad line refuses the whole report with every line's reason. The trainees come from the
    typed list, or from an uploaded .xlsx (`sheet`), whose names must also match the 证件号."""
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
    if sheet is not None:
        rows, line_errors, names = read_sheet(sheet)
    else:
        (rows, line_errors), names = parse_lines(lines_text), {}
    errors += line_errors
    if not rows and not line_errors:
        errors.append(str(_l("List at least one trainee.")))
    if len(rows) > MAX_LINES:
        errors.append(gettext("At most %(n)s trainees per report.", n=MAX_LINES))
    persons = {}
    if rows:
        found = db.session.execute(select(Person.id_number, Person.id, Person.name).join(
            Membership, Membership.user_id == Person.user_id).where(
            Person.id_number.in_([r[1] for r in rows]), Membership.role == RoleName.PROFESSIONAL.value,
            Membership.state == MembershipState.ACTIVE.value)).all()
        persons = {id_number: (person_id, name) for id_number, person_id, name in found}
    # Errors name the line of the pasted list (blank and refused lines included), as the other line errors do.
    for number, id_number, hours in rows:
        if id_number not in persons:
            errors.append(gettext("Line %(n)s: no registered professional has this ID number.", n=number))
        elif id_number in names and _plain(names[id_number][1]) != _plain(persons[id_number][1]):
            errors.append(gettext("Line %(n)s: the name does not match the ID number.", n=number))
        if hours <= 0 or (form is not None and hours > form.max_hours):
            errors.append(gettext("Line %(n)s: the hours must be above 0 and at most %(max)s.", n=number,
                                  max=form.max_hours if form else 0))
    if errors:
        raise DomainError("；".join(errors), field="file" if sheet is not None else "lines")
    with transaction():
        report = machine.open(BaseReport(base_id=base.id, reviewer_org_id=base.parent_id, title=title,
                                         subject=subject, form_id=form.id, year=year, start_date=start_date,
                                         end_date=end_date), actor, comment=f"{len(rows)}", commit=False)
        db.session.add_all([BaseReportLine(report_id=report.id, person_id=persons[i][0], hours=h)
                            for _, i, h in rows])
    return report


def _plain(name: str) -> str:
    """A name as compared: spaces (also full-width) ignored."""
    return re.sub(r"[\s\u3000]+", "", name or "")


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


