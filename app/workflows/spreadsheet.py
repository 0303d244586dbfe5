"""Reading an uploaded .xlsx safely, row by row, in bounded memory (openpyxl read-only mode; defusedxml is
installed, which openpyxl then uses for every XML part).

Bounded means the same for 1,000 rows as for 100,000: openpyxl's read-only mode alone keeps, for every row read, the
emptied XML element of the row and of each shared string, and the shared-strings table itself as a list of str (a
staff list has some three distinct strings a row: name, ID number, phone), about 350 bytes a row in all. Here the
shared strings live in a temporary file (`_SharedStrings`) and the rows are parsed by openpyxl's own cell parser
in a loop that drops each row once read (`_sheet_rows`).

Before openpyxl sees the file: its first bytes must be a zip (an .xls or an encrypted workbook is an OLE file, a
.csv or anything renamed to .xlsx is neither), the unpacked size is capped (a zip bomb), and merged cells are
refused (they shift values between columns), and so is any XML part that declares a DTD (entity bombs). Then the first row must hold the expected headers, and every data
row comes out as {key: value} with its row number. A formula is never evaluated: its text is reported.
"""
from __future__ import annotations

import datetime
import mmap
import re
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Iterator

from defusedxml.ElementTree import DefusedXMLParser
from flask_babel import gettext
from openpyxl.cell.text import Text
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._reader import ROW_TAG, WorkSheetParser
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse
from xml.etree.ElementTree import TreeBuilder

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
    """The first merged range of a sheet, read in pieces of 64 KiB (the sheet XML of 100,000 rows is tens of MB)."""
    tail = b""
    with archive.open(name) as fh:
        while chunk := fh.read(1 << 16):
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


class _Holder(TreeBuilder):
    """A tree builder that keeps the first element of a tag (the parent of the rows, or of the strings), so that
    the reader can empty it as it goes without asking for "start" events (the pure-Python parser that defusedxml
    uses hands each of them to Python: 30% more time for a sheet)."""

    def __init__(self, tag: str):
        super().__init__()
        self.tag, self.element = tag, None

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        if tag == self.tag:
            self.element = element
            self.start = super().start  # found: the builder's own method from now on
        return element


def _ends(source, parent: str):
    """The "end" events of openpyxl's (defusedxml's) iterparse, and the holder of the `parent` element."""
    holder = _Holder(parent)
    return iterparse(source, events=("end",), parser=DefusedXMLParser(target=holder)), holder


class _SharedStrings:
    """The workbook's shared-strings table in a temporary file instead of a list of str: the strings' UTF-8 one
    after the other, and the 8-byte end offset of each in a second file, both memory-mapped. Reads them as
    openpyxl's `read_string_table` does (rich text flattened, `_x005F_` escapes undone)."""

    _END = struct.Struct("<Q")

    def __init__(self, source=None):
        self._files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
        self._maps: list = []
        self._count = 0
        if source is not None:
            try:
                self._load(source)
            except BaseException:
                self.close()
                raise

    def _load(self, source) -> None:
        text, ends = self._files
        tag, end = f"{{{SHEET_MAIN_NS}}}si", 0
        events, root = _ends(source, f"{{{SHEET_MAIN_NS}}}sst")
        for _event, node in events:
            if node.tag == tag:
                data = Text.from_tree(node).content.replace("x005F_", "").encode("utf-8")
                if root.element is not None:
                    root.element.clear()  # <sst> emptied after each string, so that no element stays behind
                text.write(data)
                end += len(data)
                ends.write(self._END.pack(end))
                self._count += 1
        for fh in self._files:
            fh.flush()
            self._maps.append(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if fh.tell() else b"")

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self._count:
            raise IndexError(index)
        text, ends = self._maps
        start = self._END.unpack_from(ends, 8 * (index - 1))[0] if index else 0
        return text[start:self._END.unpack_from(ends, 8 * index)[0]].decode("utf-8")

    def close(self) -> None:
        for item in self._maps + self._files:
            if hasattr(item, "close"):
                item.close()


class _Reader(ExcelReader):
    """openpyxl's reader (openpyxl is pinned: this relies on its `read_strings` step and `WorkSheetParser`), with
    the shared strings kept on disk."""

    def read_strings(self):
        part = self.package.find(SHARED_STRINGS)
        if part is None:
            self.shared_strings = _SharedStrings()
        else:
            with self.archive.open(part.PartName[1:]) as src:
                self.shared_strings = _SharedStrings(src)


def open_sheet(path: str):
    """(workbook, its first sheet, its shared strings): close the workbook and the strings after use."""
    check_container(path)
    reader = None
    try:
        reader = _Reader(path, read_only=True, data_only=False)
        reader.read()
    except Exception as exc:  # noqa: BLE001 - sorted below
        if reader is not None:
            if isinstance(reader.shared_strings, _SharedStrings):
                reader.shared_strings.close()
            reader.archive.close()
        if isinstance(exc, (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError)):
            raise FileRefused(gettext("The file is damaged or not an Excel workbook (.xlsx).")) from None
        if type(exc).__module__.startswith(("defusedxml", "xml", "lxml")):  # entities, DTDs, malformed XML
            raise FileRefused(gettext("The file contains XML the platform does not accept.")) from None
        raise
    return reader.wb, reader.wb.worksheets[0], reader.shared_strings


def _sheet_rows(workbook, sheet, strings: _SharedStrings) -> Iterator[tuple[int, dict[int, object]]]:
    """(row number, {column number: value}) of every row the sheet's XML holds, values as openpyxl's read-only
    mode gives them (dates by the cell's number format, a formula as its text). Each row's element is dropped from
    <sheetData> once read (openpyxl's own loop leaves them there), and so are row dimensions."""
    with workbook._archive.open(sheet._worksheet_path) as src:
        parser = WorkSheetParser(src, strings, data_only=False, epoch=workbook.epoch,
                                 date_formats=workbook._date_formats, timedelta_formats=workbook._timedelta_formats)
        events, data = _ends(src, f"{{{SHEET_MAIN_NS}}}sheetData")
        for _event, element in events:
            if element.tag == ROW_TAG:
                number, cells = parser.parse_row(element)
                if data.element is not None:
                    data.element.clear()
                parser.row_dimensions.clear()
                yield number, {cell["column"]: cell["value"] for cell in cells}


def _header_text(value) -> str:
    return re.sub(r"\s+", "", str(value)) if value is not None else ""


def read_rows(path: str, columns: list[Column], max_rows: int, skip: tuple | None = None
              ) -> Iterator[tuple[int, dict]]:
    """Yield (row number, {key: raw value}) for every non-empty data row of the first sheet. The header row must
    name every required column (in any order) and no unknown one. `skip`: the template's example row, if left."""
    workbook, sheet, strings = open_sheet(path)
    try:
        rows = _sheet_rows(workbook, sheet, strings)
        first = next(rows, None)
        header = None
        if first is not None and first[0] == 1:
            header = [first[1].get(column) for column in range(1, max(first[1], default=0) + 1)]
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
        if not header or missing or unknown:
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
        by_column = {index: key for index, key in enumerate(keys, start=1) if key}
        count = 0
        for number, cells in rows:
            row = {by_column[index]: value for index, value in cells.items()
                   if index in by_column and value not in (None, "")}
            if not row or (skip is not None and tuple(row.get(c.key) for c in columns) == skip):
                continue
            count += 1
            if count > max_rows:
                raise FileRefused(gettext("The file has more than %(max)s rows. Split it into several files.",
                                          max=f"{max_rows:,}"))
            yield number, row
    finally:
        workbook.close()
        strings.close()


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
