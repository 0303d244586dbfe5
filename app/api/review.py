"""/api/v1/review: the review queues a reviewer's role can see (registrations, title changes, declarations,
transfers), an item's before / after details and evidence, approve / reject with a reason, one or in batch.

Each kind asks the web review page's own permission (so an org-defined role's modules apply), lists through the
workflow's own queue query and scope, and decides through the machine's `decide_many` (role, scope, own item and
state checked there for each item, one audit row per item; a batch is one transaction with a savepoint per item)."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Callable

from flask import request
from flask_appbuilder import expose
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..authz import PERSONNEL_REVIEW_VIEW, REVIEW_VIEW, TRANSFER_REVIEW_VIEW
from ..extensions import db
from ..models import Attachment, Declaration, Registration, RegistrationState, TitleChange, Transfer
from ..models.changes import ChangeState
from ..security import current_actor
from ..views.util import db_id, send_evidence
from ..workflows import declaration as decl_flow
from ..workflows import evidence
from ..workflows import registration as reg_flow
from ..workflows import title_change as title_flow
from ..workflows import transfer as transfer_flow
from ..workflows.attachments import change_path_of, path_of
from . import schemas as s
from .base import ApiBase, ApiError, doc, endpoint, load, not_found, reply, require_view
from .me import EVIDENCE_TYPES, timeline_of

PAGE = 20


def _change(field: str, label, before, after) -> dict:
    return dict(field=field, label=str(label), before=before, after=after, changed=before != after)


@dataclass(frozen=True)
class Kind:
    flow: ModuleType
    view: str
    model: type
    states: tuple  # the `state` filter values the queue takes ("" = its default)
    page: Callable  # (actor, state, after_id) -> rows
    visible: Callable  # (item, actor) -> bool
    row: Callable  # item -> dict of the queue row's own fields
    details: Callable  # item -> (changes, evidence rows, masked 证件号)


def _reg_details(reg: Registration):
    person = reg_flow.person_of(reg)
    changes = [_change("applicant_name", _l("Applicant"), None, reg.applicant_name),
               _change("org", _l("Organisation"), None, reg.org.name)]
    if person is not None:
        changes += [_change(k, k, None, str(getattr(person, k)) if getattr(person, k) is not None else None)
                    for k in ("gender", "education", "title_series", "title_level", "title_name")]
    licence = reg_flow.licence_of(reg)
    return changes, [licence] if licence else [], s.masked(reg.user.username if reg.user else None)


def _title_details(item: TitleChange):
    changes = [_change(key, label, before, after) for key, label, before, after, _c in title_flow.diff(item)]
    return changes, title_flow.files_of(item), s.masked(item.person.id_number)


def _decl_details(item: Declaration):
    changes = [_change(k, k, None, v) for k, v in (
        ("title", item.title), ("subject", item.subject), ("form", item.form.name if item.form else None),
        ("year", item.year), ("hours", str(item.hours)),
        ("start_date", item.start_date.isoformat() if item.start_date else None),
        ("end_date", item.end_date.isoformat() if item.end_date else None))]
    changes += [_change(f"details.{k}", k, None, v) for k, v in sorted(item.details.items())]
    files = list(db.session.scalars(select(Attachment).where(Attachment.declaration_id == item.id)
                                    .order_by(Attachment.id)))
    return changes, files, s.masked(item.person.id_number)


def _transfer_details(item: Transfer):
    changes = [_change("unit", _l("Unit"), item.from_unit.name, item.to_unit.name),
               _change("note", _l("Note"), None, item.note)]
    return changes, [], s.masked(item.person.id_number)


def _state_label(item) -> str | None:
    label = getattr(item, "state_label", None)
    return str(label) if label is not None else None


KINDS: dict[str, Kind] = {
    "registrations": Kind(
        reg_flow, REVIEW_VIEW, Registration, tuple(x.value for x in RegistrationState),
        lambda actor, state, after: reg_flow.queue(actor, state=state or RegistrationState.PENDING.value,
                                                   after_id=after, limit=PAGE + 1),
        reg_flow.visible,
        lambda r: dict(applicant=r.applicant_name, summary=r.kind, org=r.org.name), _reg_details),
    "title-changes": Kind(
        title_flow, PERSONNEL_REVIEW_VIEW, TitleChange, tuple(x.value for x in ChangeState),
        lambda actor, state, after: title_flow.queue(actor, state=state or ChangeState.PENDING.value,
                                                     after_id=after, limit=PAGE + 1),
        lambda item, actor: actor.role in decl_flow.REVIEWERS and title_flow.can_see(item, actor),
        lambda t: dict(applicant=t.person.name, summary=t.after.get("title_name"), org=t.unit.name),
        _title_details),
    "declarations": Kind(
        decl_flow, "DeclarationReviewView", Declaration, ("",),
        lambda actor, state, after: decl_flow.queue(actor, after_id=after, limit=PAGE + 1),
        lambda item, actor: not decl_flow.machine.is_owner(item, actor) and decl_flow.can_see(item, actor),
        lambda d: dict(applicant=d.person.name, summary=f"{d.title} · {d.hours}", org=d.unit.name), _decl_details),
    "transfers": Kind(
        transfer_flow, TRANSFER_REVIEW_VIEW, Transfer, ("out", "in", "history"),
        lambda actor, state, after: transfer_flow.queue(actor, tab=state or "out", after_id=after, limit=PAGE + 1),
        transfer_flow.visible,
        lambda t: dict(applicant=t.person.name, summary=f"{t.from_unit.name} → {t.to_unit.name}",
                       org=t.from_unit.name), _transfer_details),
}
KIND_NAMES = ",".join(f'"{k}"' for k in KINDS)


def _kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise not_found()
    require_view(kind.view)
    return kind


def _row(kind_name: str, kind: Kind, item, actor) -> dict:
    return dict(id=item.id, kind=kind_name, state=item.state, state_label=_state_label(item),
                created_at=item.created_at, can_decide=kind.flow.can_decide(item, actor), **kind.row(item))


def _item(kind: Kind, item_id: int):
    """The item when the reviewer's scope holds it; another org's is not found (404), as on the web page."""
    item = db.session.get(kind.model, item_id)
    if item is None or not kind.visible(item, current_actor()):
        raise not_found()
    return item


QUEUE_QUERY = [
    {"name": "state", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "registrations / title-changes: pending (default), approved, rejected, withdrawn; transfers: "
                    "out (default), in, history; declarations: the reviewer's level only"},
    {"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1,
                                                                   "maximum": 2 ** 31 - 1},
     "description": "`next_after` of the previous page"}]


class ApiReview(ApiBase):
    resource_name = "review"
    openapi_spec_tag = "reviewer"

    @expose(f"/<any({KIND_NAMES}):queue>", methods=["GET"])
    @endpoint()
    @doc("A page of a review queue (newest first, 20 a page)", response=s.QueueSchema, query=QUEUE_QUERY,
         errors=(400, 401, 403))
    def queue(self, queue):
        k = _kind(queue)
        state = request.args.get("state", "")
        if state and state not in k.states:
            raise ApiError(400, _l("The request could not be understood."), "invalid", {"state": list(k.states)})
        after = request.args.get("after")
        after_id = db_id(after) if after else None
        if after and after_id is None:
            raise ApiError(400, _l("The request could not be understood."), "invalid", {"after": ["?"]})
        actor = current_actor()
        rows = k.page(actor, state, after_id)
        page = rows[:PAGE]
        return reply(200, s.QueueSchema().dump(dict(
            items=[_row(queue, k, item, actor) for item in page],
            next_after=page[-1].id if len(rows) > PAGE else None)))

    @expose(f"/<any({KIND_NAMES}):queue>/<int:item_id>", methods=["GET"])
    @endpoint()
    @doc("An item's before / after details, its evidence and its review timeline", response=s.ItemDetailSchema,
         errors=(401, 403, 404))
    def detail(self, queue, item_id):
        k = _kind(queue)
        item = _item(k, item_id)
        changes, files, id_number = k.details(item)
        data = _row(queue, k, item, current_actor())
        data.update(changes=changes, evidence=files, id_number=id_number,
                    timeline=timeline_of(k.flow.machine.object_type, item.id))
        return reply(200, s.ItemDetailSchema().dump(data))

    @expose(f"/<any({KIND_NAMES}):queue>/<int:item_id>/evidence/<int:file_id>", methods=["GET"])
    @endpoint()
    @doc("Download an evidence file of an item (the web's download rules; a licence scan's opening is audited)",
         files=EVIDENCE_TYPES, errors=(401, 403, 404))
    def evidence(self, queue, item_id, file_id):
        k = _kind(queue)
        item = _item(k, item_id)
        actor = current_actor()
        row, path = None, None
        if queue == "declarations":
            row = evidence.declaration_file(file_id, actor)
            row = row if row is not None and row.declaration_id == item.id else None
            path = path_of(row) if row is not None else None
        elif queue == "title-changes":
            row = evidence.change_file(file_id, actor, personnel_module=True)  # the page's permission was asked
            row = row if row is not None and row.owner_id == item.id else None
        elif queue == "registrations" and (reg_flow.licence_of(item) or SimpleNamespace(id=None)).id == file_id:
            row = evidence.licence_file(item, actor)
        if row is None:
            raise not_found()
        return send_evidence(row, path or change_path_of(row))

    @expose(f"/<any({KIND_NAMES}):queue>/<int:item_id>/decision", methods=["POST"])
    @endpoint()
    @doc("Approve or reject one item (a reason is required to reject)", body=s.DecisionSchema,
         response=s.ItemDetailSchema, errors=(400, 401, 403, 404, 409))
    def decide(self, queue, item_id):
        k = _kind(queue)
        _item(k, item_id)
        data = load(s.DecisionSchema)
        _done, failed = k.flow.decide_many([item_id], data["action"], current_actor(), data["reason"])
        if failed:
            raise ApiError(409, failed[0][1], "conflict")
        return self.detail(queue, item_id)

    @expose(f"/<any({KIND_NAMES}):queue>/batch", methods=["POST"])
    @endpoint()
    @doc("Approve or reject several items (one transaction, each item checked and decided on its own: out-of-scope "
         "or already handled items are listed in `failed` and left unchanged, the others are decided)",
         body=s.BatchSchema, response=s.BatchResultSchema,
         errors=(400, 401, 403))
    def batch(self, queue):
        k = _kind(queue)
        data = load(s.BatchSchema)
        actor = current_actor()
        ids = list(dict.fromkeys(data["ids"]))
        # an item out of the reviewer's scope is "not found", never decided, whatever the machine would say
        visible, failed = [], []
        items = k.flow.machine.load_many(ids)  # one query (and its related rows), not one per id
        for item_id in ids:
            item = items.get(item_id)
            if item is None or not k.visible(item, actor):
                failed.append((item_id, str(_l("Record not found."))))
            else:
                visible.append(item_id)
        done, refused = k.flow.decide_many(visible, data["action"], actor, data["reason"])
        return reply(200, s.BatchResultSchema().dump(dict(
            done=done, failed=[dict(id=i, error=e) for i, e in failed + refused])))
