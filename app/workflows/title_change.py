"""P6 profile and state machine 2: a professional edits their profile at once; a change of the 专业技术职务
(TITLE_FIELDS) is a TitleChange reviewed by the unit (U6), its department or HR (D4, H3). The old values stay on
Person until the change is approved; approval applies the new ones in the same transaction."""
from __future__ import annotations

import datetime
import json
import re

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..authz import PERSONNEL_REVIEW_VIEW
from ..extensions import db
from ..models import NotificationKind, Person, RoleName, TitleChange
from ..models.changes import TITLE_FIELDS, ChangeState
from .attachments import change_files
from .base import APPLICANT, Actor, DomainError, PermissionDenied, StateMachine, Transition, audit, capped_count, now
from .notifications import Note, Waiting
from .orgs import subtree_ids
from .pending import lock_person

S = ChangeState
OWNER_TYPE = "title_change"
REVIEWERS = frozenset({RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN})
MAX_FILES = 5

# The profile fields a professional edits at once (P6); unit, name and 证件号 are locked, the title goes to review.
PROFILE_FIELDS = ("gender", "ethnicity", "native_place", "department", "education", "school", "major",
                  "graduation_date", "degree", "postdoc", "admin_post", "admin_level",
                  "vocational_qualifications", "academic_titles")
# Several 职(执)业资格 / 学术技术称号 are kept in one text column, comma-separated, as registration stores them.
LIST_FIELDS = ("vocational_qualifications", "academic_titles")
LIST_SPLIT = re.compile(r"[,，、;；\n]+")
TITLE_LABELS = {
    "title_series": _l("Title series"),
    "title_level": _l("Title level"),
    "title_name": _l("Current professional title"),
    "title_date": _l("Title effective date"),
    "title_cert_no": _l("Certificate number"),
}


def split_list(value: str | None) -> list[str]:
    """The items of a comma-separated qualifications / titles column."""
    return [part.strip() for part in LIST_SPLIT.split(value or "") if part.strip()]


def join_list(items) -> str | None:
    items = [str(x).strip() for x in items if x and str(x).strip()]
    return ",".join(dict.fromkeys(items)) or None


class TitleChangeMachine(StateMachine):
    model = TitleChange
    object_type = "title_change"
    initial = (S.PENDING,)
    transitions = (
        Transition(S.PENDING, "approve", S.APPROVED, REVIEWERS),
        Transition(S.PENDING, "reject", S.REJECTED, REVIEWERS),
        Transition(S.PENDING, "withdraw", S.WITHDRAWN, frozenset({APPLICANT})),
    )
    batch_load = (selectinload(TitleChange.person).selectinload(Person.user), selectinload(TitleChange.unit))

    def in_scope(self, item: TitleChange, actor: Actor) -> bool:
        # A parent unit covers its sub-units; nobody reviews their own change.
        return item.person.user_id != actor.user_id and actor.covers(item.unit.path)

    def lock(self, item, action: str) -> bool:
        return lock_person(item.person_id)

    def is_owner(self, item: TitleChange, actor: Actor) -> bool:
        return (actor.user_id is not None and actor.role == RoleName.PROFESSIONAL
                and item.person.user_id == actor.user_id)

    def decided_values(self, item: TitleChange, transition: Transition, actor: Actor, comment: str | None) -> dict:
        return dict(decided_at=now(), decided_by_id=actor.user_id if transition.action != "withdraw" else None,
                    reason=comment)

    def on_enter(self, item: TitleChange, transition: Transition, actor: Actor, comment: str | None) -> None:
        if transition.action == "approve":
            person = item.person
            for key, value in decode(item.after).items():
                setattr(person, key, value)

    queues = True

    def notify(self, item: TitleChange, transition: Transition, actor: Actor | None) -> list[Note]:
        """X2: the applicant hears of the decision."""
        if transition.action not in ("approve", "reject"):
            return []
        account = item.person.user
        body = gettext("Hello %(name)s,\n\nyour request to change your professional title is now: %(state)s.",
                       name=account.first_name, state=item.state_label)
        if transition.action == "reject":
            body += "\n" + gettext("Reason: %(r)s", r=item.reason or "")
        return [Note([account], NotificationKind.DECISION,
                     gettext("Your title change: %(state)s", state=item.state_label), body, "/profile/title")]

    def waiting(self, item: TitleChange) -> list[Waiting]:
        """A pending change waits for the admins of the person's unit."""
        if item.state != S.PENDING.value:
            return []
        return [Waiting(item.unit, RoleName.UNIT_ADMIN.value, PERSONNEL_REVIEW_VIEW,
                        gettext("A title change waits for your review"),
                        gettext("%(name)s (%(unit)s) asks to change their professional title.",
                                name=item.person.name, unit=item.unit.name),
                        f"/review/personnel/{item.id}", exclude_user_id=item.person.user_id)]


machine = TitleChangeMachine()


# ---------------------------------------------------------------- values

def encode(values: dict) -> dict:
    """TITLE_FIELDS values as JSON-able data (dates as 2026-11-22, blanks as None)."""
    out = {}
    for key in TITLE_FIELDS:
        value = values.get(key)
        if isinstance(value, datetime.date):
            value = value.isoformat()
        elif isinstance(value, str):
            value = value.strip() or None
        out[key] = value
    return out


def decode(values: dict) -> dict:
    out = {}
    for key in TITLE_FIELDS:
        value = values.get(key)
        if key == "title_date" and value:
            value = datetime.date.fromisoformat(value)
        out[key] = value
    return out


def current_title(person: Person) -> dict:
    return encode({key: getattr(person, key) for key in TITLE_FIELDS})


