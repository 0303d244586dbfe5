"""H6 / D6 / U10 completion statistics (完成情况统计): for a year and an org of the actor's subtree, per org one
level below it: headcount (active professionals), took part (credited hours that year), did not, passed and the
pass rate.

Every figure is read from the rollup (app/models/rollup.py), kept by database triggers in the same transaction as
every write that changes it (year summaries, the staff flag and unit of a person, an org's region or path) and by
the application after every flush that writes a yearly standard or a region: per org the staff headcount of its
subtree and, per year, how many of them took part and passed. A page is one statement: the subtree row of each
child org and the org's own row (its own people, 本级), a few hundred rows by primary key even for the whole city;
no person row is loaded, nothing is aggregated over people. The annual result is that of state machine 8
(app.workflows.annual): passed iff public ≥ public_min, professional ≥ professional_min and total ≥ total_min of
the standard of the year and the person's region (the unit's, else the nearest HR bureau's above it).

`live_figures` is the same aggregate computed from every staff person and their year summary (what the page ran
before the rollup): the reference the rollup is tested against, the bench's baseline, and the answer for a year
whose standard is met with no hours at all (then staff without a summary pass too, which the rollup cannot tell).

Speed (bench/completion_stats.py, PostgreSQL, 1,000,000 persons, 860,000 staff, 10,000,000 hour records): every
page and drill-down 16–47 ms of server time (the city 47 ms, its figures statement 5 ms), against 45–2,070 ms for
the live aggregate in the same run (the city: a hash join of every staff row with the year's summaries). Keeping
the rollup costs a credit ~2 ms, a person moved ~5 ms, the default standard of a year edited ~5 s (a recount).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.orm import aliased

from .. import clock
from ..extensions import db
from ..models import (CompletionOrg, CompletionOrgYear, CompletionRollup, CompletionUnit, Org, OrgKind, OrgState,
                      Person, YearSummary)
from ..models import rollup
from . import annual
from .base import Actor

YEARS_BACK = 30  # the oldest year a page may ask for, counted back from this year
NO_REGION = rollup.NO_REGION  # the region key of orgs under no region at all (the default standard applies)
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


def region_expr(unit):
    """The region whose standard applies to the people of `unit` (annual.region_of, as SQL): the unit's own, else
    the nearest HR bureau's above it."""
    hr = aliased(Org)
    nearest = (select(hr.region_id)
               .where(hr.kind.in_(HR_KINDS), hr.region_id.is_not(None), unit.path.startswith(hr.path))
               .order_by(func.length(hr.path).desc()).limit(1).scalar_subquery())
    return func.coalesce(unit.region_id, nearest)


def _position(haystack, needle: str):
    """1-based position of `needle` in `haystack` (0 if absent): instr on SQLite, strpos on PostgreSQL."""
    name = "strpos" if db.session.get_bind().dialect.name == "postgresql" else "instr"
    return getattr(func, name)(haystack, needle)


def _standards_table(year: int, regions: list):
    """The standard of the year of each region as a small literal table (region_key, public_min,
    professional_min, total_min); a region without any standard has no row (nobody of it passes)."""
    rows = []
    for key in regions:
        standard = annual.standards([year], None if key == NO_REGION else key).get(year)
        if standard is not None:
            rows.append(select(literal(key).label("region_key"), literal(standard.public_min).label("public_min"),
                               literal(standard.professional_min).label("professional_min"),
                               literal(standard.total_min).label("total_min")))
    if not rows:
        rows.append(select(literal(NO_REGION - 1).label("region_key"), literal(0).label("public_min"),
                           literal(0).label("professional_min"), literal(0).label("total_min")))
    return (union_all(*rows) if len(rows) > 1 else rows[0]).subquery("standard")


def _subtree_units(org: Org):
    """The orgs of the subtree as a CTE: id, the path of the child org that holds it ("/1/5/" for "/1/5/23/"; the
    current org's own path for the current org itself) and the key of its region."""
    unit = aliased(Org)
    depth = len(org.path)
    child_path = func.substr(unit.path, 1, depth + _position(func.substr(unit.path, depth + 1), "/"))
    region_key = func.coalesce(region_expr(unit), NO_REGION)
    return (select(unit.id.label("id"), child_path.label("child_path"), region_key.label("region_key"))
            .where(unit.path.startswith(org.path, autoescape=True)).cte("units"))


def _zero_pass_keys(year: int) -> list[int]:
    """The region keys whose standard of `year` is met with no hours at all (every minimum 0): there, staff
    without a summary of the year pass too. Hardly ever any; the applying standards are a few dozen rows."""
    resolved = rollup.load_resolved(db.session.connection())
    keys = {key for key, _year in resolved}
    return sorted(key for key in keys if (marks := rollup.effective(resolved, key, year)) is not None
                  and all(mark <= 0 for mark in marks))


