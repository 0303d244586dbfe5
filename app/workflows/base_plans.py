"""B1 / state machine 6: a training base files its annual training plan and its annual work report; the HR bureau
above the base approves or rejects each (with a reason), one by one or in a batch. A rejected filing stays as it
was and the base files a new one; one plan and one report per base and year are live (pending or approved)."""
from __future__ import annotations

import io
import os
import re
import uuid
import zipfile
from decimal import Decimal

from flask import current_app
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import clock
from ..extensions import db
from ..models import BaseFiling, FilingKind, FilingState, Org, OrgKind, OrgState, RoleName
from ..validators import ValidationError, check_plain_text, parse_number
from .attachments import MAX_BYTES, check_content
from .base import Actor, DomainError, PermissionDenied, StateMachine, Transition, capped_count, now, transaction
from .base_reports import BaseReportMachine
from .orgs import subtree_ids
from .spreadsheet import MAX_UNPACKED, OLE_MAGIC, ZIP_MAGIC

S = FilingState
K = FilingKind
QUEUE_LIMIT = 200
MAX_COUNT = 1_000_000
MAX_HOURS = Decimal("99999.9")
DUPLICATE = _l("A filing of this kind for this year is already pending or approved. Only a rejected one can be "
               "filed again.")

# The attachment: a PDF (parsed by the platform's PDF check), or a Word / Excel file of Office 2007 and later
# (a zip holding the main part of its kind, no macros, no DTD, a bounded unpacked size).
OFFICE_PARTS = {
    "docx": ("word/document.xml",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


class BaseFilingMachine(StateMachine):
    """State machine 6 with the table of base reports (pending → approved | rejected by the HR bureau whose subtree
    holds the reviewing org), over plans and annual reports; a decision credits nothing."""

    model = BaseFiling
    object_type = "base_filing"
    initial = BaseReportMachine.initial
    transitions = BaseReportMachine.transitions

    def in_scope(self, item: BaseFiling, actor: Actor) -> bool:
        return actor.covers(item.reviewer_org.path)

    def is_owner(self, item: BaseFiling, actor: Actor) -> bool:
        return False

    def may_act(self, item: BaseFiling, transition: Transition, actor: Actor) -> bool:
        """The HR bureau above the base (its subtree), never the account that filed it."""
        return self.in_scope(item, actor) and actor.user_id is not None and actor.user_id != item.submitted_by_id

    def on_enter(self, item: BaseFiling, transition: Transition, actor: Actor, comment: str | None) -> None:
        item.reason = comment if transition.action == "reject" else None
        item.decided_by_id = actor.user_id
        item.decided_at = now()


machine = BaseFilingMachine()


# ---------------------------------------------------------------- the attachment

def _folder() -> str:
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "base_plans")
    os.makedirs(path, exist_ok=True)
    return path


def path_of(item: BaseFiling) -> str:
    return os.path.join(_folder(), item.stored_name)


def _safe_name(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip() or "file"
    return "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*;')[:120] or "file"


def _office_kind(name: str, data: bytes) -> tuple[str, str]:
    """(extension, content type) of a .docx / .xlsx whose zip holds the main part of its kind; DomainError else."""
    refused = DomainError(gettext("%(name)s cannot be opened: the file is damaged or is not really a PDF, Word or "
                                  "Excel file.", name=name), field="attachment")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise refused
            names = {i.filename for i in infos}
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                raise DomainError(gettext("%(name)s contains macros and is refused.", name=name), field="attachment")
            for info in infos:
                if info.filename.endswith((".xml", ".rels")):
                    with archive.open(info) as part:
                        head = part.read(4096)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise refused
            types = archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
    except zipfile.BadZipFile:
        raise refused from None
    for ext, (main, content_type) in OFFICE_PARTS.items():
        if main in names and content_type.encode() in types:
            return ext, content_type
    raise refused


def check_attachment(name: str, data: bytes) -> tuple[str, bytes, str, str]:
    """(safe name, data, extension, content type) of a PDF, Word (.docx) or Excel (.xlsx) file, checked by its
    content whatever its name says; DomainError otherwise."""
    name = _safe_name(name)
    if len(data) > MAX_BYTES:
        raise DomainError(gettext("%(name)s is larger than 5 MB.", name=name), field="attachment")
    if data.startswith(OLE_MAGIC):
        raise DomainError(gettext("%(name)s is encrypted or in the old Office 97-2003 format. Remove the password, "
                                  "save it as .docx or .xlsx and upload it again.", name=name), field="attachment")
    if data.startswith(ZIP_MAGIC):
        return (name, data, *_office_kind(name, data))
    if data.startswith(b"%PDF-"):
        try:
            ext, content_type = check_content(name, data)
        except DomainError:
            ext = None
        if ext == "pdf":
            return name, data, ext, content_type
    raise DomainError(gettext("%(name)s is not a PDF, Word (.docx) or Excel (.xlsx) file.", name=name),
                      field="attachment")


# ---------------------------------------------------------------- the base files

def own_base(actor: Actor) -> Org:
    """The active training base the actor administers, with an HR bureau above it; PermissionDenied else."""
    if actor.role != RoleName.BASE_ADMIN or not actor.org_id:
        raise PermissionDenied(_l("You do not have permission to do this."))
    base = db.session.get(Org, actor.org_id)
    if base is None or base.kind != OrgKind.BASE.value or base.state != OrgState.ACTIVE.value or base.parent is None:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return base


def years_for(kind: str) -> list[int]:
    """The years a plan (this year and the next) or a report (last year and this one) may be filed for."""
    this_year = clock.today().year
    return [this_year, this_year + 1] if kind == K.PLAN.value else [this_year, this_year - 1]


def _whole(raw, field: str, errors: dict) -> int:
    try:
        value = parse_number(raw, places=0)
    except ValidationError as exc:
        errors[field] = str(exc.message)
        return 0
    if not 0 <= value <= MAX_COUNT:
        errors[field] = gettext("Enter a number from 0 to %(n)s.", n=f"{MAX_COUNT:,}")
        return 0
    return int(value)


def live(base_id: int, kind: str, year: int) -> BaseFiling | None:
    """The pending or approved filing of this kind and year, if any."""
    return db.session.scalar(select(BaseFiling).where(
        BaseFiling.base_id == base_id, BaseFiling.kind == kind, BaseFiling.year == year,
        BaseFiling.state != S.REJECTED.value).limit(1))


def submit(actor: Actor, *, kind: str, year, title: str, classes, trainees, hours, content: str,
           attachment: tuple[str, bytes] | None = None) -> BaseFiling:
    """File a plan or a report; every field's problem is reported at once (DomainError on the first field, with
    all messages). The attachment is checked before anything is written and removed if the filing does not
    commit."""
    base = own_base(actor)
    errors: dict[str, str] = {}
    if kind not in {k.value for k in K}:
        raise DomainError(_l("Choose a plan or a report."), field="kind")
    try:
        year = int(year)
    except (TypeError, ValueError):
        year = None
    if year not in years_for(kind):
        allowed = years_for(kind)
        errors["year"] = gettext("The year must be between %(a)s and %(b)s.", a=min(allowed), b=max(allowed))
    title = (title or "").strip()
    if not (2 <= len(title) <= 100) or re.search(r"[<>]", title):
        errors["title"] = str(_l("Enter a title of 2 to 100 characters without < or >."))
    else:
        try:
            check_plain_text(title, multiline=False)
        except ValidationError as exc:
            errors["title"] = str(exc.message)
    classes = _whole(classes, "classes", errors)
    trainees = _whole(trainees, "trainees", errors)
    try:
        hours = parse_number(hours, places=1)
        if not 0 <= hours <= MAX_HOURS:
            errors["hours"] = gettext("Enter a number from 0 to %(n)s.", n=MAX_HOURS)
    except ValidationError as exc:
        errors["hours"] = str(exc.message)
    content = (content or "").strip()
    if not 10 <= len(content) <= 5000:
        errors["content"] = gettext("Write %(a)s to %(b)s characters.", a=10, b=5000)
    else:
        try:
            check_plain_text(content, multiline=True)
        except ValidationError as exc:
            errors["content"] = str(exc.message)
    checked = None
    if attachment and (attachment[0] or attachment[1]):
        try:
            checked = check_attachment(*attachment)
        except DomainError as exc:
            errors["attachment"] = str(exc.message)
    if not errors and live(base.id, kind, year) is not None:
        errors["year"] = str(DUPLICATE)
    if errors:
        field = next(iter(errors))
        raise DomainError("；".join(errors.values()), field=field)
    item = BaseFiling(base_id=base.id, reviewer_org_id=base.parent_id, kind=kind, year=year, title=title,
                      classes=classes, trainees=trainees, hours=hours, content=content,
                      submitted_by_id=actor.user_id)
    written = None
    try:
        with transaction(conflict=lambda: DomainError(DUPLICATE, field="year")):
            if checked:
                name, data, ext, content_type = checked
                item.file_name, item.content_type, item.file_size = name, content_type, len(data)
                item.stored_name = f"{uuid.uuid4().hex}.{ext}"
            machine.open(item, actor, comment=f"{kind} {year}", commit=False)
            if checked:
                written = os.path.join(_folder(), item.stored_name)
                with open(written, "xb") as fh:
                    fh.write(checked[1])
    except BaseException:
        if written and os.path.exists(written):
            os.remove(written)
        raise
    return item


# ---------------------------------------------------------------- reading

def of_base(actor: Actor, year: int | None = None) -> list[BaseFiling]:
    if actor.role != RoleName.BASE_ADMIN or not actor.org_id:
        return []
    stmt = select(BaseFiling).where(BaseFiling.base_id == actor.org_id)
    if year:
        stmt = stmt.where(BaseFiling.year == year)
    return list(db.session.scalars(stmt.order_by(BaseFiling.year.desc(), BaseFiling.id.desc()).limit(QUEUE_LIMIT)))


def year_states(base_id: int, year: int) -> dict[str, BaseFiling | None]:
    """The latest plan and report of the year ({"plan": filing or None, "report": …}): one statement."""
    found = {k.value: None for k in K}
    for item in db.session.scalars(select(BaseFiling).where(BaseFiling.base_id == base_id, BaseFiling.year == year)
                                   .order_by(BaseFiling.id)):
        found[item.kind] = item
    return found


def queue(actor: Actor, *, state: str | None = S.PENDING.value, kind: str | None = None,
          year: int | None = None) -> list[BaseFiling]:
    """The HR bureau's filings of the bases below it, newest first, filtered by state, kind and year."""
    if actor.role != RoleName.HR_ADMIN or not actor.scope_path:
        return []
    stmt = select(BaseFiling).options(selectinload(BaseFiling.base)).where(
        BaseFiling.reviewer_org_id.in_(subtree_ids(actor.scope_path)))
    if state in {s.value for s in S}:
        stmt = stmt.where(BaseFiling.state == state)
    if kind in {k.value for k in K}:
        stmt = stmt.where(BaseFiling.kind == kind)
    if year:
        stmt = stmt.where(BaseFiling.year == year)
    return list(db.session.scalars(stmt.order_by(BaseFiling.id.desc()).limit(QUEUE_LIMIT)))


def pending_count(actor: Actor) -> int:
    if actor.role != RoleName.HR_ADMIN or not actor.scope_path:
        return 0
    return capped_count(select(BaseFiling.id).where(
        BaseFiling.state == S.PENDING.value, BaseFiling.reviewer_org_id.in_(subtree_ids(actor.scope_path))))


def can_see(item: BaseFiling, actor: Actor) -> bool:
    return (actor.role == RoleName.BASE_ADMIN and item.base_id == actor.org_id) or (
        actor.role == RoleName.HR_ADMIN and actor.covers(item.reviewer_org.path))


def get(actor: Actor, filing_id: int | None) -> BaseFiling | None:
    """The filing if the actor may see it, else None (the view answers 404)."""
    item = db.session.get(BaseFiling, filing_id) if filing_id else None
    return item if item is not None and can_see(item, actor) else None


# ---------------------------------------------------------------- the HR bureau decides

def decide(item: BaseFiling, action: str, actor: Actor, reason: str | None = None) -> BaseFiling:
    if action not in ("approve", "reject"):
        raise DomainError(_l("Unknown action."))
    return machine.decide(item, action, actor, reason)


def decide_many(ids: list[int], action: str, actor: Actor, reason: str | None = None):
    return machine.decide_many(ids, action, actor, reason)


def can_decide(item: BaseFiling, actor: Actor) -> bool:
    return machine.can_decide(item, actor)
