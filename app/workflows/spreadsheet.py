"""Reading an uploaded .xlsx safely, row by row, in bounded memory (openpyxl read-only mode; defusedxml is
installed, which openpyxl then uses for every XML part).

Before openpyxl sees the file: its first bytes must be a zip (an .xls or an encrypted workbook is an OLE file, a
.csv or anything renamed to .xlsx is neither), the unpacked size is capped (a zip bomb), and merged cells are
refused (they shift values between columns), and so is any XML part that declares a DTD (entity bombs). Then the first row must hold the expected headers, and every data
row comes out as {key: value} with its row number. A formula is never evaluated: its text is reported.
"""
from __future__ import annotations

import datetime
import re
import zipfile
from dataclasses import dataclass
from typing import Iterator

import openpyxl
from flask_babel import gettext
from openpyxl.utils.exceptions import InvalidFileException

from .errors import DomainError

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls, and any password-protected workbook
MAX_UNPACKED = 400 * 1024 * 1024
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell [^>]*ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')


class FileRefused(DomainError):
    """The file as a whole cannot be read: the message says why, in the uploader's language."""


@dataclass(frozen=True)
class Column:
    key: str
    header: object          # lazy msgid: the header as the template writes it
    required: bool = False
    choices: tuple = ()      # a dropdown of the template
    kind: str = "text"       # text | date | id | phone | email
    max_length: int = 50
    help: object = ""        # lazy text of the explanation sheet

    def headers(self) -> set[str]:
        """Every spelling of the header accepted on upload: the template's in any language."""
        msgid = getattr(self.header, "_args", [str(self.header)])[0]
        return {_header_text(text) for text in (str(self.header), msgid, f"{self.header}*", f"{msgid}*")}


def check_container(path: str) -> None:
    """Refuse, with a clear message, whatever is not a plain .xlsx before any XML is parsed."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(OLE_MAGIC):
        raise FileRefused(gettext("The file is encrypted or in the old Excel 97-2003 (.xls) format. Remove the "
                                  "password, save it as an Excel workbook (.xlsx) and upload it again."))
    if not head.startswith(ZIP_MAGIC):
        raise FileRefused(gettext("This is not an Excel workbook (.xlsx). Download the template, fill it in and "
                                  "upload it without renaming another kind of file."))
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise FileRefused(gettext("The file unpacks to more than %(mb)s MB: it cannot be a staff list.",
                                          mb=MAX_UNPACKED // (1024 * 1024)))
            names = {i.filename for i in infos}
            for info in infos:
                # No part of a real workbook declares a DTD: entity tricks (billion laughs, external entities)
                # are refused whether or not the parser would have expanded them.
                if info.filename.endswith((".xml", ".rels", ".vml")):
                    with archive.open(info) as part:
                        head = part.read(4096)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise FileRefused(gettext("The file contains XML the platform does not accept."))
            if "xl/workbook.xml" not in names:
                raise FileRefused(gettext("This is not an Excel workbook (.xlsx). Download the template, fill it in "
                                          "and upload it without renaming another kind of file."))
            for name in sorted(n for n in names if n.startswith("xl/worksheets/sheet") and n.endswith(".xml"))[:1]:
                merged = _first_merged_range(archive, name)
                if merged:
                    raise FileRefused(gettext("The sheet has merged cells (%(range)s). Unmerge every cell, keep one "
                                              "value per cell and upload it again.", range=merged))
    except zipfile.BadZipFile:
        raise FileRefused(gettext("The file is damaged or not an Excel workbook (.xlsx).")) from None


def _first_merged_range(archive: zipfile.ZipFile, name: str) -> str | None:
    """The first merged range of a sheet, read in chunks (the sheet XML of 100,000 rows is tens of MB)."""
    tail = b""
    with archive.open(name) as fh:
        while chunk := fh.read(1 << 20):
            found = _MERGE.search(tail + chunk)
            if found:
                return found.group(1).decode()
            tail = chunk[-200:]
    return None


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension [^>]*ref="[A-Z]+[0-9]+(?::[A-Z]+([0-9]+))?"')


def declared_rows(path: str) -> int | None:
    """The last row number the first sheet declares (its <dimension>, read from the head of its XML without parsing
    the rows), or None when the file declares none or is no workbook."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith("xl/worksheets/sheet") and n.endswith(".xml"))
            if not names:
                return None
            with archive.open(names[0]) as part:
                found = _DIMENSION.search(part.read(4096))
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    if not found:
        return None
    return int(found.group(1) or 1)


