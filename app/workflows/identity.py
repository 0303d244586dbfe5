"""P7 / S3: a request to correct the name and / or 证件号 of an account, with ID-card images, decided by support
staff. Approval applies the correction everywhere the person is referenced (the login, the account's name, the
profile, the person's own registrations) and revokes the person's sessions."""
from __future__ import annotations

import datetime

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..authz import IDENTITY_REVIEW_VIEW
from ..extensions import db
from ..models import Account, IdentityCorrection, NotificationKind, Person, Registration, RoleName
from ..models.changes import ChangeState
from ..validators import ValidationError, birth_date_and_gender, validate_id_number, validate_person_name
from .attachments import change_files, sniff
from .base import APPLICANT, Actor, DomainError, PermissionDenied, StateMachine, Transition, audit, capped_count, now
from .notifications import Note, Waiting

S = ChangeState
OWNER_TYPE = "identity_correction"
DECIDERS = frozenset({RoleName.SUPPORT})
MIN_FILES, MAX_FILES = 1, 2
TAKEN = _l("This ID number belongs to another account.")


class IdentityCorrectionMachine(StateMachine):
    model = IdentityCorrection
    object_type = "identity_correction"
    initial = (S.PENDING,)
    transitions = (
        Transition(S.PENDING, "approve", S.APPROVED, DECIDERS),
        Transition(S.PENDING, "reject", S.REJECTED, DECIDERS),
        Transition(S.PENDING, "withdraw", S.WITHDRAWN, frozenset({APPLICANT})),
    )

    def in_scope(self, item: IdentityCorrection, actor: Actor) -> bool:
        # Support staff work platform-wide, but never on their own request.
        return actor.is_global and item.user_id != actor.user_id

    def is_owner(self, item: IdentityCorrection, actor: Actor) -> bool:
        return actor.user_id is not None and item.user_id == actor.user_id

    def on_enter(self, item: IdentityCorrection, transition: Transition, actor: Actor, comment: str | None) -> None:
        item.decided_at = now()
        item.decided_by_id = actor.user_id if transition.action != "withdraw" else None
        item.reason = comment
        if transition.action == "approve":
            apply_correction(item)

    queues = True

    def notify(self, item: IdentityCorrection, transition: Transition, actor: Actor | None) -> list[Note]:
        """X2: the applicant hears of the decision."""
        if transition.action not in ("approve", "reject"):
            return []
        account = item.user
        body = gettext("Hello %(name)s,\n\nyour request to correct your name or ID number is now: %(state)s.",
                       name=account.first_name, state=item.state_label)
        if transition.action == "approve" and item.new_id_number != item.old_id_number:
            body += "\n" + gettext("From now on you log in with your new ID number.")
        if transition.action == "reject":
            body += "\n" + gettext("Reason: %(r)s", r=item.reason or "")
        return [Note([account], NotificationKind.DECISION,
                     gettext("Your identity correction: %(state)s", state=item.state_label), body,
                     "/profile/identity")]

    def waiting(self, item: IdentityCorrection) -> list[Waiting]:
        """A pending correction waits for the support staff (platform-wide)."""
        if item.state != S.PENDING.value:
            return []
        return [Waiting(None, RoleName.SUPPORT.value, IDENTITY_REVIEW_VIEW,
                        gettext("An identity correction waits for your review"),
                        gettext("A request to correct a name or ID number waits for your review."),
                        f"/support/identity/{item.id}", exclude_user_id=item.user_id)]

    def apply(self, item, action, actor, comment=None, values=None):
        try:
            return super().apply(item, action, actor, comment, values)
        except IntegrityError as exc:  # another account took the number at the same instant
            raise DomainError(TAKEN, field="new_id_number") from exc


machine = IdentityCorrectionMachine()


def _taken(id_number: str, account_id: int) -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(
        select(Account.id).where(Account.username == id_number, Account.id != account_id)
        .union_all(select(Person.user_id).where(Person.id_number == id_number, Person.user_id != account_id))
        .subquery())))


def apply_correction(item: IdentityCorrection) -> None:
    """Inside the approving transaction: the login, the account's name, the profile and the person's own
    registrations take the new values; every session of the account is void."""
    account = db.session.get(Account, item.user_id)
    if item.new_id_number != account.username and _taken(item.new_id_number, account.id):
        raise DomainError(TAKEN, field="new_id_number")
    account.username = item.new_id_number
    account.first_name = item.new_name
    account.sessions_valid_after = datetime.datetime.now()
    person = db.session.scalar(select(Person).where(Person.user_id == account.id))
    if person is not None:
        person.name = item.new_name
        person.id_number = item.new_id_number
        if (account.id_type or "resident_id") == "resident_id" and item.new_id_number != item.old_id_number:
            person.birth_date = birth_date_and_gender(item.new_id_number)[0]
    db.session.execute(update(Registration).where(Registration.user_id == account.id, Registration.kind == "person")
                       .values(applicant_name=item.new_name).execution_options(synchronize_session=False))
    db.session.flush()


# ---------------------------------------------------------------- the applicant

def pending_of(account_id: int) -> IdentityCorrection | None:
    return db.session.scalar(select(IdentityCorrection).where(IdentityCorrection.user_id == account_id,
                                                              IdentityCorrection.state == S.PENDING.value))


def history(account_id: int) -> list[IdentityCorrection]:
    return list(db.session.scalars(select(IdentityCorrection).where(IdentityCorrection.user_id == account_id)
                                   .order_by(IdentityCorrection.id.desc()).limit(50)))


