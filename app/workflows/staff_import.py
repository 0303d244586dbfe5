"""U9 / D6 / H5 batch import of professionals from the platform's .xlsx template.

1. `start`: the admin uploads a filled template; the file is kept (with its SHA-256) under UPLOAD_FOLDER/imports
   and an ImportBatch row records who, for which org, and how (all-or-nothing, or the valid rows).
2. The check (`check_job`): every row is read and checked with the platform's own validators (证件号, name,
   mobile, e-mail, dates, the enumerations of the profile form), against the file itself (the same 证件号 or
   e-mail twice) and against the database (already registered elsewhere, e-mail taken, unknown unit or one
   outside the admin's subtree). Nothing is written but the batch's preview: counts and every failed row with
   its reasons.
3. `confirm` then the write (`write_job`): the rows are read and checked again (the database may have changed
   since the preview) and written in ONE transaction with the batch's result, so a worker killed half way, a
   timeout or an all-or-nothing file with a bad row leaves nothing behind. Each new person gets an account whose
   password is the initial one of an admin reset (the last 6 characters of the 证件号, to be changed at the first
   login), a profile and an active professional membership at the unit. A person already on the unit's staff is
   left alone, so importing the same file again creates no duplicates.
4. The failed rows download as an .xlsx with a reason column: exactly the rows the page reports as failed.

Memory does not grow with the file: both steps stream the rows a chunk at a time (spreadsheet.read_rows keeps the
workbook's shared strings on disk), the check's per-row results are kept beside the upload (`.rows`, one JSON line a
row), every failed row goes to a second file beside it (`.failed`) while the batch keeps only the first
PREVIEW_ROWS for the page, and the ID numbers and e-mails met so far (for duplicates within the file) are kept in
a temporary SQLite database on disk (`_Seen`).

A file of IMPORT_BACKGROUND_ROWS rows or more is checked and written by the task queue (app.tasks) and the page
polls its progress; a smaller one is handled in the request.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import itertools
import json
import logging
import os
import secrets
import sqlite3
from dataclasses import dataclass, field

import openpyxl
from flask import current_app
from flask_babel import force_locale, gettext, lazy_gettext as _l
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql

from .. import tasks
from ..choices import DEGREES, EDUCATION, ETHNICITIES, TITLE_LEVELS, TITLE_SERIES
from ..extensions import db
from ..models import (Account, ImportBatch, ImportMode, ImportState, Membership, MembershipState, Org, OrgKind,
                      OrgState, Person, RoleName, statement_triggers)
from ..validators import (ID_TYPES, ValidationError, birth_date_and_gender, check_past_date, check_plain_text,
                          validate_email, validate_id_number, validate_mobile, validate_person_name)
from . import accounts, export
from .base import FOLLOWS, Actor, ConcurrentTransition, PermissionDenied, StateMachine, Transition, transaction
from .errors import DomainError
from .spreadsheet import CellProblem, Column, FileRefused, as_date, as_text, declared_rows, read_rows

log = logging.getLogger(__name__)
IMPORT_ROLES = (RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN)
CHUNK = 2000  # rows checked against the database, and written, per statement
PREVIEW_ROWS = 200  # failed rows the batch keeps for its page; all of them are in the failed-rows file
GENDERS = {"男": "M", "女": "F"}
NO_EMAIL_DOMAIN = "no-email.invalid"  # RFC 2606: never delivered; the person adds a real address in their profile

COLUMNS = [
    Column("name", _l("Name"), required=True, max_length=30, help=_l("2 to 30 characters.")),
    Column("id_type", _l("ID type"), choices=tuple(str(label) for _key, label in ID_TYPES),
           help=_l("Leave empty for a resident ID card.")),
    Column("id_number", _l("ID number"), required=True, kind="id",
           help=_l("Typed as text: a number cell loses the last digits of an 18-digit ID.")),
    Column("unit", _l("Unit"), max_length=100,
           help=_l("The unit's full name or its unified social credit code; it must lie in your own organisation's "
                   "subtree. A unit administrator may leave it empty: the person joins your unit.")),
    Column("gender", _l("Gender"), choices=tuple(GENDERS),
           help=_l("Taken from a resident ID card; needed for other ID types.")),
    Column("ethnicity", _l("Ethnicity"), choices=tuple(ETHNICITIES)),
    Column("mobile", _l("Mobile phone"), kind="phone", help=_l("11 digits.")),
    Column("email", _l("E-mail"), kind="email", max_length=254,
           help=_l("Optional; used for password reset links. Each address belongs to one person.")),
    Column("department", _l("Department"), max_length=50),
    Column("education", _l("Highest education"), choices=tuple(EDUCATION)),
    Column("degree", _l("Degree"), choices=tuple(DEGREES)),
    Column("school", _l("School"), max_length=60),
    Column("major", _l("Major"), max_length=60),
    Column("graduation_date", _l("Graduation date"), kind="date", help=_l("A date such as 2010-07-01.")),
    Column("title_series", _l("Title series"), choices=tuple(TITLE_SERIES)),
    Column("title_level", _l("Title level"), choices=tuple(TITLE_LEVELS)),
    Column("title_name", _l("Title name"), max_length=50),
    Column("title_date", _l("Title date"), kind="date", help=_l("A date such as 2018-12-31.")),
    Column("vocational_qualifications", _l("Vocational qualifications"), max_length=200),
]
BY_KEY = {c.key: c for c in COLUMNS}
EXAMPLE = {"name": "张三", "id_number": "110105199001011236", "gender": "男", "ethnicity": "汉族",
           "mobile": "13800138000", "email": "zhangsan@example.com", "department": "内科", "education": "大学本科",
           "degree": "学士", "school": "山东大学", "major": "临床医学", "graduation_date": "2012-07-01",
           "title_series": "卫生技术", "title_level": "中级", "title_name": "主治医师", "title_date": "2018-12-31"}
EXAMPLE_ROW = tuple(EXAMPLE.get(c.key) for c in COLUMNS)


# ---------------------------------------------------------------- the template

def template_workbook() -> bytes:
    """人员信息 (headers, one example row, dropdowns), 填写说明 (each column explained) and the hidden lists."""
    wb = openpyxl.Workbook()
    sheet = wb.active
    sheet.title = gettext("Staff information")
    lists = wb.create_sheet(gettext("Lists"))
    guide = wb.create_sheet(gettext("How to fill in"))
    bold, grey = Font(bold=True), Font(italic=True, color="808080")
    for index, column in enumerate(COLUMNS, start=1):
        letter = openpyxl.utils.get_column_letter(index)
        cell = sheet.cell(row=1, column=index, value=f"{column.header}{'*' if column.required else ''}")
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        sheet.column_dimensions[letter].width = max(12, 2 * len(str(column.header)) + 4)
        example = sheet.cell(row=2, column=index, value=EXAMPLE.get(column.key))
        example.font = grey
        if column.kind in ("id", "phone"):  # a text column: an ID number typed into it keeps every digit
            sheet.column_dimensions[letter].number_format = "@"
        if column.choices:
            for row, choice in enumerate(column.choices, start=1):
                lists.cell(row=row, column=index, value=choice)
            ref = f"'{lists.title}'!${letter}$1:${letter}${len(column.choices)}"
            rule = DataValidation(type="list", formula1=f"={ref}", allow_blank=True, showErrorMessage=True,
                                  errorTitle=gettext("Not in the list"),
                                  error=gettext("Pick a value from the list."))
            rule.add(f"{letter}2:{letter}100001")
            sheet.add_data_validation(rule)
    sheet.freeze_panes = "A2"
    lists.sheet_state = "hidden"
    guide.append([gettext("Column"), gettext("Required"), gettext("What to enter")])
    for c in guide[1]:
        c.font = bold
    for column in COLUMNS:
        what = [str(column.help)] if column.help else []
        if column.choices:
            what.append(gettext("One of: %(values)s", values="、".join(column.choices)))
        guide.append([str(column.header), gettext("Yes") if column.required else gettext("No"), " ".join(what)])
    guide.append([])
    for note in (gettext("Row 2 is an example: it is ignored on upload; overwrite it or leave it."),
                 gettext("Keep the first row as it is; do not merge cells; one person per row."),
                 gettext("Imported people log in with their ID number and the last 6 characters of it as password, "
                         "and must change it at the first login."),
                 gettext("A person already on your unit's staff is left unchanged, so a file can be imported "
                         "again safely."),
                 gettext("At most %(rows)s rows per file.", rows=f"{max_rows():,}")):
        guide.append([note])
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 8
    guide.column_dimensions["C"].width = 90
    for row in guide.iter_rows(min_row=2):
        for c in row:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def max_rows() -> int:
    return int(current_app.config.get("IMPORT_MAX_ROWS", 100_000))


# ---------------------------------------------------------------- one row

def _check_cell(column: Column, raw) -> object:
    if column.kind == "date":
        return check_past_date(as_date(raw))
    if column.kind == "id" and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raise CellProblem(gettext("is a number cell: enter the ID number as text (a number cell loses its "
                                  "last digits)"))
    text = as_text(raw)
    check_plain_text(text, multiline=False)
    if len(text) > column.max_length:
        raise CellProblem(gettext("is longer than %(n)s characters", n=column.max_length))
    if column.choices and text not in column.choices:
        raise CellProblem(gettext("is not one of the template's choices"))
    if column.kind == "phone":
        return validate_mobile(text)
    if column.kind == "email":
        return validate_email(text)
    return text


def _check_row(raw: dict) -> tuple[dict, list[str]]:
    """Field-level checks of one row, with the validators of the forms: (values, reasons)."""
    values, reasons = {}, []
    for column in COLUMNS:
        value = raw.get(column.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if column.required:
                reasons.append(gettext("%(column)s is required", column=column.header))
            continue
        try:
            values[column.key] = _check_cell(column, value)
        except (CellProblem, ValidationError) as exc:
            reasons.append(f"{column.header}：{exc}")
    id_type = "resident_id"
    if "id_type" in values:
        id_type = next(key for key, label in ID_TYPES if str(label) == values["id_type"])
    values["id_type"] = id_type
    if "id_number" in values:
        try:
            values["id_number"] = validate_id_number(id_type, values["id_number"])
        except ValidationError as exc:
            reasons.append(f"{BY_KEY['id_number'].header}：{exc}")
            values.pop("id_number")
    if "name" in values:
        try:
            values["name"] = validate_person_name(values["name"])
        except ValidationError as exc:
            reasons.append(f"{BY_KEY['name'].header}：{exc}")
    if id_type == "resident_id":
        if "id_number" in values:
            birth, gender = birth_date_and_gender(values["id_number"])
            values["birth_date"] = birth
            if "gender" in values and GENDERS[values["gender"]] != gender:
                reasons.append(gettext("Gender does not match the ID number"))
            values["gender"] = gender
    elif "gender" in values:
        values["gender"] = GENDERS[values["gender"]]
    else:
        reasons.append(gettext("%(column)s is required for this ID type", column=BY_KEY["gender"].header))
    return values, reasons


def _shown(raw: dict) -> list[str]:
    """The row as the failed-rows file writes it back (dates as 2020-07-01, everything as text)."""
    out = []
    for column in COLUMNS:
        value = raw.get(column.key)
        if isinstance(value, datetime.datetime):
            value = value.date()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out.append("" if value is None else str(value.isoformat() if isinstance(value, datetime.date) else value))
    return out


# ---------------------------------------------------------------- the whole file

@dataclass
class Outcome:
    total: int = 0
    valid: int = 0
    existing: int = 0
    created: int = 0
    failed: int = 0
    preview: list = field(default_factory=list)  # the first PREVIEW_ROWS failed rows: [row number, [reasons], [cells]]

    def fail(self, out, number: int, reasons: list[str], cells: list[str]) -> None:
        """Count a failed row, write it to the failed-rows file `out`, keep it if it is among the first ones."""
        self.failed += 1
        entry = [number, reasons, cells]
        if len(self.preview) < PREVIEW_ROWS:
            self.preview.append(entry)
        out.write(json.dumps(entry, ensure_ascii=False) + "\n")


class _Units:
    """The unit column resolved once per distinct value, inside the actor's subtree."""

    def __init__(self, actor: Actor):
        self.actor = actor
        self.cache: dict[str, Org | None] = {}
        own = db.session.get(Org, actor.org_id)
        self.default = own if own is not None and own.kind == OrgKind.UNIT.value else None

    def find(self, text: str | None) -> Org | None:
        if not text:
            return self.default
        if text not in self.cache:
            org = db.session.scalar(select(Org).where(
                (Org.name == text) | (Org.credit_code == text.upper()),
                Org.kind == OrgKind.UNIT.value, Org.state == OrgState.ACTIVE.value).limit(1))
            self.cache[text] = org if org is not None and self.actor.covers(org.path) else None
        return self.cache[text]


