"""H6 / D6 / U10 distribution statistics: for an org of the actor's subtree (default their own),

- orgs: per org one level below, the competent departments, units and training bases of its subtree (itself
  included) and its staff;
- titles: the subtree's staff per title series × 初级 / 中级 / 高级 (正高级 and 副高级 grouped, as the real platforms
  show them) / not graded;
- industries: the subtree's units and their staff per industry of the unit;
- qualifications: the subtree's staff per 职(执)业资格 (a person holding several counts once under each).

Staff are person.is_staff. Every staff figure is read from the staff tally (app.models.tally, kept by triggers):
a city page reads a few dozen tally rows instead of grouping 850,000 people; the org counts group the subtree's
orgs (at most 20,000 rows). No person row is loaded into Python.

Each page is of a year: this year (the default) reads the live tally; a past year reads the year's snapshot
(年度统计快照, app.workflows.stat_snapshots: the tally and the org figures as they stood when the year ended), a few
rows by primary key as the live page. A past year without a snapshot raises NoSnapshot: its figures are not known
(memberships keep no history), and the page says so rather than showing zeros."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from .. import clock
from ..choices import TITLE_SERIES
from ..extensions import db
from ..models import Org, OrgKind, OrgState
from ..models.tally import (BELOW, CHILD, INDUSTRY_STAFF, INDUSTRY_UNITS, OWN, QUALIFICATION, STAFF, TITLE,
                            StaffTally, StaffTallySnapshot, StaffTallyYear)
from .base import Actor
from .statistics import check_year, current_org

STAFF_HOLDERS = (OrgKind.HR_CITY.value, OrgKind.HR_DISTRICT.value, OrgKind.DEPARTMENT.value, OrgKind.UNIT.value)
KIND_ORDER = {kind: i for i, kind in enumerate((*STAFF_HOLDERS, OrgKind.BASE.value))}
LISTED = (OrgState.ACTIVE.value, OrgState.CLOSED.value)  # a closed child is listed while it still counts
# The level groups of the titles page: key, label, the title_level values (anything else is "not graded").
GRADES = (("junior", _l("Junior"), ("初级",)), ("intermediate", _l("Intermediate"), ("中级",)),
          ("senior", _l("Senior"), ("副高级", "正高级")), ("none", _l("Not graded"), ()))
SENIOR_LEVELS = ("副高级", "正高级")
# Each level group as the staff list's filter takes it: a Chinese value like the levels themselves (stored values,
# the same in every language), which the list's search panel shows as it is.
GRADE_VALUES = {"junior": "初级", "intermediate": "中级", "senior": "高级", "none": "未定级"}
BLANK = ""  # a series, industry or level not filled in
ORG_COLUMNS = (OrgKind.DEPARTMENT.value, OrgKind.UNIT.value, OrgKind.BASE.value)  # the orgs page's org columns


class NoSnapshot(LookupError):
    """A past year of which no snapshot was taken: its figures are not known."""

    def __init__(self, year: int, org: Org):
        super().__init__(year)
        self.year, self.org = year, org


def _open(actor: Actor, org_id, year) -> tuple[Org, int, StaffTallySnapshot | None]:
    """The org of the page (in the actor's subtree, else OutOfScope), its year (default this year; BadYear when not
    covered) and, for a past year, its snapshot (NoSnapshot when none was taken)."""
    this_year = clock.today().year
    year = check_year(this_year if year in (None, "") else year)
    org = current_org(actor, org_id)
    if year == this_year:
        return org, year, None
    snapshot = db.session.get(StaffTallySnapshot, year)
    if snapshot is None:
        raise NoSnapshot(year, org)
    return org, year, snapshot


def _tally(past: int | None):
    """The tally a page reads and its condition: the live one (None: this year), or the snapshot of year `past`."""
    if past is None:
        return StaffTally, ()
    return StaffTallyYear, (StaffTallyYear.year == past,)


def grade_of(level: str) -> str:
    for key, _label, levels in GRADES:
        if level in levels:
            return key
    return "none"


# ------------------------------------------------------------------------------------------------ the orgs page

@dataclass
class OrgRow:
    org: Org | None  # None: the current org's own staff (本级)
    departments: int = 0
    units: int = 0
    bases: int = 0
    staff: int = 0

    @property
    def can_drill(self) -> bool:
        return (self.org is not None and self.org.kind in STAFF_HOLDERS
                and (self.departments + self.units + self.bases + self.staff) > 0)


@dataclass
class OrgCounts:
    org: Org
    rows: list[OrgRow]
    total: OrgRow
    is_root: bool = False
    year: int = 0
    snapshot: StaffTallySnapshot | None = None  # a past year's snapshot; None: this year's live figures


def _children(org: Org) -> list[Org]:
    """The listed orgs one level below: bureaus, departments, units, then training bases, each by name."""
    found = db.session.scalars(select(Org).where(Org.parent_id == org.id, Org.state.in_(LISTED))
                               .order_by(Org.name, Org.id))
    return sorted(found, key=lambda child: KIND_ORDER.get(child.kind, len(KIND_ORDER)))


def _child_key(org: Org):
    """The path of the child of `org` that holds each org of its subtree ("/1/5/" for "/1/5/23/")."""
    depth = len(org.path)
    rest = func.substr(Org.path, depth + 1)
    slash = (func.strpos(rest, "/") if db.session.get_bind().dialect.name == "postgresql"
             else func.instr(rest, "/"))
    return func.substr(Org.path, 1, depth + slash)


def _listed_children(org: Org, past: int | None = None) -> list[tuple[Org, str]]:
    """The listed orgs one level below and their state: today's, or those the snapshot of year `past` recorded
    (in the same order; an org deleted since is left out)."""
    if past is None:
        return [(child, child.state) for child in _children(org)]
    states = {int(value): state for value, state in db.session.execute(
        select(StaffTallyYear.value, StaffTallyYear.value2).where(
            StaffTallyYear.year == past, StaffTallyYear.org_id == org.id, StaffTallyYear.dim == CHILD))}
    if not states:
        return []
    found = db.session.scalars(select(Org).where(Org.id.in_(list(states))).order_by(Org.name, Org.id))
    return [(child, states[child.id])
            for child in sorted(found, key=lambda child: KIND_ORDER.get(child.kind, len(KIND_ORDER)))]


def _staff_of(org_ids: list[int], past: int | None = None) -> dict[int, int]:
    """The staff of each org's subtree, from the tally (or the snapshot of year `past`)."""
    if not org_ids:
        return {}
    tally, of_year = _tally(past)
    stmt = select(tally.org_id, tally.n).where(*of_year, tally.org_id.in_(org_ids), tally.dim == STAFF)
    return {org_id: int(n or 0) for org_id, n in db.session.execute(stmt)}