def open_sheet(path: str):
    check_container(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise FileRefused(gettext("The file is damaged or not an Excel workbook (.xlsx).")) from None
    except Exception as exc:  # noqa: BLE001 - defusedxml's refusals (entities, DTDs) and other malformed XML
        if type(exc).__module__.startswith(("defusedxml", "xml", "lxml")):
            raise FileRefused(gettext("The file contains XML the platform does not accept.")) from None
        raise
    return workbook, workbook.worksheets[0]


def _header_text(value) -> str:
    return re.sub(r"\s+", "", str(value)) if value is not None else ""


def read_rows(path: str, columns: list[Column], max_rows: int, skip: tuple | None = None
              ) -> Iterator[tuple[int, dict]]:
    """Yield (row number, {key: raw value}) for every non-empty data row of the first sheet. The header row must
    name every required column (in any order) and no unknown one. `skip`: the template's example row, if left."""
    workbook, sheet = open_sheet(path)
    try:
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        by_header = {h: c for c in columns for h in c.headers()}
        keys = []
        unknown = []
        for value in header or ():
            text = _header_text(value)
            if not text:
                keys.append(None)
                continue
            column = by_header.get(text)
            if column is None:
                unknown.append(text)
            keys.append(column.key if column else None)
        missing = [str(c.header) for c in columns if c.required and c.key not in keys]
        if header is None or missing or unknown:
            parts = []
            if missing:
                parts.append(gettext("missing columns: %(names)s", names="、".join(missing)))
            if unknown:
                parts.append(gettext("unknown columns: %(names)s", names="、".join(unknown[:10])))
            raise FileRefused(gettext("The first row must be the template's headers (%(problems)s). Download the "
                                      "template and copy your data into it.",
                                      problems="；".join(parts) or gettext("the sheet is empty")))
        duplicated = sorted({k for k in keys if k and keys.count(k) > 1})
        if duplicated:
            names = "、".join(str(c.header) for c in columns if c.key in duplicated)
            raise FileRefused(gettext("A column appears twice in the first row: %(names)s.", names=names))
        count = 0
        for number, values in enumerate(rows, start=2):
            row = {key: value for key, value in zip(keys, values) if key and value not in (None, "")}
            if not row or (skip is not None and tuple(row.get(c.key) for c in columns) == skip):
                continue
            count += 1
            if count > max_rows:
                raise FileRefused(gettext("The file has more than %(max)s rows. Split it into several files.",
                                          max=f"{max_rows:,}"))
            yield number, row
    finally:
        workbook.close()


# ---------------------------------------------------------------- cell values

class CellProblem(ValueError):
    """A cell's value is not acceptable; the message is shown with the row."""


def as_text(value) -> str:
    if isinstance(value, str):
        if value.startswith("="):
            raise CellProblem(gettext("is a formula; enter the value itself"))
        return value.strip()
    if isinstance(value, bool):
        raise CellProblem(gettext("is not text"))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime.date, datetime.time)):
        raise CellProblem(gettext("is a date, not text"))
    return str(value).strip()


_DATE_TEXT = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")


def as_date(value) -> datetime.date:
    """An Excel date, or text written like 2020-07-01 (also 2020/7/1): any other text is refused, never guessed
    (07/01/2020 is July 1st in one country and January 7th in another)."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = as_text(value)
    found = _DATE_TEXT.fullmatch(text)
    if found:
        try:
            return datetime.date(*(int(part) for part in found.groups()))
        except ValueError:
            pass
    raise CellProblem(gettext("is not a date such as 2020-07-01"))
