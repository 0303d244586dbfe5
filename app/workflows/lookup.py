"""U10 / D6 / H6 查询统计 of the org admins (unit, department, HR bureau), inside their own subtree only:

- 人员查询 (staff lookup): a professional found by the exact 证件号 or by the beginning of the name; their unit and
  learning record (per year: public and professional hours and the annual result of app.workflows.annual); the
  admin's password reset (accounts.admin_reset_password, which checks the right to do it once more);
- 学时查询 (hours lookup): the professionals of the subtree with one year's public, professional and total hours
  and result, filtered by region, unit, name or 证件号, a page at a time or all of them for an export.

People are read through the partial indexes on person (WHERE is_staff), a page's ids first and then only those
rows; a year's hours come from the per-person-per-year summary (`year_summary`, kept in the same transaction as
the hour records), never from the hour records. A person or an org outside the subtree is not found (NotFound:
the views answer 404 and tell nothing)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased, joinedload

from ..extensions import db
from ..models import Account, Org, Person, Region, RoleName, YearSummary
from ..validators import (ValidationError, bad_character, mask_id_number, normalize_id_number,
                          validate_resident_id)
from . import accounts, annual, export, statistics
from .base import Actor
from .errors import PermissionDenied

ADMIN_ROLES = (RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN)
PAGE_SIZE = 20
MAX_PAGES = 50          # 1,000 rows page by page; past them a search narrows it down (the export has them all)
MATCH_CAP = 50          # the staff lookup shows this many people whose name starts alike
NAME_MAX = 30           # person.name is String(30)
UNIT_NAME_MAX = 100     # org.name is String(100)
# Other documents (passports, permits, officer IDs), compared as typed (upper-cased): letters and digits, or the
# 8 or 10 digits of a Taiwan residents' permit.
_OTHER_ID = re.compile(r"[A-Z0-9]{5,20}")


class BadInput(ValueError):
    """A search or filter the lookup cannot use (input, not a refusal); `message` says which and why."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message, self.field = message, field


class NotFound(LookupError):
    """No such person, or one outside the actor's subtree."""


# ---------------------------------------------------------------- input

def _admin(actor: Actor) -> str:
    """The actor's subtree root; only the org admins look people up here."""
    if actor.role not in ADMIN_ROLES or not actor.scope_path:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return actor.scope_path


def _text(raw, limit: int, field_name: str) -> str:
    text = (raw or "").strip()
    if bad_character(text, multiline=False) or len(text) > limit:
        raise BadInput(_l("This search text cannot be used: %(limit)s characters at most, no control characters.",
                          limit=limit), field=field_name)
    return text


def id_number_of(raw) -> str:
    """A complete 证件号 as stored: a resident ID checked like the registration form checks it, any other
    document number as letters and digits."""
    number = normalize_id_number(_text(raw, 20, "id_number")).upper()
    if not number:
        return ""
    if number.isdigit() and len(number) >= 15 or re.fullmatch(r"[0-9]{17}X", number):
        try:
            return validate_resident_id(number)
        except ValidationError as exc:
            raise BadInput(exc.message, field="id_number") from None
    if number.isdigit() and len(number) not in (8, 10) or not _OTHER_ID.fullmatch(number):
        raise BadInput(_l("Enter a whole ID number."), field="id_number")
    return number


def name_of(raw) -> str:
    return _text(raw, NAME_MAX, "name")


def split_query(raw) -> tuple[str, str]:
    """The one search box of the staff lookup: ("id_number", number) when it holds a digit, else ("name", the
    beginning of a name); ("", "") when empty."""
    text = _text(raw, 40, "q")
    if not text:
        return "", ""
    if any(ch.isdigit() for ch in normalize_id_number(text)):
        return "id_number", id_number_of(text)
    return "name", name_of(text)


year_range = statistics.year_range  # the years a lookup may ask for: those of the statistics


def year_of(raw) -> int:
    low, high = year_range()
    if raw in (None, ""):
        return high
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4 and low <= int(text) <= high):
        raise BadInput(_l("Please choose a year from %(low)s to %(high)s.", low=low, high=high), field="year")
    return int(text)


def page_of(raw) -> int:
    if raw in (None, ""):
        return 1
    text = str(raw).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and int(text) >= 1):
        raise BadInput(_l("This page number cannot be used."), field="page")
    if int(text) > MAX_PAGES:
        raise BadInput(_l("Only the first %(n)s pages are shown: narrow the search, or export the list.",
                          n=MAX_PAGES), field="page")
    return int(text)


def _in_subtree(root: str):
    return Org.path.startswith(root, autoescape=True)


# ---------------------------------------------------------------- 人员查询 (staff lookup)

@dataclass
class StaffHit:
    account_id: int
    name: str
    masked_id_number: str
    unit: str
    department: str | None
    title_series: str | None
    title_level: str | None