def _own_staff(org: Org) -> int:
    return int(db.session.scalar(select(StaffTally.n).where(StaffTally.org_id == org.id, StaffTally.dim == OWN,
                                                            StaffTally.value == BLANK, StaffTally.value2 == BLANK))
               or 0)


def org_counts(actor: Actor, org_id=None, year=None) -> OrgCounts:
    """The orgs page of `year` (default this year) for `org_id` (default the actor's org)."""
    org, year, snapshot = _open(actor, org_id, year)
    rows, total = _past_org_rows(org, year) if snapshot is not None else _live_org_rows(org)
    return OrgCounts(org=org, rows=rows, total=total, is_root=org.id == actor.org_id, year=year, snapshot=snapshot)


def _past_org_rows(org: Org, year: int) -> tuple[list[OrgRow], OrgRow]:
    """The orgs page from the snapshot of `year`: the children it listed, each with the orgs below it (and itself,
    by its state then) and its staff; the org's own staff; the total of the orgs below the org."""
    children = _listed_children(org, year)
    figures = {(org_id, dim, value): int(n) for org_id, dim, value, n in db.session.execute(
        select(StaffTallyYear.org_id, StaffTallyYear.dim, StaffTallyYear.value, StaffTallyYear.n).where(
            StaffTallyYear.year == year, StaffTallyYear.org_id.in_([c.id for c, _state in children] + [org.id]),
            StaffTallyYear.dim.in_((STAFF, BELOW, OWN))))}
    rows = []
    for child, state in children:
        counts = [figures.get((child.id, BELOW, kind), 0)
                  + int(child.kind == kind and state == OrgState.ACTIVE.value) for kind in ORG_COLUMNS]
        row = OrgRow(child, *counts, staff=figures.get((child.id, STAFF, BLANK), 0))
        if state == OrgState.CLOSED.value and not (row.departments + row.units + row.bases + row.staff):
            continue
        rows.append(row)
    own = figures.get((org.id, OWN, BLANK), 0)
    if own:
        rows.insert(0, OrgRow(None, staff=own))
    total = OrgRow(org, *(figures.get((org.id, BELOW, kind), 0) for kind in ORG_COLUMNS),
                   staff=figures.get((org.id, STAFF, BLANK), 0))
    return rows, total