DATE_KEYS = ("birth_date", "graduation_date", "title_date")


class _Seen:
    """The ID numbers and e-mails met so far in the file, with the row of each, for "Same … as row N": in a private
    temporary SQLite database (on disk, page cache bounded), so that a 100,000-row file costs no memory for them."""

    KEYS = ("id_number", "email")

    def __init__(self):
        self.db = sqlite3.connect("")  # "": a temporary on-disk database, deleted on close
        self.db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID")

    def mark(self, rows: list) -> None:
        """Add the reason to each row of the chunk (number, cells, values, reasons) whose 证件号 or e-mail an
        earlier row had (in an earlier chunk or in this one), and remember the others'."""
        keys = [(f"{key}:{str(values[key]).lower()}", key, index)
                for index, (_number, _cells, values, _reasons) in enumerate(rows) for key in self.KEYS if key in values]
        if not keys:
            return
        first = dict(self.db.execute(f"SELECT key, row FROM seen WHERE key IN ({', '.join('?' * len(keys))})",
                                     [text for text, _key, _index in keys]))
        new = []
        for text, key, index in keys:
            number, _cells, _values, reasons = rows[index]
            if text in first:
                reasons.append(gettext("Same %(column)s as row %(row)s", column=BY_KEY[key].header, row=first[text]))
            else:
                first[text] = number
                new.append((text, number))
        self.db.executemany("INSERT INTO seen VALUES (?, ?)", new)

    def close(self) -> None:
        self.db.close()


