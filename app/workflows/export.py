"""X7: a list as an .xlsx file, streamed row by row (openpyxl's write-only mode) and formula-safe (T9).

The rows come from an iterator that reads the database in batches: the workbook never holds the list in memory
(write-only mode writes each row to a temporary file as it comes), nor does the session (a batch is released
before the next one is read). Past ROW_CAP rows the sheet ends with a note row saying the export was cut.

证件号 are masked by the callers exactly as their pages mask them (no list page shows a full number: the only
view of a full number is support's identity-correction detail, `identity.reviewable`, which is no list)."""
from __future__ import annotations

import datetime
import inspect
from decimal import Decimal
from typing import Callable, Iterable, Iterator

from flask_babel import gettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.styles import Font
from sqlalchemy import inspect as sa_inspect, select
from sqlalchemy.orm import RelationshipDirection

ROW_CAP = 100_000
BATCH = 1_000
# A text cell starting with one of these is a formula (or a DDE payload) to Excel, LibreOffice or a CSV import of
# the same text: = + - @, tab, carriage return (OWASP), line feed, and the full-width forms an IME types.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def cell_value(value):
    """A value as a cell holds it: numbers and dates stay typed, None is blank, anything else is its text (a
    related row its name, a lazy label its translation)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    return str(value)


class SheetWriter:
    """One worksheet of a write-only workbook: `header(labels)`, then `row(values)` per row."""

    def __init__(self, title: str):
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(title=_sheet_title(title))
        self.bold = Font(bold=True)

    def _cell(self, value, bold: bool = False):
        value = cell_value(value)
        cell = WriteOnlyCell(self.sheet, value=value)
        if isinstance(value, str):
            # Never a formula: openpyxl makes "=…" a formula cell; an explicit string type keeps it text, and
            # Excel's quote prefix (the apostrophe it shows in the edit bar) keeps it text once edited too.
            cell.data_type = "s"
            if is_formula_like(value):
                cell.quotePrefix = True
        if bold:
            cell.font = self.bold
        return cell

    def header(self, labels: Iterable) -> None:
        self.sheet.append([self._cell(label, bold=True) for label in labels])

    def row(self, values: Iterable) -> None:
        """A data row. Plain values are handed to openpyxl as they are (it types a str as text, except one that
        starts with "=" or is an error code such as "#N/A"): only those, and every formula-like text, become
        explicit text cells (a cell object per value costs a third of the export's time)."""
        out = []
        for value in values:
            value = cell_value(value)
            if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or value in ERROR_CODES):
                value = self._cell(value)
            out.append(value)
        self.sheet.append(out)

    def note(self, text: str) -> None:
        self.sheet.append([self._cell(text, bold=True)])

    def save(self, target) -> None:
        self.workbook.save(target)


def _sheet_title(title: str) -> str:
    """A worksheet title Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in str(title)).strip()
    return (cleaned or "Sheet")[:31]


def write(target, title: str, labels: list, rows: Iterator, cap: int | None = None) -> int:
    """Write `labels` and up to `cap` rows of the iterator to `target` (a path or a binary file); a note row
    ends a sheet that was cut. Returns the number of data rows written."""
    cap = ROW_CAP if cap is None else cap
    sheet = SheetWriter(title)
    sheet.header(labels)
    written = 0
    for values in rows:
        if written >= cap:
            sheet.note(gettext("The export stops at %(n)s rows: narrow the filters to export the rest.",
                               n="{:,}".format(cap)))
            break
        sheet.row(values)
        written += 1
    sheet.save(target)
    return written


def in_batches(fetch: Callable[[int | None, int], list], key: Callable = lambda row: row.id,
               batch: int | None = None) -> Iterator:
    """Every row of a keyset-paginated query: `fetch(after, limit)` gives the next batch (of `batch` rows, BATCH
    by default) after the key `after` (None: the first). Yields rows one by one; a short batch ends it."""
    batch = batch or BATCH
    after = None
    while True:
        rows = fetch(after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = key(rows[-1])


class ColumnReader:
    """The rows of a generated list for an export, reading only what its columns need: one statement of those
    columns for a batch of ids (no ORM object per row: building 100,000 whole rows was a third of an export).

    A list column is a mapped column, a many-to-one relation (shown as the related row, read once per export
    from a cache kept across batches), or a plain property of the model (`masked_id_number`, `kind_label` …),
    evaluated on a light record holding the columns its code names (every column if it names none). `build`
    gives None for a list it cannot read this way (a method, a dotted or a to-many column): the caller then reads
    whole rows."""

    def __init__(self, model, keys: dict, relations: dict, properties: dict):
        self.model, self.relations = model, relations
        mapper = sa_inspect(model)
        self.pk = mapper.primary_key[0].key
        self.statement_columns = [getattr(model, key).label(key) for key in {self.pk: None, **keys}]
        self.record = type(f"{model.__name__}Values", (), dict(properties))
        self.cache: dict = {name: {} for name in relations}

    @classmethod
    def build(cls, model, columns: Iterable[str]) -> "ColumnReader | None":
        mapper = sa_inspect(model)
        column_keys = {attr.key for attr in mapper.column_attrs}
        keys: dict = {}
        relations: dict = {}
        properties: dict = {}

        def need(name: str, depth: int = 0) -> bool:
            if name in column_keys:
                keys[name] = None
                return True
            if name in mapper.relationships:
                prop = mapper.relationships[name]
                remote = list(prop.remote_side)
                if (prop.direction is not RelationshipDirection.MANYTOONE or len(prop.local_columns) != 1
                        or len(remote) != 1 or not remote[0].primary_key):
                    return False
                local = mapper.get_property_by_column(next(iter(prop.local_columns))).key
                keys[local] = None
                relations[name] = (local, prop.mapper.class_, prop.mapper.primary_key[0].key)
                return True
            found = inspect.getattr_static(model, name, None)
            if not isinstance(found, property) or found.fget is None or depth > 3:
                return False
            properties[name] = found
            names = [n for n in found.fget.__code__.co_names
                     if n in column_keys or n in mapper.relationships
                     or isinstance(inspect.getattr_static(model, n, None), property)]
            if not names:  # reads no attribute by name: give it every column
                names = sorted(column_keys)
            return all(need(n, depth + 1) for n in names)

        if not all(need(name) for name in columns):
            return None
        return cls(model, keys, relations, properties)

    def read(self, session, ids: list) -> list:
        """The records of these ids, in their order."""
        if not ids:
            return []
        key = getattr(self.model, self.pk)
        records = {}
        for row in session.execute(select(*self.statement_columns).where(key.in_(ids))):
            record = self.record()
            record.__dict__.update(row._mapping)
            records[row._mapping[self.pk]] = record
        for name, (local, target, target_pk) in self.relations.items():
            cache = self.cache[name]
            missing = {r.__dict__[local] for r in records.values()} - cache.keys() - {None}
            if missing:
                column = getattr(target, target_pk)
                cache.update((getattr(obj, target_pk), obj)
                             for obj in session.scalars(select(target).where(column.in_(missing))))
            for record in records.values():
                record.__dict__[name] = cache.get(record.__dict__[local])
        return [records[i] for i in ids if i in records]