@dataclass
class StaffSearch:
    kind: str = ""            # "id_number", "name" or "" (nothing asked)
    hits: list[StaffHit] = field(default_factory=list)
    more: bool = False        # more people than MATCH_CAP have names that start so


def find_staff(actor: Actor, raw) -> StaffSearch:
    """The professionals of the actor's subtree with this 证件号, or whose name starts with this text (the
    newest MATCH_CAP of them, listed by name)."""
    root = _admin(actor)
    kind, value = split_query(raw)
    if not kind:
        return StaffSearch()
    stmt = (select(Person.user_id, Person.name, Person.id_number, Org.name, Person.department, Person.title_series,
                   Person.title_level)
            .join(Org, Org.id == Person.unit_id)
            .where(Person.is_staff, _in_subtree(root)))
    if kind == "id_number":
        stmt = stmt.where(Person.id_number == value)
    else:
        stmt = stmt.where(Person.name.startswith(value, autoescape=True))
    # The newest first (the primary key walked backwards, or the name index for a rare name), shown by name:
    # ordering by name made PostgreSQL walk the name index past every staff member named before it (1.3 s).
    rows = db.session.execute(stmt.order_by(Person.id.desc()).limit(MATCH_CAP + 1)).all()
    hits = sorted((StaffHit(r[0], r[1], mask_id_number(r[2]), r[3], r[4], r[5], r[6]) for r in rows[:MATCH_CAP]),
                  key=lambda hit: (hit.name, hit.account_id))
    return StaffSearch(kind, hits, len(rows) > MATCH_CAP)


@dataclass
class StaffRecord:
    person: Person
    masked_id_number: str
    years: list[annual.YearResult]


def _staff_person(actor: Actor, account_id) -> Person:
    root = _admin(actor)
    try:
        account_id = int(account_id)
    except (TypeError, ValueError):
        raise NotFound(account_id) from None
    if not 0 < account_id < 2 ** 31:
        raise NotFound(account_id)
    person = db.session.scalar(select(Person).options(joinedload(Person.unit))
                               .where(Person.user_id == account_id, Person.is_staff))
    if person is None or person.unit is None or not person.unit.path.startswith(root):
        raise NotFound(account_id)
    return person


def staff_record(actor: Actor, account_id) -> StaffRecord:
    """A professional of the subtree with their learning record: the last five years, newest first."""
    person = _staff_person(actor, account_id)
    return StaffRecord(person, mask_id_number(person.id_number), annual.completion(person))


def reset_password(actor: Actor, account_id) -> Person:
    """Reset the password of a professional of the subtree (to the last 6 characters of the 证件号, to be changed
    at the next login); the accounts workflow checks once more that the actor may (never a fellow admin's)."""
    person = _staff_person(actor, account_id)
    accounts.admin_reset_password(db.session.get(Account, person.user_id), actor)
    return person


# ---------------------------------------------------------------- 学时查询 (hours lookup)

@dataclass
class HoursFilter:
    year: int
    region: Region | None = None
    unit: str = ""            # the beginning of a unit's name
    name: str = ""            # the beginning of a person's name
    id_number: str = ""       # a whole 证件号

    def args(self) -> dict:
        """The filters that are set, as query arguments (for the pager and the export link)."""
        args = {"year": self.year, "region": self.region.id if self.region else "", "unit": self.unit,
                "name": self.name, "id_number": self.id_number}
        return {key: value for key, value in args.items() if value != ""}


def region_choices(actor: Actor) -> list[Region]:
    """The regions an admin filters by: the region of their org and the regions just below it (a city's
    districts); none for an org without a region."""
    _admin(actor)
    own = db.session.scalar(select(Org.region_id).where(Org.id == actor.org_id))
    if own is None:
        return []
    return list(db.session.scalars(select(Region).where((Region.id == own) | (Region.parent_id == own))
                                   .order_by(Region.code, Region.id)))


def hours_filter(actor: Actor, args, regions: list[Region] | None = None) -> HoursFilter:
    """The filters of a request (a mapping of query arguments), checked; a region must be one of the choices."""
    _admin(actor)
    flt = HoursFilter(year=year_of(args.get("year")), unit=_text(args.get("unit"), UNIT_NAME_MAX, "unit"),
                      name=name_of(args.get("name")), id_number=id_number_of(args.get("id_number")))
    region = (args.get("region") or "").strip()
    if region:
        choices = {str(r.id): r for r in (region_choices(actor) if regions is None else regions)}
        if region not in choices:
            raise BadInput(_l("Choose a region from the list."), field="region")
        flt.region = choices[region]
    return flt


@dataclass
class HoursRow:
    account_id: int
    name: str
    masked_id_number: str
    unit: str
    result: annual.YearResult

    @property
    def outcome(self) -> str:
        """A key of VERDICTS."""
        if self.result.standard is None:
            return "no_standard"
        return "passed" if self.result.passed else "not_passed"

    @property
    def verdict(self):
        return VERDICTS[self.outcome]