def _file_rows(batch: ImportBatch):
    """Every row after the checks that depend on the file alone (the forms' validators; the same 证件号 or e-mail
    twice): (row number, its cells as text, values, reasons). The check keeps them beside the upload, one JSON line a
    row; the import reads them from there instead of parsing the workbook again (the file cannot have changed: it is
    the batch's own copy). What depends on the database (units, accounts, e-mails) is checked afresh each time."""
    cache = _path(batch) + ".rows"
    if os.path.exists(cache):
        with open(cache, encoding="utf-8") as fh:
            for line in fh:
                number, cells, values, reasons = json.loads(line)
                for key in DATE_KEYS:
                    if key in values:
                        values[key] = datetime.date.fromisoformat(values[key])
                yield number, cells, values, reasons
        return
    part = cache + ".part"
    seen = _Seen()
    try:
        with open(part, "w", encoding="utf-8") as out:
            rows = read_rows(_path(batch), COLUMNS, max_rows(), skip=EXAMPLE_ROW)
            while chunk := list(itertools.islice(rows, CHUNK)):
                checked = [(number, _shown(raw), *_check_row(raw)) for number, raw in chunk]
                seen.mark(checked)
                for row in checked:
                    out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                    yield row
        os.replace(part, cache)
    finally:
        seen.close()
        if os.path.exists(part):
            os.remove(part)


