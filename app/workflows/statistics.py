"""H6 / D6 / U10 completion statistics (完成情况统计): for a year and an org of the actor's subtree, per org one
level below it: headcount (active professionals), took part (credited hours that year), did not, passed and the
pass rate.

Every figure is a SQL aggregate over the per-person-per-year summary (`year_summary`, kept in the same
transaction as the hour records): one statement per page, no person row is loaded into Python. The annual result
is that of state machine 8 (app.workflows.annual): passed iff public ≥ public_min, professional ≥ professional_min
and total ≥ total_min of the standard of the year and the person's region (the unit's, else the nearest HR
bureau's above it); a region's standard is looked up once per region, the statement compares with a CASE.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import aliased

from .. import clock
from ..extensions import db
from ..models import Org, OrgKind, OrgState, Person, YearSummary
from . import annual
from .base import Actor

YEARS_BACK = 30  # the oldest year a page may ask for, counted back from this year
HR_KINDS = (OrgKind.HR_DISTRICT.value, OrgKind.HR_CITY.value)
# Orgs that hold professionals (or orgs that do): a training base has no staff of its own.
STAFF_KINDS = (OrgKind.HR_CITY.value, OrgKind.HR_DISTRICT.value, OrgKind.DEPARTMENT.value, OrgKind.UNIT.value)
# A child org is listed while it is active, and also when it is closed but still counts people.
HIDDEN_STATES = (OrgState.PENDING.value, OrgState.REJECTED.value, OrgState.WITHDRAWN.value)


class OutOfScope(LookupError):
    """The org is unknown or lies outside the actor's subtree (a view answers 404: nothing is told)."""


class BadYear(ValueError):
    """The year is not one the statistics cover."""


@dataclass
class Row:
    org: Org | None          # None: the people whose unit is the current org itself (本级)
    headcount: int = 0
    took_part: int = 0
    passed: int = 0

    @property
    def not_taken(self) -> int:
        return self.headcount - self.took_part

    @property
    def not_passed(self) -> int:
        return self.headcount - self.passed

    @property
    def pass_rate(self) -> float | None:
        """Passed per headcount, in percent (None when nobody is counted)."""
        return round(100.0 * self.passed / self.headcount, 1) if self.headcount else None

    @property
    def can_drill(self) -> bool:
        return self.org is not None and self.headcount > 0 and self.org.kind != OrgKind.BASE.value


@dataclass
class Completion:
    year: int
    org: Org
    rows: list[Row]
    total: Row = field(default_factory=lambda: Row(None))
    is_root: bool = False    # the actor's own org: the total is exactly the staff list's people


def year_range() -> tuple[int, int]:
    this_year = clock.today().year
    return this_year - YEARS_BACK, this_year


def check_year(year) -> int:
    low, high = year_range()
    try:
        value = int(year)
    except (TypeError, ValueError):
        raise BadYear(year) from None
    if not low <= value <= high:
        raise BadYear(year)
    return value


def current_org(actor: Actor, org_id=None) -> Org:
    """The org whose level below is shown: the actor's own, or one of its subtree (drill-down)."""
    if not actor.scope_path or not actor.org_id:
        raise OutOfScope(org_id)
    if org_id in (None, ""):
        org_id = actor.org_id
    try:
        org_id = int(org_id)
    except (TypeError, ValueError):
        raise OutOfScope(org_id) from None
    org = db.session.get(Org, org_id) if 0 < org_id < 2 ** 31 else None
    if org is None or org.kind not in STAFF_KINDS or not actor.covers(org.path):
        raise OutOfScope(org_id)
    return org


def _region_expr(unit):
    """The region whose standard applies to the people of `unit` (annual.region_of, as SQL): the unit's own, else
    the nearest HR bureau's above it."""
    hr = aliased(Org)
    nearest = (select(hr.region_id)
               .where(hr.kind.in_(HR_KINDS), hr.region_id.is_not(None), unit.path.startswith(hr.path))
               .order_by(func.length(hr.path).desc()).limit(1).scalar_subquery())
    return func.coalesce(unit.region_id, nearest)


