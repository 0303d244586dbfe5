"""P10 年度完成情况 and state machine 8: the annual result is computed from credited hours and the standard of
the year and region, never stored by hand."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, literal, or_, select

from .. import clock
from ..extensions import db
from ..models import AnnualStandard, HourRecord, Org, Person, Region, YearSummary
from ..models.org import OrgKind


@dataclass
class YearResult:
    year: int
    public: Decimal
    professional: Decimal
    standard: AnnualStandard | None

    @property
    def total(self) -> Decimal:
        return self.public + self.professional

    @property
    def public_met(self) -> bool:
        return self.standard is not None and self.public >= self.standard.public_min

    @property
    def professional_met(self) -> bool:
        return self.standard is not None and self.professional >= self.standard.professional_min

    @property
    def total_met(self) -> bool:
        return self.standard is not None and self.total >= self.standard.total_min

    @property
    def passed(self) -> bool:
        return self.public_met and self.professional_met and self.total_met


def region_of(person: Person):
    """The region whose standard applies: the person's unit's, else the nearest HR bureau's above it. A region id,
    or (to save a round trip) the SQL that finds it, for `standards` to use inside its own statement."""
    unit = person.unit
    if unit is None:
        return None
    if unit.region_id:
        return unit.region_id
    ids = [int(x) for x in unit.path.strip("/").split("/") if x]
    return (select(Org.region_id)
            .where(Org.id.in_(ids), Org.region_id.is_not(None),
                   Org.kind.in_([OrgKind.HR_DISTRICT.value, OrgKind.HR_CITY.value]))
            .order_by(func.length(Org.path).desc()).limit(1).scalar_subquery())


def standards(years: list[int], region_id) -> dict[int, AnnualStandard]:
    """The standard of each year: the region's own, else the nearest region above it, else the default (no region);
    a year without any standard yet takes the latest earlier one. One statement: the region's chain of parents is
    a recursive CTE."""
    chain = select(Region.id, Region.parent_id, literal(0).label("depth")).where(Region.id == region_id)
    chain = chain.cte("region_chain", recursive=True)
    chain = chain.union_all(select(Region.id, Region.parent_id, chain.c.depth + 1)
                            .join(chain, Region.id == chain.c.parent_id))
    rows = db.session.execute(
        select(AnnualStandard, chain.c.depth).outerjoin(chain, AnnualStandard.region_id == chain.c.id)
        .where(AnnualStandard.year <= max(years),
               or_(chain.c.id.is_not(None), AnnualStandard.region_id.is_(None)))).all()
    nowhere = 10 ** 6  # the default standard (no region) ranks after every region of the chain
    by_year: dict[int, tuple[int, AnnualStandard]] = {}
    for row, depth in rows:
        rank = nowhere if depth is None else depth
        if row.year not in by_year or rank < by_year[row.year][0]:
            by_year[row.year] = (rank, row)
    # A year the HR bureau has not set yet keeps the latest earlier year's standard.
    known = sorted(by_year)
    best: dict[int, AnnualStandard] = {}
    for year in years:
        earlier = [y for y in known if y <= year]
        if earlier:
            best[year] = by_year[earlier[-1]][1]
    return best


def completion(person: Person, year_from: int | None = None, year_to: int | None = None) -> list[YearResult]:
    """One row per year of the range (default: the last five years), newest first."""
    this_year = clock.today().year
    year_to = min(year_to or this_year, this_year)
    year_from = max(year_from or year_to - 4, year_to - 30)
    years = list(range(year_to, year_from - 1, -1))
    sums = {s.year: s for s in db.session.scalars(select(YearSummary).where(
        YearSummary.person_id == person.id, YearSummary.year.between(year_from, year_to)))}
    marks = standards(years, region_of(person))
    return [YearResult(y, sums[y].public_hours if y in sums else Decimal(0),
                       sums[y].professional_hours if y in sums else Decimal(0), marks.get(y)) for y in years]


def year_result(person: Person, year: int) -> YearResult:
    return completion(person, year, year)[0]


def records(person: Person, year: int) -> list[HourRecord]:
    """继续教育历程明细: every credited record of the year."""
    return list(db.session.scalars(select(HourRecord).where(
        HourRecord.person_id == person.id, HourRecord.year == year).order_by(HourRecord.id)))