def _process(batch: ImportBatch, actor: Actor, write: bool) -> Outcome:
    """Check every row; with `write`, insert the valid new ones chunk by chunk (the caller commits or rolls back the
    whole). Memory: one chunk of rows; the failed rows go to the failed-rows file as they come (`_keep_failures`
    puts it in place once the batch's result is committed)."""
    outcome = Outcome()
    units = _Units(actor)
    stop_writing = write and batch.mode == ImportMode.ALL_OR_NOTHING.value
    chunk: list[tuple[int, list, dict, list[str]]] = []

    def flush(failed_file):
        nonlocal chunk
        _check_against_database(chunk, outcome)
        good = [(number, values) for number, cells, values, reasons in chunk if not reasons and values is not None]
        for number, cells, values, reasons in chunk:
            if reasons:
                outcome.fail(failed_file, number, reasons, cells)
        outcome.valid += len(good)
        if write and not (stop_writing and outcome.failed):
            outcome.created += _insert(good)
        tasks.progress(outcome.total, batch.total_rows or outcome.total)
        chunk = []

    with open(_failed_path(batch) + ".part", "w", encoding="utf-8") as failed_file:
        for number, cells, values, reasons in _file_rows(batch):
            outcome.total += 1
            unit = units.find(values.get("unit"))
            if unit is None:
                reasons.append(gettext("Unit “%(unit)s” is not an active unit of your organisation's subtree",
                                       unit=values.get("unit", "")) if values.get("unit")
                               else gettext("%(column)s is required", column=BY_KEY["unit"].header))
            else:
                values["unit_id"] = unit.id
            chunk.append((number, cells, values, reasons))
            if len(chunk) >= CHUNK:
                flush(failed_file)
        flush(failed_file)
    return outcome


