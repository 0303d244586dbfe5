"""Evidence files: checked by content (magic bytes), size-limited, stored outside static under UPLOAD_FOLDER,
served only through a view that checks who may see the declaration."""
from __future__ import annotations

import os
import uuid

from flask import current_app
from flask_babel import gettext
from sqlalchemy import func, select

from ..extensions import db
from ..models import Attachment, Declaration
from .base import DomainError

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 5
# magic bytes -> (extension, content type)
KINDS = (
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"%PDF-", "pdf", "application/pdf"),
)


def sniff(data: bytes) -> tuple[str, str] | None:
    for magic, ext, content_type in KINDS:
        if data.startswith(magic):
            return ext, content_type
    return None


def folder() -> str:
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "declarations")
    os.makedirs(path, exist_ok=True)
    return path


def _safe_name(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip() or "file"
    return "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*;')[:120] or "file"


def check_files(files: list[tuple[str, bytes]], already: int = 0) -> list[tuple[str, bytes, str, str]]:
    """Validate uploads before anything is written: (name, data) -> (name, data, ext, content type)."""
    files = [(n, d) for n, d in files if n or d]
    if already + len(files) > MAX_FILES:
        raise DomainError(gettext("At most %(n)s attachments per declaration.", n=MAX_FILES), field="attachments")
    checked = []
    for name, data in files:
        if len(data) > MAX_BYTES:
            raise DomainError(gettext("%(name)s is larger than 5 MB.", name=_safe_name(name)), field="attachments")
        kind = sniff(data)
        if kind is None or not data:
            raise DomainError(gettext("%(name)s is not a PNG, JPEG or PDF file.", name=_safe_name(name)),
                              field="attachments")
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
    from ..models import ChangeAttachment

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
    from ..models import ChangeAttachment

    return list(db.session.scalars(select(ChangeAttachment).where(
        ChangeAttachment.owner_type == owner_type, ChangeAttachment.owner_id == owner_id)
        .order_by(ChangeAttachment.id)))


def change_path_of(row) -> str:
    return os.path.join(change_folder(), row.stored_name)