def diff(item: TitleChange) -> list[tuple[str, object, object, bool]]:
    """(field, label, before, after, changed) for each title field, for the side-by-side view."""
    before, after = item.before, item.after
    return [(key, TITLE_LABELS[key], before.get(key), after.get(key), before.get(key) != after.get(key))
            for key in TITLE_FIELDS]


# ---------------------------------------------------------------- the professional

def person_of(actor: Actor) -> Person:
    person = db.session.scalar(select(Person).where(Person.user_id == actor.user_id)) if actor.user_id else None
    if person is None or actor.role != RoleName.PROFESSIONAL:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return person


def update_profile(actor: Actor, values: dict) -> list[str]:
    """P6: save the editable profile fields at once; returns the names of the fields that changed (audited as
    one profile.edit). Title fields, unit, name and 证件号 are never touched here."""
    person = person_of(actor)
    changed = []
    for key in PROFILE_FIELDS:
        if key not in values:
            continue
        value = values[key]
        if key in LIST_FIELDS:
            parts = value if isinstance(value, (list, tuple)) else [value]
            value = join_list(item for part in parts for item in split_list(part))
        elif isinstance(value, str):
            value = value.strip() or None
        if key == "postdoc":
            value = bool(value)
        if getattr(person, key) != value:
            setattr(person, key, value)
            changed.append(key)
    try:
        if changed:
            audit(actor, "profile.edit", object_type="person", object_id=person.id, comment=",".join(changed))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return changed


def pending_of(person: Person) -> TitleChange | None:
    return db.session.scalar(select(TitleChange).where(TitleChange.person_id == person.id,
                                                       TitleChange.state == S.PENDING.value))


def history(person: Person) -> list[TitleChange]:
    return list(db.session.scalars(select(TitleChange).where(TitleChange.person_id == person.id)
                                   .order_by(TitleChange.id.desc()).limit(100)))


def submit(actor: Actor, values: dict, files: list[tuple[str, bytes]]) -> TitleChange:
    """P6: ask the unit to change the 专业技术职务 to `values` (TITLE_FIELDS), with evidence files."""
    person = person_of(actor)
    lock_person(person.id)
    if person.unit_id is None:
        raise DomainError(_l("You have no unit to review the change."))
    after = encode(values)
    before = current_title(person)
    if after == before:
        raise DomainError(_l("The new title is the same as the current one: nothing to change."),
                          field="title_series")
    if pending_of(person) is not None:
        raise DomainError(_l("A title change is already under review. Withdraw it first or wait for the decision."))
    files = [(n, d) for n, d in files if n or d]
    if not files:
        raise DomainError(_l("Attach at least one evidence file."), field="attachments")
    if len(files) > MAX_FILES:
        raise DomainError(gettext("At most %(n)s files.", n=MAX_FILES), field="attachments")
    item = TitleChange(person_id=person.id, unit_id=person.unit_id,
                       before_json=json.dumps(before, ensure_ascii=False),
                       after_json=json.dumps(after, ensure_ascii=False))
    return machine.open(item, actor, files=files, duplicate=_l(
        "A title change is already under review. Withdraw it first or wait for the decision."))


def withdraw(item: TitleChange, actor: Actor) -> TitleChange:
    return machine.apply(item, "withdraw", actor)


# ---------------------------------------------------------------- reviewers

def approve(item: TitleChange, actor: Actor, comment: str | None = None) -> TitleChange:
    return machine.apply(item, "approve", actor, comment)


def reject(item: TitleChange, actor: Actor, reason: str | None) -> TitleChange:
    return machine.apply(item, "reject", actor, reason)


def decide_many(ids: list[int], action: str, actor: Actor, reason: str | None = None):
    """Batch approve / reject: one transaction, each item in a savepoint of its own (StateMachine._batch). Returns
    (done, failures)."""
    return machine.decide_many(ids, action, actor, reason)


def can_decide(item: TitleChange, actor: Actor) -> bool:
    """Whether this reviewer may decide the change now: the detail page offers the decision panel on it."""
    return machine.can_decide(item, actor)


def _scoped(stmt, actor: Actor):
    if actor.role not in REVIEWERS or not actor.scope_path:
        return stmt.where(False)
    own = select(Person.id).where(Person.user_id == actor.user_id)  # nobody reviews their own change
    return stmt.where(TitleChange.unit_id.in_(subtree_ids(actor.scope_path)), TitleChange.person_id.notin_(own))


def queue(actor: Actor, state: str = S.PENDING.value, q: str | None = None, after_id: int | None = None,
          limit: int = 20) -> list[TitleChange]:
    """A page of the reviewer's queue, newest first, keyset-paginated; related rows loaded for the page only."""
    ids = _scoped(select(TitleChange.id).where(TitleChange.state == state), actor)
    if q:
        ids = ids.where(TitleChange.person_id.in_(select(Person.id).where(
            Person.name.contains(q.strip(), autoescape=True))))
    if after_id:
        ids = ids.where(TitleChange.id < after_id)
    ids = ids.order_by(TitleChange.id.desc()).limit(limit)
    stmt = (select(TitleChange).where(TitleChange.id.in_(ids))
            .options(selectinload(TitleChange.person), selectinload(TitleChange.unit))
            .order_by(TitleChange.id.desc()))
    return list(db.session.scalars(stmt))


def pending_count(actor: Actor) -> int:
    return capped_count(_scoped(select(TitleChange.id).where(TitleChange.state == S.PENDING.value), actor))


def can_see(item: TitleChange, actor: Actor) -> bool:
    """The applicant, and reviewers whose subtree holds the change's unit (never their own change)."""
    if machine.is_owner(item, actor):
        return True
    return actor.role in REVIEWERS and machine.in_scope(item, actor)


def files_of(item: TitleChange) -> list:
    return change_files(OWNER_TYPE, item.id)