def _check_against_database(chunk, outcome: Outcome) -> None:
    """Already registered (here: left alone; elsewhere: refused), e-mail taken: one query each per chunk."""
    ids = [values["id_number"] for _n, _r, values, reasons in chunk if not reasons]
    if not ids:
        return
    accounts_by_id = dict(db.session.execute(select(Account.username, Account.id).where(
        Account.username.in_(ids))).tuples().all())
    held: dict[int, list[tuple[int, str]]] = {}
    if accounts_by_id:
        for user_id, org_id, state in db.session.execute(select(
                Membership.user_id, Membership.org_id, Membership.state).where(
                Membership.user_id.in_(list(accounts_by_id.values())),
                Membership.role == RoleName.PROFESSIONAL.value,
                Membership.state.in_([MembershipState.ACTIVE.value, MembershipState.PENDING.value]))):
            held.setdefault(user_id, []).append((org_id, state))
    emails = [values["email"].lower() for _n, _r, values, reasons in chunk if not reasons and "email" in values]
    taken = set(db.session.scalars(select(func.lower(Account.email)).where(func.lower(Account.email).in_(emails)))
                ) if emails else set()
    for index, (number, cells, values, reasons) in enumerate(chunk):
        if reasons:
            continue
        user_id = accounts_by_id.get(values["id_number"])
        if user_id is not None:
            memberships = held.get(user_id, [])
            if (values["unit_id"], MembershipState.ACTIVE.value) in memberships:
                outcome.existing += 1
                chunk[index] = (number, cells, None, [])  # already on this unit's staff: nothing to do
                continue
            if memberships:
                reasons.append(gettext("This ID number is already registered at another unit (or under review "
                                       "there); a move between units is a transfer"))
            else:
                reasons.append(gettext("This ID number already has an account on the platform: the person "
                                       "registers at your unit themselves"))
        elif "email" in values and values["email"].lower() in taken:
            reasons.append(gettext("%(column)s is already used by another account", column=BY_KEY["email"].header))


PROFILE_KEYS = ("gender", "birth_date", "ethnicity", "department", "education", "school", "major", "graduation_date",
                "degree", "title_series", "title_level", "title_name", "title_date", "vocational_qualifications")


def _insert(rows: list[tuple[int, dict]]) -> int:
    """Accounts, memberships and profiles of one chunk: one INSERT each. The memberships go first: the profiles are
    then staff as they are inserted, instead of being inserted and then updated by the staff flag's trigger."""
    if not rows:
        return 0
    now = datetime.datetime.now()
    accounts_rows = [dict(username=v["id_number"], first_name=v["name"], last_name="", active=True,
                          id_type=v["id_type"], email=v.get("email") or f"{v['id_number'].lower()}@{NO_EMAIL_DOMAIN}",
                          mobile=v.get("mobile"), password=accounts.initial_password(), must_change_password=True,
                          created_on=now, changed_on=now, login_count=0, fail_login_count=0) for _n, v in rows]
    ids = _insert_many(Account.__table__, accounts_rows, returning="username")
    user_ids = [ids[v["id_number"]] for _n, v in rows]
    _insert_many(Membership.__table__, [
        dict(user_id=uid, role=RoleName.PROFESSIONAL.value, org_id=v["unit_id"], state=MembershipState.ACTIVE.value,
             is_super=False, created_at=now) for uid, (_n, v) in zip(user_ids, rows)])
    _insert_many(Person.__table__, [
        dict({k: v.get(k) for k in PROFILE_KEYS}, user_id=uid, name=v["name"], id_number=v["id_number"],
             unit_id=v["unit_id"], postdoc=False, created_at=now) for uid, (_n, v) in zip(user_ids, rows)])
    return len(rows)