VERDICTS = {"passed": _l("Passed"), "not_passed": _l("Not passed"), "no_standard": _l("No standard")}


@dataclass
class HoursPage:
    filter: HoursFilter
    rows: list[HoursRow]
    page: int
    has_next: bool
    count: int               # capped: MAX_PAGES * PAGE_SIZE + 1 means "more than that"

    @property
    def count_cap(self) -> int:
        return MAX_PAGES * PAGE_SIZE


def _ids(root: str, flt: HoursFilter):
    """The ids of the people the filters select, newest first (the partial index person(unit_id, id) WHERE
    is_staff, or the name / 证件号 indexes when one is given)."""
    stmt = select(Person.id).join(Org, Org.id == Person.unit_id).where(Person.is_staff, _in_subtree(root))
    if flt.region is not None:
        stmt = stmt.where(Org.region_id == flt.region.id)
    if flt.unit:
        stmt = stmt.where(Org.name.startswith(flt.unit, autoescape=True))
    if flt.name:
        stmt = stmt.where(Person.name.startswith(flt.name, autoescape=True))
    if flt.id_number:
        stmt = stmt.where(Person.id_number == flt.id_number)
    return stmt.order_by(Person.id.desc())


class _Rows:
    """The rows of a list of ids with the year's hours and result; the standard of each region is looked up once
    (annual.standards) and kept for the next batch."""

    def __init__(self, year: int):
        self.year = year
        self.standards: dict = {}

    def __call__(self, ids: list[int]) -> list[HoursRow]:
        found = self.by_id(ids)
        return [found[i] for i in ids if i in found]

    def by_id(self, ids: list[int]) -> dict[int, HoursRow]:
        if not ids:
            return {}
        unit = aliased(Org)
        stmt = (select(Person.id, Person.user_id, Person.name, Person.id_number, unit.name, statistics.region_expr(unit),
                       YearSummary.public_hours, YearSummary.professional_hours)
                .join(unit, unit.id == Person.unit_id)
                .outerjoin(YearSummary, and_(YearSummary.person_id == Person.id, YearSummary.year == self.year))
                .where(Person.id.in_(ids)))
        found = {}
        for pid, account_id, name, number, unit_name, region, public, professional in db.session.execute(stmt):
            if region not in self.standards:
                self.standards[region] = annual.standards([self.year], region).get(self.year)
            result = annual.YearResult(self.year, public or Decimal(0), professional or Decimal(0),
                                       self.standards[region])
            found[pid] = HoursRow(account_id, name, mask_id_number(number), unit_name, result)
        return found


def hours_page(actor: Actor, flt: HoursFilter, page: int = 1) -> HoursPage:
    """One page of the hours lookup (PAGE_SIZE rows) and the number of people found, counted up to the last
    page shown (MAX_PAGES)."""
    root = _admin(actor)
    ids = _ids(root, flt)
    cap = MAX_PAGES * PAGE_SIZE
    # counted in no order: any cap + 1 rows the indexes give first (ordered, the count walked the newest first)
    count = db.session.scalar(select(func.count()).select_from(ids.order_by(None).limit(cap + 1).subquery()))
    page_ids = list(db.session.scalars(ids.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    rows = _Rows(flt.year)(page_ids[:PAGE_SIZE])
    return HoursPage(flt, rows, page, len(page_ids) > PAGE_SIZE and page < MAX_PAGES, count)


def hours_rows(actor: Actor, flt: HoursFilter) -> Iterator[HoursRow]:
    """Every row of the lookup for an export, read in batches (keyset on the person id)."""
    root = _admin(actor)
    rows = _Rows(flt.year)

    def fetch(after, limit):
        stmt = _ids(root, flt)
        if after is not None:
            stmt = stmt.where(Person.id < after)
        ids = list(db.session.scalars(stmt.limit(limit)))
        found = rows.by_id(ids)
        return [(i, found.get(i)) for i in ids]  # (id, row): the keyset goes on past a row gone meanwhile

    for _pid, row in export.in_batches(fetch, key=lambda pair: pair[0]):
        if row is not None:
            yield row


HOURS_LABELS = (_l("Name"), _l("ID number"), _l("Unit"), _l("Public subject hours"),
                _l("Professional subject hours"), _l("Total hours"), _l("Result"))


def export_values(rows: Iterator[HoursRow]) -> Iterator[list]:
    """The cells of each row of an export (the verdicts translated once, not once per row)."""
    verdicts = {key: str(label) for key, label in VERDICTS.items()}
    for row in rows:
        result = row.result
        yield [row.name, row.masked_id_number, row.unit, result.public, result.professional, result.total,
               verdicts[row.outcome]]