def _passed_expr(region, year: int, regions: list):
    """1 when the summary row meets the standard of its region for the year, else 0 (no standard: not passed)."""
    public = func.coalesce(YearSummary.public_hours, 0)
    professional = func.coalesce(YearSummary.professional_hours, 0)
    whens = []
    for region_id in regions:
        standard = annual.standards([year], region_id).get(year)
        if standard is None:
            continue
        meets = and_(public >= standard.public_min, professional >= standard.professional_min,
                     public + professional >= standard.total_min)
        whens.append((and_(region.is_(None) if region_id is None else region == region_id, meets), 1))
    return case(*whens, else_=0) if whens else literal(0)


def completion(actor: Actor, year=None, org_id=None) -> Completion:
    """The completion figures of `year` (default this year) per org one level below `org_id` (default the
    actor's org), inside the actor's subtree only."""
    year = check_year(clock.today().year if year in (None, "") else year)
    org = current_org(actor, org_id)
    unit = aliased(Org)
    in_subtree = unit.path.startswith(org.path, autoescape=True)
    region = _region_expr(unit)
    regions = list(db.session.scalars(select(region).where(in_subtree).distinct()))
    took = case((func.coalesce(YearSummary.public_hours, 0) + func.coalesce(YearSummary.professional_hours, 0) > 0,
                 1), else_=0)
    # 1. per unit of the subtree (index on person(unit_id) where is_staff; year_summary by its primary key)
    per_unit = (select(Person.unit_id.label("unit_id"), func.count().label("headcount"),
                       func.sum(took).label("took_part"),
                       func.sum(_passed_expr(region, year, regions)).label("passed"))
                .join(unit, unit.id == Person.unit_id)
                .outerjoin(YearSummary, and_(YearSummary.person_id == Person.id, YearSummary.year == year))
                .where(Person.is_staff.is_(True), in_subtree)
                .group_by(Person.unit_id).subquery("per_unit"))
    # 2. units to the child org whose subtree holds them (none: the current org itself)
    member = aliased(Org)
    child = aliased(Org)
    stmt = (select(child.id, func.sum(per_unit.c.headcount), func.sum(per_unit.c.took_part),
                   func.sum(per_unit.c.passed))
            .select_from(per_unit)
            .join(member, member.id == per_unit.c.unit_id)
            .outerjoin(child, and_(child.parent_id == org.id, member.path.startswith(child.path)))
            .group_by(child.id))
    figures = {child_id: (int(h or 0), int(t or 0), int(p or 0))
               for child_id, h, t, p in db.session.execute(stmt)}
    children = db.session.scalars(select(Org).where(Org.parent_id == org.id, Org.kind.in_(STAFF_KINDS),
                                                    Org.state.not_in(HIDDEN_STATES))
                                  .order_by(Org.kind, Org.name, Org.id))
    rows = []
    for item in children:
        if item.state == OrgState.CLOSED.value and item.id not in figures:
            continue
        rows.append(Row(item, *figures.get(item.id, (0, 0, 0))))
    if None in figures:
        rows.insert(0, Row(None, *figures[None]))
    # the total counts every person of the subtree, those of a child not listed (a pending org) included
    total = Row(org, *(sum(f[i] for f in figures.values()) for i in range(3)))
    return Completion(year=year, org=org, rows=rows, total=total, is_root=org.id == actor.org_id)


def chart_data(result: Completion, own_level_label: str) -> dict:
    """What the bar chart draws: per row, passed and not passed (a JSON-ready dict)."""
    return {
        "names": [row.org.name if row.org is not None else own_level_label for row in result.rows],
        "passed": [row.passed for row in result.rows],
        "not_passed": [row.not_passed for row in result.rows],
    }


def breadcrumbs(actor: Actor, org: Org) -> list[Org]:
    """The orgs from the actor's own down to `org` (each a drill-down link back up)."""
    ids = [int(x) for x in org.path.strip("/").split("/") if x]
    orgs = {o.id: o for o in db.session.scalars(select(Org).where(Org.id.in_(ids)))}
    return [orgs[i] for i in ids if i in orgs and actor.covers(orgs[i].path)]