def _insert_many(table, rows: list[dict], returning: str | None = None) -> dict:
    """One INSERT of many rows; with `returning`, {that column's value: id}. On PostgreSQL the rows travel as one
    array per column (INSERT … SELECT FROM unnest(…)): a statement of 20,000 placeholders costs the driver more
    than the server's whole insert. Elsewhere SQLAlchemy's multi-row INSERT (RETURNING makes it one statement, so
    a statement trigger runs once)."""
    columns = list(rows[0])
    if db.session.get_bind().dialect.name == "postgresql":
        dialect = postgresql.dialect()
        casts = ", ".join(f"%s::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({casts})"
        if returning:
            sql += f" RETURNING {returning}, id"
        result = db.session.connection().exec_driver_sql(sql, tuple([row[c] for row in rows] for c in columns))
        return dict(result.all()) if returning else {}
    stmt = insert(table).returning(table.c[returning] if returning else table.c.id, table.c.id)
    return dict(db.session.execute(stmt, rows).all())


# ---------------------------------------------------------------- use cases

def _folder() -> str:
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "imports")
    os.makedirs(path, exist_ok=True)
    return path


def _path(batch: ImportBatch) -> str:
    return os.path.join(_folder(), batch.stored_name)


def _failed_path(batch: ImportBatch) -> str:
    """Every failed row of the batch's last result, one JSON line each (the batch itself keeps the first ones)."""
    return _path(batch) + ".failed"


def _keep_failures(batch: ImportBatch) -> None:
    """After the commit of a result: its failed-rows file replaces the previous one (the check's, for an import)."""
    os.replace(_failed_path(batch) + ".part", _failed_path(batch))


def _check_actor(actor: Actor) -> None:
    if actor.role not in IMPORT_ROLES or not actor.org_id or not actor.scope_path:
        raise PermissionDenied(_l("You do not have permission to do this."))


def _count_rows(path: str) -> int | None:
    """The sheet's own idea of its size (its <dimension>, which Excel, WPS and LibreOffice write), to pick request
    or queue; None when the file does not say (then the queue). The check counts the rows for real."""
    rows = declared_rows(path)
    return None if rows is None else max(0, rows - 1)


S = ImportState
_JOB = frozenset({FOLLOWS})  # the steps the import's own jobs take (and the page that finds a job lost)


class ImportMachine(StateMachine):
    """A batch's life: checked after upload, then imported once the admin confirms; every end is final."""

    model = ImportBatch
    object_type = "import_batch"
    initial = (S.CHECKING,)
    reason_required = frozenset()
    transitions = [
        Transition(S.CHECKING, "checked", S.CHECKED, _JOB),
        Transition(S.CHECKING, "refuse", S.REFUSED, _JOB),
        Transition(S.CHECKING, "interrupt", S.INTERRUPTED, _JOB),
        Transition(S.CHECKED, "confirm", S.IMPORTING, frozenset(r.value for r in IMPORT_ROLES)),
        Transition(S.IMPORTING, "done", S.DONE, _JOB),
        Transition(S.IMPORTING, "refuse", S.REFUSED, _JOB),
        Transition(S.IMPORTING, "interrupt", S.INTERRUPTED, _JOB),
    ]

    def in_scope(self, item, actor: Actor) -> bool:
        return actor.covers(item.org.path)

    def is_owner(self, item, actor: Actor) -> bool:
        return item.user_id == actor.user_id


machine = ImportMachine()


def _check_mode(mode: str) -> None:
    if mode not in {m.value for m in ImportMode}:
        raise DomainError(_l("Choose how to import."), field="mode")


