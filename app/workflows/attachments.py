"""Evidence files: checked by parsing their content (an image must decode as a PNG or JPEG, a PDF must parse), size-
limited, stored outside static under UPLOAD_FOLDER, served only through a view that checks who may see the record.
Every upload of the platform goes through `check_files` (declarations, title changes, identity corrections, licence
scans)."""
from __future__ import annotations

import io
import logging
import os
import re
import uuid
import warnings

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select

from ..extensions import db
from ..models import Attachment, ChangeAttachment, Declaration
from .errors import DomainError

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 5
# An image may have at most this many pixels: a photo or scan of a certificate needs far fewer, and a "decompression
# bomb" (a few KB declaring 100,000 x 100,000 pixels) is refused before it is decoded.
MAX_PIXELS = 50_000_000
MAX_PDF_PAGES = 500
# A PDF must open with its header (readers tolerate bytes before it: that is how polyglot files are made).
PDF_HEADER = b"%PDF-"
# The image formats Pillow may identify, and the extension stored for each; the content type is Pillow's.
PIL_FORMATS = {"PNG": "png", "JPEG": "jpg"}
# Markup a browser would run if it ever took the file for a page (a polyglot: valid-looking header, HTML behind it).
# Long enough never to occur by chance in compressed image data.
MARKUP = re.compile(rb"<(?:script|iframe|!doctype|(?:html|body)[\s>])", re.IGNORECASE)
PNG_END = b"IEND\xaeB`\x82"


class _Refused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def sniff(data: bytes) -> tuple[str, str] | None:
    """("pdf", "application/pdf") for what can only be read as a PDF, else None (it may still be an image):
    lets a workflow that wants images refuse a PDF early. `check_content` decides what a file is."""
    return ("pdf", "application/pdf") if data.startswith(PDF_HEADER) else None


def check_content(name: str, data: bytes) -> tuple[str, str]:
    """(extension, content type) of a file that parses as a PNG, JPEG or PDF, as the parser names it (Pillow identifies
    the image itself among PNG and JPEG; pypdf reads a PDF); DomainError otherwise."""
    is_pdf = data.startswith(PDF_HEADER)
    if not is_pdf and not _claims_image(data):
        raise DomainError(gettext("%(name)s is not a PNG, JPEG or PDF file.", name=name), field="attachments")
    try:
        if MARKUP.search(data):
            raise _Refused(gettext("%(name)s contains web page code and is refused.", name=name))
        if is_pdf:
            _check_pdf(data)
            return "pdf", "application/pdf"
        pil_format, content_type = _check_image(name, data)
        return PIL_FORMATS[pil_format], content_type
    except _Refused as exc:
        raise DomainError(exc.message, field="attachments") from None
    except Exception as exc:  # any parser failure: damaged, truncated, or not what its header claims
        logging.getLogger(__name__).info("upload %r refused: %s", name, exc)
        raise DomainError(gettext("%(name)s cannot be opened: the file is damaged or is not really a PNG, JPEG or PDF "
                                  "file.", name=name), field="attachments") from None


def _claims_image(data: bytes) -> bool:
    """Whether Pillow's own PNG or JPEG plugin takes the header for its format (the parser then decides)."""
    from PIL import Image  # lazy for cost: Pillow loads only when a file is checked

    Image.init()
    return any(Image.OPEN[pil_format][1](data[:16]) for pil_format in PIL_FORMATS)


def _check_image(name: str, data: bytes) -> tuple[str, str]:
    """(Pillow's format, its content type) of a PNG or JPEG that decodes within the pixel limit."""
    from PIL import Image  # lazy for cost: Pillow loads only when a file is checked

    too_big = _Refused(gettext("%(name)s has too many pixels (at most %(n)s million).", name=name,
                               n=MAX_PIXELS // 1_000_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(PIL_FORMATS)) as image:  # no other decoder is ever tried
                pil_format = image.format
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise too_big
                image.verify()  # structure and checksums
            with Image.open(io.BytesIO(data), formats=[pil_format]) as image:
                if pil_format == "JPEG":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))  # every byte decoded, at 1/8 scale
                image.load()  # a truncated or corrupt image raises here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_big from None
    if pil_format == "PNG" and not data.endswith(PNG_END):
        raise ValueError("data after the PNG's end")
    return pil_format, Image.MIME[pil_format]