def _figures(org: Org, year: int) -> dict[str, tuple[int, int, int]]:
    """Per child path (the org's own path for its own people): headcount, took part, passed, read from the
    rollup: the subtree row of each child org and the org's own row, each by primary key (correlated lookups: a
    hash join would read all 20,000 rows of a table for the city's 360 children)."""
    if _zero_pass_keys(year):  # the subtree rows cannot tell who passes without a summary: count live
        return live_figures(org, year)

    def of_child(column, *where):
        return func.coalesce(select(column).where(*where).scalar_subquery(), 0)

    this_year = (CompletionOrgYear.org_id == Org.id, CompletionOrgYear.year == year)
    children = select(Org.path, of_child(CompletionOrg.headcount, CompletionOrg.org_id == Org.id),
                      of_child(CompletionOrgYear.took_part, *this_year),
                      of_child(CompletionOrgYear.passed, *this_year)).where(Org.parent_id == org.id)
    own = (select(literal(org.path), CompletionUnit.headcount, func.coalesce(CompletionRollup.took_part, 0),
                  func.coalesce(CompletionRollup.passed, 0))
           .outerjoin(CompletionRollup, and_(CompletionRollup.unit_id == CompletionUnit.unit_id,
                                             CompletionRollup.year == year))
           .where(CompletionUnit.unit_id == org.id))
    return {path: (int(h), int(t), int(p)) for path, h, t, p in db.session.execute(union_all(children, own))
            if h > 0}


def _year_and_org(actor: Actor, year, org_id) -> tuple[int, Org]:
    """The page's year (default this year) and org (default the actor's), refused outside the actor's subtree."""
    return check_year(clock.today().year if year in (None, "") else year), current_org(actor, org_id)


def _staff_of_year(org: Org, year: int):
    """The subtree's people with their summary of `year` and the standard that applies to them: (the statement's
    FROM clause, the subtree CTE, the `took part` and `passed` expressions). The statements add `Person.is_staff`,
    the predicate of the partial index on person(unit_id) (not "IS TRUE", which it does not match)."""
    units = _subtree_units(org)
    regions = list(db.session.scalars(select(units.c.region_key).distinct()))
    standard = _standards_table(year, regions)
    public = func.coalesce(YearSummary.public_hours, 0)
    professional = func.coalesce(YearSummary.professional_hours, 0)
    took = public + professional > 0
    passed = and_(public >= standard.c.public_min, professional >= standard.c.professional_min,
                  public + professional >= standard.c.total_min)
    source = (Person.__table__.join(units, units.c.id == Person.unit_id)
              .outerjoin(standard, standard.c.region_key == units.c.region_key)
              .outerjoin(YearSummary.__table__, and_(YearSummary.person_id == Person.id, YearSummary.year == year)))
    return source, units, took, passed


def live_figures(org: Org, year: int) -> dict[str, tuple[int, int, int]]:
    """The same figures aggregated live from every staff person of the subtree and their year summary (what the
    page ran before the rollup: 0.4–1.4 s for a district or the city). The reference the rollup must equal, and
    the bench's baseline."""
    source, units, took, passed = _staff_of_year(org, year)
    stmt = (select(units.c.child_path, func.count(), func.sum(case((took, 1), else_=0)),
                   func.sum(case((passed, 1), else_=0)))
            .select_from(source).where(Person.is_staff).group_by(units.c.child_path))
    return {path: (int(h or 0), int(t or 0), int(p or 0)) for path, h, t, p in db.session.execute(stmt)}


def passed_people(actor: Actor, year, org_id, limit: int) -> tuple[Org, int, list[int]]:
    """The staff of the org's subtree (inside the actor's) whose result of `year` is passed — the people behind the
    page's 合格 figures, for a batch of certificates: (the org, the year, at most `limit` + 1 person ids, by unit
    and name)."""
    year, org = _year_and_org(actor, year, org_id)
    source, units, _took, passed = _staff_of_year(org, year)
    stmt = (select(Person.id).select_from(source).where(Person.is_staff, passed)
            .order_by(Person.unit_id, Person.name, Person.id).limit(limit + 1))
    return org, year, list(db.session.scalars(stmt))


def completion(actor: Actor, year=None, org_id=None) -> Completion:
    """The completion figures of `year` (default this year) per org one level below `org_id` (default the
    actor's org), inside the actor's subtree only."""
    year, org = _year_and_org(actor, year, org_id)
    figures = _figures(org, year)
    children = db.session.scalars(select(Org).where(Org.parent_id == org.id, Org.kind.in_(STAFF_KINDS),
                                                    Org.state.not_in(HIDDEN_STATES))
                                  .order_by(Org.kind, Org.name, Org.id))
    rows = []
    for item in children:
        if item.state == OrgState.CLOSED.value and item.path not in figures:
            continue
        rows.append(Row(item, *figures.get(item.path, (0, 0, 0))))
    if org.path in figures:
        rows.insert(0, Row(None, *figures[org.path]))
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