def _live_org_rows(org: Org) -> tuple[list[OrgRow], OrgRow]:
    key = _child_key(org)
    kinds = {kind: i for i, kind in enumerate(ORG_COLUMNS)}
    stmt = (select(key, Org.kind, func.count())
            .where(Org.path.startswith(org.path, autoescape=True), Org.id != org.id,
                   Org.state == OrgState.ACTIVE.value, Org.kind.in_(list(kinds)))
            .group_by(key, Org.kind))
    counts: dict[str, list[int]] = {}
    for path, kind, n in db.session.execute(stmt):
        counts.setdefault(path, [0, 0, 0])[kinds[kind]] += int(n)
    children = _children(org)
    staff = _staff_of([c.id for c in children] + [org.id])
    rows = []
    for child in children:
        row = OrgRow(child, *counts.get(child.path, (0, 0, 0)), staff=staff.get(child.id, 0))
        if child.state == OrgState.CLOSED.value and not (row.departments + row.units + row.bases + row.staff):
            continue
        rows.append(row)
    own = _own_staff(org)
    if own:
        rows.insert(0, OrgRow(None, staff=own))
    total = OrgRow(org, *(sum(c[i] for c in counts.values()) for i in range(3)), staff=staff.get(org.id, 0))
    return rows, total


# ------------------------------------------------------------------------------- titles, industries, qualifications

@dataclass
class Item:
    """One row of a distribution: a value (a title series, an industry, a qualification; BLANK: not filled in)
    and its figures."""
    value: str
    staff: int = 0
    units: int = 0
    grades: dict = field(default_factory=dict)  # titles page: grade key -> staff; "senior_" + level -> staff


@dataclass
class Distribution:
    org: Org
    items: list[Item]
    total: Item
    children: list[tuple[Org, int]]  # the orgs one level below with staff, for the drill-down
    is_root: bool = False
    year: int = 0
    snapshot: StaffTallySnapshot | None = None  # a past year's snapshot; None: this year's live figures


def _drill_choices(org: Org, past: int | None = None) -> list[tuple[Org, int]]:
    children = [c for c, _state in _listed_children(org, past) if c.kind in STAFF_HOLDERS]
    staff = _staff_of([c.id for c in children], past)
    return [(c, staff[c.id]) for c in children if staff.get(c.id)]


def _result(actor: Actor, org: Org, items: list[Item], total: Item, year: int, snapshot) -> Distribution:
    past = snapshot.year if snapshot is not None else None
    return Distribution(org, items, total, _drill_choices(org, past), org.id == actor.org_id, year, snapshot)