def _check_pdf(data: bytes) -> None:
    from pypdf import PdfReader  # lazy for cost: loaded only when a PDF is checked

    if b"%%EOF" not in data[-1024:]:
        raise ValueError("no end of file marker: truncated, or something appended")
    if b"/JavaScript" in data or b"/Launch" in data:
        raise ValueError("a PDF with scripts or launch actions")
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise ValueError("encrypted")
    pages = len(reader.pages)
    if not 1 <= pages <= MAX_PDF_PAGES:
        raise ValueError(f"{pages} pages")
    for page in reader.pages:
        _ = page.mediabox  # every page object resolves


def folder() -> str:
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "declarations")
    os.makedirs(path, exist_ok=True)
    return path


def _safe_name(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip() or "file"
    return "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*;')[:120] or "file"


def check_files(files: list[tuple[str, bytes]], already: int = 0) -> list[tuple[str, bytes, str, str]]:
    """Validate uploads before anything is written: (name, data) -> (name, data, ext, content type). Each file is
    parsed (`check_content`); one bad file refuses them all."""
    files = [(n, d) for n, d in files if n or d]
    if already + len(files) > MAX_FILES:
        raise DomainError(gettext("At most %(n)s attachments per declaration.", n=MAX_FILES), field="attachments")
    checked = []
    for name, data in files:
        if len(data) > MAX_BYTES:
            raise DomainError(gettext("%(name)s is larger than 5 MB.", name=_safe_name(name)), field="attachments")
        kind = check_content(_safe_name(name), data)
        checked.append((_safe_name(name), data, *kind))
    return checked


def store_attachments(item: Declaration, files: list[tuple[str, bytes]]) -> list[Attachment]:
    """Write the files and add their rows to the caller's transaction (nothing is written if one is bad)."""
    already = db.session.scalar(select(func.count(Attachment.id)).where(Attachment.declaration_id == item.id)) or 0
    checked = check_files(files, already)
    rows, written = [], []
    try:
        for name, data, ext, content_type in checked:
            stored = f"{uuid.uuid4().hex}.{ext}"
            path = os.path.join(folder(), stored)
            with open(path, "xb") as f:
                f.write(data)
            written.append(path)
            row = Attachment(declaration_id=item.id, filename=name, stored_name=stored, content_type=content_type,
                             size=len(data))
            db.session.add(row)
            rows.append(row)
    except Exception:
        for path in written:
            os.remove(path)
        raise
    return rows


def path_of(attachment: Attachment) -> str:
    return os.path.join(folder(), attachment.stored_name)


def delete_files(item: Declaration):
    """Rows go with the declaration; returns a function that removes the files once the delete is committed."""
    paths = [path_of(a) for a in db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id))]
    for a in db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)):
        db.session.delete(a)

    def remove():
        for path in paths:
            if os.path.exists(path):
                os.remove(path)

    return remove




# ---------------------------------------------------------------- evidence of change requests (issue 4)

def change_folder() -> str:
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "changes")
    os.makedirs(path, exist_ok=True)
    return path


def store_change_files(owner_type: str, owner_id: int, files: list[tuple[str, bytes]]):
    """Write the evidence files of a change request (title change, identity correction) and add their rows to the
    caller's transaction; the files are checked before anything is written. Returns a function that removes the
    written files, for the caller to run if its transaction fails."""
    already = db.session.scalar(select(func.count(ChangeAttachment.id)).where(
        ChangeAttachment.owner_type == owner_type, ChangeAttachment.owner_id == owner_id)) or 0
    checked = check_files(files, already)
    written = []

    def remove():
        for path in written:
            if os.path.exists(path):
                os.remove(path)

    try:
        for name, data, ext, content_type in checked:
            stored = f"{uuid.uuid4().hex}.{ext}"
            path = os.path.join(change_folder(), stored)
            with open(path, "xb") as f:
                f.write(data)
            written.append(path)
            db.session.add(ChangeAttachment(owner_type=owner_type, owner_id=owner_id, filename=name,
                                            stored_name=stored, content_type=content_type, size=len(data)))
    except Exception:
        remove()
        raise
    return remove


def change_files(owner_type: str, owner_id: int) -> list:
    return list(db.session.scalars(select(ChangeAttachment).where(
        ChangeAttachment.owner_type == owner_type, ChangeAttachment.owner_id == owner_id)
        .order_by(ChangeAttachment.id)))


def change_path_of(row) -> str:
    return os.path.join(change_folder(), row.stored_name)