def submit(actor: Actor, new_name: str, new_id_number: str, files: list[tuple[str, bytes]],
           note: str | None = None) -> IdentityCorrection:
    """Ask support to correct the name and / or 证件号 of the actor's account, with 1-2 ID-card images."""
    account = db.session.get(Account, actor.user_id) if actor.user_id else None
    if account is None or actor.role != RoleName.PROFESSIONAL:
        raise PermissionDenied(_l("You do not have permission to do this."))
    try:
        new_name = validate_person_name(new_name)
    except ValidationError as exc:
        raise DomainError(exc.message, field="new_name") from exc
    try:
        new_id_number = validate_id_number(account.id_type or "resident_id", new_id_number)
    except ValidationError as exc:
        raise DomainError(exc.message, field="new_id_number") from exc
    if new_name == account.first_name and new_id_number == account.username:
        raise DomainError(_l("The name and ID number are the same as now: nothing to correct."), field="new_name")
    if new_id_number != account.username and _taken(new_id_number, account.id):
        raise DomainError(TAKEN, field="new_id_number")
    if pending_of(account.id) is not None:
        raise DomainError(_l("An identity correction is already under review. Withdraw it first or wait for the "
                             "decision."))
    files = [(n, d) for n, d in files if n or d]
    if not MIN_FILES <= len(files) <= MAX_FILES:
        raise DomainError(_l("Attach one or two images of the ID card."), field="attachments")
    for name, data in files:
        kind = sniff(data)
        if kind is not None and kind[0] == "pdf":
            raise DomainError(_l("The ID card must be a PNG or JPEG image."), field="attachments")
    item = IdentityCorrection(user_id=account.id, old_name=account.first_name, old_id_number=account.username,
                              new_name=new_name, new_id_number=new_id_number, note=(note or "").strip() or None)
    return machine.open(item, actor, files=files, duplicate=_l(
        "An identity correction is already under review. Withdraw it first or wait for the decision."))


def withdraw(item: IdentityCorrection, actor: Actor) -> IdentityCorrection:
    return machine.apply(item, "withdraw", actor)


# ---------------------------------------------------------------- support staff

def approve(item: IdentityCorrection, actor: Actor, comment: str | None = None) -> IdentityCorrection:
    return machine.apply(item, "approve", actor, comment)


def reject(item: IdentityCorrection, actor: Actor, reason: str | None) -> IdentityCorrection:
    return machine.apply(item, "reject", actor, reason)


def decide(item: IdentityCorrection, action: str, actor: Actor, reason: str | None = None) -> IdentityCorrection:
    if action not in ("approve", "reject"):
        raise DomainError(_l("Unknown action."))
    return machine.apply(item, action, actor, reason)


def is_decider(actor: Actor) -> bool:
    """Whether the actor's role decides corrections at all (the queue and the detail page are theirs)."""
    return actor.role in DECIDERS


def can_decide(item: IdentityCorrection, actor: Actor) -> bool:
    """Whether this support member may decide the request now (pending, never their own): the detail page offers
    the decision panel on it."""
    return machine.can_decide(item, actor)


def queue(actor: Actor, state: str = S.PENDING.value, q: str | None = None, after_id: int | None = None,
          limit: int = 20) -> list[IdentityCorrection]:
    if not is_decider(actor):
        return []
    stmt = select(IdentityCorrection.id).where(IdentityCorrection.state == state,
                                               IdentityCorrection.user_id != actor.user_id)
    if q:
        q = q.strip()
        stmt = stmt.where(or_(IdentityCorrection.old_name.contains(q, autoescape=True),
                              IdentityCorrection.new_name.contains(q, autoescape=True)))
    if after_id:
        stmt = stmt.where(IdentityCorrection.id < after_id)
    ids = stmt.order_by(IdentityCorrection.id.desc()).limit(limit)
    return list(db.session.scalars(select(IdentityCorrection).where(IdentityCorrection.id.in_(ids))
                                   .options(selectinload(IdentityCorrection.user))
                                   .order_by(IdentityCorrection.id.desc())))


def pending_count(actor: Actor) -> int:
    if not is_decider(actor):
        return 0
    return capped_count(select(IdentityCorrection.id).where(
        IdentityCorrection.state == S.PENDING.value, IdentityCorrection.user_id != actor.user_id))


def can_see(item: IdentityCorrection, actor: Actor) -> bool:
    """The applicant, and support staff (never on their own request)."""
    return machine.is_owner(item, actor) or (is_decider(actor) and machine.in_scope(item, actor))


def reviewable(item: IdentityCorrection, actor: Actor) -> bool:
    """Whether the actor may open the request as its decider (support, never on their own request)."""
    return is_decider(actor) and machine.in_scope(item, actor)


def view_full(item: IdentityCorrection, actor: Actor) -> None:
    """Support opens the detail with the full old and new numbers: one identity.view audit row."""
    if not reviewable(item, actor):
        raise PermissionDenied(_l("You do not have permission to do this."))
    audit(actor, "identity.view", object_type="identity_correction", object_id=item.id)
    db.session.commit()


def view_image(item: IdentityCorrection, row, actor: Actor) -> None:
    """Support downloads an ID-card image of a request: one identity.view audit row naming the file."""
    if not reviewable(item, actor):
        raise PermissionDenied(_l("You do not have permission to do this."))
    audit(actor, "identity.view", object_type="identity_correction", object_id=item.id,
          comment=f"image {row.id}: {row.filename}")
    db.session.commit()


def files_of(item: IdentityCorrection) -> list:
    return change_files(OWNER_TYPE, item.id)