def titles(actor: Actor, org_id=None, year=None) -> Distribution:
    org, year, snapshot = _open(actor, org_id, year)
    tally, of_year = _tally(snapshot.year if snapshot is not None else None)
    stmt = select(tally.value, tally.value2, tally.n).where(
        *of_year, tally.org_id == org.id, tally.dim == TITLE, tally.n > 0)
    by_series: dict[str, Item] = {}
    total = Item(BLANK)
    for series, level, n in db.session.execute(stmt):
        item = by_series.setdefault(series, Item(series))
        for target in (item, total):
            grade = grade_of(level)
            target.grades[grade] = target.grades.get(grade, 0) + n
            if grade == "senior":
                target.grades["senior_" + level] = target.grades.get("senior_" + level, 0) + n
            target.staff += n
    order = {name: i for i, name in enumerate(TITLE_SERIES)}
    items = sorted(by_series.values(), key=lambda i: (i.value == BLANK, order.get(i.value, len(order)), i.value))
    return _result(actor, org, items, total, year, snapshot)


def industries(actor: Actor, org_id=None, year=None) -> Distribution:
    """Per industry of the subtree's orgs: the active units, and the staff of the orgs (their own staff)."""
    org, year, snapshot = _open(actor, org_id, year)
    if snapshot is not None:
        figures: dict[str, Item] = {}
        for dim, value, n in db.session.execute(select(StaffTallyYear.dim, StaffTallyYear.value, StaffTallyYear.n)
                                                .where(StaffTallyYear.year == year, StaffTallyYear.org_id == org.id,
                                                       StaffTallyYear.dim.in_((INDUSTRY_STAFF, INDUSTRY_UNITS)))):
            item = figures.setdefault(value, Item(value))
            if dim == INDUSTRY_STAFF:
                item.staff = int(n)
            else:
                item.units = int(n)
        return _industry_result(actor, org, list(figures.values()), year, snapshot)
    industry = func.coalesce(Org.industry, BLANK)
    is_unit = case((and_(Org.kind == OrgKind.UNIT.value, Org.state == OrgState.ACTIVE.value), 1), else_=0)
    stmt = (select(industry, func.sum(is_unit), func.coalesce(func.sum(StaffTally.n), 0))
            .select_from(Org)
            .outerjoin(StaffTally, and_(StaffTally.org_id == Org.id, StaffTally.dim == OWN))
            .where(Org.path.startswith(org.path, autoescape=True), Org.kind.in_(STAFF_HOLDERS))
            .group_by(industry))
    items = [Item(value, staff=int(staff or 0), units=int(units or 0))
             for value, units, staff in db.session.execute(stmt)]
    return _industry_result(actor, org, items, year, None)


def _industry_result(actor: Actor, org: Org, items: list[Item], year: int, snapshot) -> Distribution:
    items = [i for i in items if i.staff or i.units]
    items.sort(key=lambda i: (i.value == BLANK, -i.staff, -i.units, i.value))
    total = Item(BLANK, staff=sum(i.staff for i in items), units=sum(i.units for i in items))
    return _result(actor, org, items, total, year, snapshot)


def qualifications(actor: Actor, org_id=None, year=None) -> Distribution:
    """Per 职(执)业资格: the staff holding it; the total is the subtree's staff (holders or not)."""
    org, year, snapshot = _open(actor, org_id, year)
    past = snapshot.year if snapshot is not None else None
    tally, of_year = _tally(past)
    stmt = (select(tally.value, tally.n)
            .where(*of_year, tally.org_id == org.id, tally.dim == QUALIFICATION, tally.n > 0)
            .order_by(tally.n.desc(), tally.value))
    items = [Item(value, staff=int(n)) for value, n in db.session.execute(stmt)]
    total = Item(BLANK, staff=_staff_of([org.id], past).get(org.id, 0))
    return _result(actor, org, items, total, year, snapshot)
