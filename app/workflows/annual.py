"""P10 年度完成情况 and state machine 8: the annual result is computed from credited hours and the standard of
the year and region, never stored by hand."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import or_, select

from ..extensions import db
from ..models import AnnualStandard, HourRecord, Org, Person, YearSummary
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


def region_of(person: Person) -> int | None:
    """The region whose standard applies: the person's unit's, else the nearest HR bureau's above it."""
    unit = person.unit
    if unit is None:
        return None
    if unit.region_id:
        return unit.region_id
    ids = [int(x) for x in unit.path.strip("/").split("/") if x]
    for org in sorted(db.session.scalars(select(Org).where(Org.id.in_(ids))), key=lambda o: -ids.index(o.id)):
        if org.region_id and org.kind in (OrgKind.HR_DISTRICT.value, OrgKind.HR_CITY.value):
            return org.region_id
    return None


def standards(years: list[int], region_id: int | None) -> dict[int, AnnualStandard]:
    """The standard of each year: the region's own, else the region above it, else the default (no region);
    a year without any standard yet takes the latest earlier one."""
    region_ids = []
    if region_id:
        from ..models import Region

        region = db.session.get(Region, region_id)
        while region is not None:
            region_ids.append(region.id)
            region = region.parent
    rows = db.session.scalars(select(AnnualStandard).where(
        AnnualStandard.year <= max(years),
        or_(AnnualStandard.region_id.in_(region_ids or [0]), AnnualStandard.region_id.is_(None))))
    rank = {rid: i for i, rid in enumerate(region_ids)}
    by_year: dict[int, AnnualStandard] = {}
    for row in rows:
        current = by_year.get(row.year)
        key = rank.get(row.region_id, len(rank))
        if current is None or key < rank.get(current.region_id, len(rank)):
            by_year[row.year] = row
    # A year the HR bureau has not set yet keeps the latest earlier year's standard.
    known = sorted(by_year)
    best: dict[int, AnnualStandard] = {}
    for year in years:
        earlier = [y for y in known if y <= year]
        if earlier:
            best[year] = by_year[earlier[-1]]
    return best


def completion(person: Person, year_from: int | None = None, year_to: int | None = None) -> list[YearResult]:
    """One row per year of the range (default: the last five years), newest first."""
    this_year = datetime.date.today().year
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
