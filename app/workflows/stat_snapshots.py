"""年度统计快照: the distribution statistics of a past year (机构人员统计, 职称, 行业, 职(执)业资格).

Memberships, units and titles keep no history, so "the staff of year Y" cannot be counted again once Y is over.
As the provincial platforms do, the figures are kept once a year: on 1 January the scheduler copies the staff
tally (app.models.tally, kept by triggers) as it stands, i.e. as the year just ended left it, into StaffTallyYear,
with what the orgs and industries pages group live from the org table (each org's listed children, the active
departments / units / training bases below it, the units and own staff per industry of its subtree). A past
year's page reads those rows; this year's page reads the live tally.

`take_snapshot(year)` replaces the year's rows in one transaction: one INSERT … SELECT for the tally's rows, and the
org figures computed in one pass over the orgs' (id, parent, path, kind, state, industry), written in batches (no
query per org). Taking a year again replaces it (the CLI's `flask stats-snapshot --year Y`, or a late run after the
scheduler missed the day). Taken later than the year's end, a snapshot holds the figures of the day it was taken:
its `taken_at` says when, and the pages show it."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, func, literal, select, text

from .. import clock
from ..extensions import db
from ..models import Org, OrgKind, OrgState
from ..models.tally import (BELOW, CHILD, INDUSTRY_STAFF, INDUSTRY_UNITS, OWN, StaffTally, StaffTallySnapshot,
                            StaffTallyYear)
from .distribution import LISTED, ORG_COLUMNS, STAFF_HOLDERS  # what the pages list and count, kept the same way
from .statistics import check_year

BATCH = 5000
LOCK_CLASS = 0x5354  # PostgreSQL advisory lock (class, year): two snapshots of one year wait for each other


def snapshot_years(low: int, high: int) -> set[int]:
    """The years from `low` to `high` that have a snapshot."""
    return set(db.session.scalars(select(StaffTallySnapshot.year).where(StaffTallySnapshot.year.between(low, high))))


def take_snapshot(year) -> StaffTallySnapshot:
    """Keep the distribution figures of `year` as they stand now, replacing any earlier snapshot of that year; one
    transaction (committed here). Returns the snapshot's record (year, taken_at, rows). A year the statistics do
    not cover (before their first year, after this one, not a number) raises statistics.BadYear."""
    year = check_year(year)
    session = db.session
    table = StaffTallyYear.__table__
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:cls, :year)"), {"cls": LOCK_CLASS, "year": year})
        session.execute(delete(StaffTallyYear).where(StaffTallyYear.year == year))
        session.execute(table.insert().from_select(
            ["year", "org_id", "dim", "value", "value2", "n"],
            select(literal(year), StaffTally.org_id, StaffTally.dim, StaffTally.value, StaffTally.value2,
                   StaffTally.n).where(StaffTally.n > 0)))
        # the own staff of every org as just copied: the industry figures agree with the tally's rows
        own = dict(session.execute(select(StaffTallyYear.org_id, StaffTallyYear.n).where(
            StaffTallyYear.year == year, StaffTallyYear.dim == OWN)).all())
        rows = _org_rows(year, own)
        for start in range(0, len(rows), BATCH):
            session.execute(table.insert(), rows[start:start + BATCH])
        snapshot = session.get(StaffTallySnapshot, year)
        if snapshot is None:
            snapshot = StaffTallySnapshot(year=year)
            session.add(snapshot)
        snapshot.taken_at = clock.now().replace(microsecond=0)
        snapshot.rows = session.scalar(select(func.count()).select_from(StaffTallyYear).where(
            StaffTallyYear.year == year))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return snapshot


def snapshot_last_year() -> int:
    """The scheduler's job of 1 January: keep the year that has just ended. Returns that year."""
    year = clock.today().year - 1
    take_snapshot(year)
    return year


def _org_rows(year: int, own: dict[int, int]) -> list[dict]:
    """The orgs page's and industries page's figures of every org, in one pass over the orgs: each org's listed
    children (CHILD), the active departments / units / bases strictly below it (BELOW), and per industry of its
    subtree (itself included) the own staff of the staff-holding orgs (INDUSTRY_STAFF) and the active units
    (INDUSTRY_UNITS). An org's ancestors are the ids of its materialised path."""
    below: Counter = Counter()
    industry_staff: Counter = Counter()
    industry_units: Counter = Counter()
    rows = []
    stmt = select(Org.id, Org.parent_id, Org.path, Org.kind, Org.state, Org.industry)
    for org_id, parent_id, path, kind, state, industry in db.session.execute(stmt):
        ancestors = [int(part) for part in (path or "").strip("/").split("/") if part]
        if parent_id is not None and state in LISTED:
            rows.append({"year": year, "org_id": parent_id, "dim": CHILD, "value": str(org_id), "value2": state,
                         "n": 1})
        active = state == OrgState.ACTIVE.value
        if active and kind in ORG_COLUMNS:
            for ancestor in ancestors:
                if ancestor != org_id:
                    below[ancestor, kind] += 1
        if kind in STAFF_HOLDERS:
            industry = industry or ""
            staff = own.get(org_id, 0)
            unit = active and kind == OrgKind.UNIT.value
            for ancestor in ancestors:
                if staff:
                    industry_staff[ancestor, industry] += staff
                if unit:
                    industry_units[ancestor, industry] += 1
    for dim, counts in ((BELOW, below), (INDUSTRY_STAFF, industry_staff), (INDUSTRY_UNITS, industry_units)):
        rows.extend({"year": year, "org_id": org_id, "dim": dim, "value": value, "value2": "", "n": n}
                    for (org_id, value), n in counts.items() if n)
    return rows