def start(actor: Actor, membership_id: int, file_name: str, content: bytes, mode: str, locale: str) -> ImportBatch:
    """Keep the uploaded file, record the batch and check it (in the queue when it is big)."""
    _check_actor(actor)
    _check_mode(mode)
    if not content:
        raise DomainError(_l("Choose the filled template (.xlsx) to upload."), field="file")
    stored = f"{secrets.token_hex(16)}.xlsx"
    batch = ImportBatch(org_id=actor.org_id, user_id=actor.user_id, membership_id=membership_id, locale=locale,
                        file_name=(file_name or "import.xlsx")[-200:], stored_name=stored,
                        sha256=hashlib.sha256(content).hexdigest(), mode=mode)
    path = os.path.join(_folder(), stored)
    with open(path, "wb") as fh:
        fh.write(content)
    rows = _count_rows(path)
    batch.total_rows = rows or 0
    machine.open(batch, actor, action="upload", comment=f"{batch.file_name} sha256={batch.sha256}")
    _run(batch, check_job, big=rows is None)
    return batch


def _run(batch: ImportBatch, job, big: bool = False) -> None:
    if (big or batch.total_rows >= current_app.config["IMPORT_BACKGROUND_ROWS"]) and not tasks.inline():
        job_id = tasks.enqueue(job, batch.id, description=f"import batch {batch.id}")
        db.session.execute(update(ImportBatch).where(ImportBatch.id == batch.id).values(job_id=job_id))
        db.session.commit()
    else:
        job(batch.id)
    db.session.refresh(batch)


def confirm(actor: Actor, batch_id: int, mode: str | None = None) -> ImportBatch:
    """Write the checked file: CHECKED -> IMPORTING, taken once even by two clicks at once."""
    batch = get_batch(actor, batch_id)
    if batch is None:
        raise PermissionDenied(_l("You do not have permission to do this."))
    if mode is not None:
        _check_mode(mode)
    machine.apply(batch, "confirm", actor, values={"mode": mode or batch.mode, "job_id": None})
    _run(batch, write_job)
    return batch


def _job_actor(batch: ImportBatch) -> Actor:
    """The uploader as they are now: rights removed since the upload stop the job."""
    membership = db.session.get(Membership, batch.membership_id)
    if membership is None or membership.state != MembershipState.ACTIVE.value or membership.org_id != batch.org_id:
        raise PermissionDenied(_l("You do not have permission to do this."))
    actor = accounts.actor_of(membership)
    _check_actor(actor)
    return actor


def _finish(batch: ImportBatch, action: str, actor: Actor | None, outcome: Outcome | None,
            message: str | None) -> None:
    """The job's last step, in the caller's transaction (with the rows it wrote, if any)."""
    values = dict(message=message and message[:500], finished_at=datetime.datetime.now())
    comment = None
    if outcome is not None:
        values.update(total_rows=outcome.total, valid_rows=outcome.valid, failed_rows=outcome.failed,
                      existing_rows=outcome.existing, created_rows=outcome.created,
                      problems_json=json.dumps(outcome.preview, ensure_ascii=False))
        comment = (f"rows={outcome.total} valid={outcome.valid} failed={outcome.failed} "
                   f"existing={outcome.existing} created={outcome.created}")
    machine.enter(batch, action, actor, comment, values, follows=True)


def _job(batch_id: int, expected: ImportState, body) -> None:
    """Run one job step in the uploader's language, always leaving the batch in a final state."""
    part = None
    try:
        batch = db.session.get(ImportBatch, batch_id)
        if batch is None or batch.state != expected.value:
            return
        part = _failed_path(batch) + ".part"
        tasks.progress(0, batch.total_rows)  # alive: the page counts a silent worker as gone from now on
        actor = None
        with force_locale(batch.locale):
            try:
                actor = _job_actor(batch)
                body(batch, actor)
            except (FileRefused, PermissionDenied) as exc:
                db.session.rollback()
                _finish(batch, "refuse", actor, None, str(exc.message))
                db.session.commit()
            except Exception:  # noqa: BLE001 - whatever stops it, nothing is half-written and the page says so
                log.exception("import batch %s failed", batch_id)
                db.session.rollback()
                _finish(batch, "interrupt", actor, None, gettext(
                    "An error stopped the import. Nothing was imported: try again, or tell the platform's operators "
                    "if it happens again."))
                db.session.commit()
    finally:
        if part is not None and os.path.exists(part):
            os.remove(part)  # the failed rows of a result that was not recorded
        if tasks.in_worker():
            db.session.remove()  # the worker's next job starts with a fresh session


def check_job(batch_id: int) -> None:
    def body(batch, actor):
        outcome = _process(batch, actor, write=False)
        if not outcome.total:
            raise FileRefused(gettext("The file has no rows to import."))
        _finish(batch, "checked", actor, outcome, None)
        db.session.commit()
        _keep_failures(batch)
    _job(batch_id, S.CHECKING, body)


def write_job(batch_id: int) -> None:
    def body(batch, actor):
        # the people join the completion rollup at the commit: the city's rollup rows, which every hour approval
        # waits for, are held from then to the end of the commit only, not for the whole write (PostgreSQL)
        statement_triggers.defer_people(db.session.connection())
        outcome = _process(batch, actor, write=True)
        if outcome.failed and batch.mode == ImportMode.ALL_OR_NOTHING.value:
            db.session.rollback()
            outcome.created = 0
            _finish(batch, "refuse", actor, outcome, gettext(
                "%(n)s rows have problems: as asked, nothing was imported.", n=outcome.failed))
        else:
            _finish(batch, "done", actor, outcome, None)
        db.session.commit()  # the rows and the batch's result: one transaction
        _keep_failures(batch)
    _job(batch_id, S.IMPORTING, body)


def watch(batch: ImportBatch, actor: Actor) -> tasks.JobState | None:
    """The queue's view of a running batch; a batch whose worker stopped is marked interrupted (nothing was
    written: the write is one transaction). None when the batch is not running."""
    if not batch.running:
        return None
    job = tasks.state(batch.job_id)
    if job.status in (tasks.LOST, tasks.FAILED, tasks.FINISHED):
        db.session.refresh(batch)
        if batch.running:
            with force_locale(batch.locale):
                message = gettext("The background worker stopped before the end. Nothing was imported: upload the "
                                  "file again.")
            try:
                with transaction():
                    _finish(batch, "interrupt", actor, None, message)
            except ConcurrentTransition:  # the job itself ended it at this very moment
                pass
            db.session.refresh(batch)
    return job


# ---------------------------------------------------------------- reading

def _scoped(actor: Actor):
    _check_actor(actor)
    return select(ImportBatch).join(Org, ImportBatch.org_id == Org.id).where(
        Org.path.startswith(actor.scope_path, autoescape=True))


def batches(actor: Actor, limit: int = 50) -> list[ImportBatch]:
    """导入记录: the batches of the actor's org and of the orgs below it, newest first."""
    return list(db.session.scalars(_scoped(actor).order_by(ImportBatch.id.desc()).limit(limit)))


def get_batch(actor: Actor, batch_id: int | None) -> ImportBatch | None:
    """The batch if it lies in the actor's subtree (None otherwise: its existence is not told)."""
    return db.session.scalar(_scoped(actor).where(ImportBatch.id == batch_id)) if batch_id else None


def preview(batch: ImportBatch) -> list:
    """The first PREVIEW_ROWS failed rows, [row number, [reasons], [cells as text]]: what the batch's page lists."""
    return json.loads(batch.problems_json or "[]")


def failures(batch: ImportBatch):
    """Every failed row, read one at a time: from the batch itself when it holds them all, else from the
    failed-rows file."""
    shown = preview(batch)
    if batch.failed_rows <= len(shown):
        yield from shown
        return
    with open(_failed_path(batch), encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def failed_rows_workbook(batch: ImportBatch) -> bytes:
    """The failed rows, as the template's columns plus the row number and the reasons: fix and upload again
    (exactly the rows the page reports; text that looks like a formula is neutralised, as in every export)."""
    out = io.BytesIO()
    export.write(out, gettext("Failed rows"),
                 [f"{c.header}{'*' if c.required else ''}" for c in COLUMNS]
                 + [gettext("Row in the uploaded file"), gettext("Reasons")],
                 (cells + [number, "；".join(reasons)] for number, reasons, cells in failures(batch)), cap=max_rows())
    return out.getvalue()
