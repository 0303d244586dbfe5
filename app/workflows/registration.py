"""State machine 1: registration of persons and orgs, reviewed by the org above."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from flask import current_app
from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..authz import REVIEW_VIEW
from ..extensions import db
from ..models import (Account, Membership, MembershipState, NotificationKind, Org, OrgKind, OrgState, Person,
                      Registration, RegistrationState, RoleName)
from ..models.org import ALLOWED_PARENTS
from ..validators import birth_date_and_gender
from .accounts import (LOGIN_FAILED, check_new_password, display_name, find_account, hash_password,
                       verify_password)
from .attachments import change_files, store_change_files
from .base import (APPLICANT, Actor, DomainError, PermissionDenied, StateMachine, Transition, audit, capped_count,
                   now, transaction)
from .export import in_batches
from .memberships import machine as membership_machine
from .notifications import Note, Waiting
from .orgs import create_org, subtree_ids
from .orgs import machine as org_machine

S = RegistrationState
REVIEWERS = frozenset({RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN})

# The admin role that an org registration grants to the person who registers it.
ADMIN_ROLE = {
    OrgKind.UNIT: RoleName.UNIT_ADMIN,
    OrgKind.DEPARTMENT: RoleName.DEPT_ADMIN,
    OrgKind.BASE: RoleName.BASE_ADMIN,
    OrgKind.HR_DISTRICT: RoleName.HR_ADMIN,
    OrgKind.HR_CITY: RoleName.HR_ADMIN,
}


class RegistrationMachine(StateMachine):
    model = Registration
    object_type = "registration"
    initial = (S.PENDING,)
    transitions = (
        Transition(S.PENDING, "approve", S.APPROVED, REVIEWERS),
        Transition(S.PENDING, "reject", S.REJECTED, REVIEWERS),
        Transition(S.PENDING, "withdraw", S.WITHDRAWN, frozenset({APPLICANT})),
    )
    batch_load = (selectinload(Registration.reviewer_org), selectinload(Registration.org),
                  selectinload(Registration.user), selectinload(Registration.membership))

    def in_scope(self, item: Registration, actor: Actor) -> bool:
        # Reviewers act on registrations addressed to an org inside their subtree, never on their own.
        return item.user_id != actor.user_id and actor.covers(item.reviewer_org.path)

    def is_owner(self, item: Registration, actor: Actor) -> bool:
        return actor.user_id is not None and item.user_id == actor.user_id

    def decided_values(self, item: Registration, transition: Transition, actor: Actor, comment: str | None) -> dict:
        return dict(decided_at=now(), decided_by_id=actor.user_id if transition.action != "withdraw" else None,
                    reason=comment)

    def on_enter(self, item: Registration, transition: Transition, actor: Actor, comment: str | None) -> None:
        # The membership (and the org an org registration brings) take the same step through their own
        # machines, in this transaction; the registration's audit row records all of it.
        membership_machine.enter(item.membership, transition.action, actor, follows=True, audit_as=False)
        if item.kind != "person":
            org_machine.enter(item.org, transition.action, actor, follows=True, audit_as=False)

    queues = True

    def notify(self, item: Registration, transition: Transition, actor: Actor | None) -> list[Note]:
        """X2: the applicant hears of every decision (in the platform and by e-mail)."""
        if transition.action == "approve":
            subject = gettext("Your registration has been approved")
            body = gettext("Hello %(name)s,\n\nyour registration (%(kind)s, %(org)s) has been approved by "
                           "%(reviewer)s. You can now log in at %(url)s.",
                           name=item.user.first_name, kind=item.kind_label, org=item.org.name,
                           reviewer=item.reviewer_org.name, url=current_app.config["PUBLIC_BASE_URL"])
        elif transition.action == "reject":
            subject = gettext("Your registration has been rejected")
            body = gettext("Hello %(name)s,\n\nyour registration (%(kind)s, %(org)s) has been rejected by "
                           "%(reviewer)s.\nReason: %(reason)s\n\nYou may correct it and register again.",
                           name=item.user.first_name, kind=item.kind_label, org=item.org.name,
                           reviewer=item.reviewer_org.name, reason=item.reason or "")
        else:
            return []
        return [Note([item.user], NotificationKind.DECISION, subject, body, "/")]

    def waiting(self, item: Registration) -> list[Waiting]:
        """A pending registration waits for the admins of the org it is addressed to."""
        role = ADMIN_ROLE.get(OrgKind(item.reviewer_org.kind))
        if item.state != S.PENDING.value or role not in REVIEWERS:
            return []
        return [Waiting(item.reviewer_org, role.value, REVIEW_VIEW,
                        gettext("A registration waits for your review"),
                        gettext("%(name)s (%(kind)s, %(org)s) waits for your review.", name=item.applicant_name,
                                kind=item.kind_label, org=item.org.name),
                        f"/review/registrations/{item.id}", exclude_user_id=item.user_id)]


machine = RegistrationMachine()


def approve(reg: Registration, actor: Actor, comment: str | None = None) -> Registration:
    return machine.apply(reg, "approve", actor, comment)


def reject(reg: Registration, actor: Actor, reason: str | None) -> Registration:
    return machine.apply(reg, "reject", actor, reason)


def decide_many(ids: list[int], action: str, actor: Actor, reason: str | None = None):
    """Batch approve / reject: one transaction, each item in a savepoint of its own (StateMachine._batch). Returns
    (done, failures)."""
    return machine.decide_many(ids, action, actor, reason)


def withdraw(reg_id: int, id_number: str, password: str, ip: str | None = None) -> Registration:
    """The applicant withdraws a pending registration from the public page, proving it with the password."""
    account = verify_password(id_number, password, purpose="registration.withdraw", ip=ip)
    reg = db.session.get(Registration, reg_id) if reg_id else None
    if account is None or reg is None or reg.user_id != account.id:
        raise DomainError(LOGIN_FAILED)
    actor = Actor(account.id, display_name(account), ip=ip)
    return machine.apply(reg, "withdraw", actor)


def lookup(id_number: str) -> list[Registration]:
    """Public progress lookup (P2): the registrations of one 证件号, newest first."""
    account = find_account(id_number)
    if account is None:
        return []
    return list(db.session.scalars(
        select(Registration).where(Registration.user_id == account.id).order_by(Registration.id.desc()).limit(20)))


# ---------------------------------------------------------------- submitting

@dataclass
class AccountData:
    id_type: str
    id_number: str  # already validated and normalised
    password: str
    confirm: str | None
    name: str
    email: str
    mobile: str
    existing_user: bool = False


def _account_for(data: AccountData, role: RoleName, ip: str | None) -> Account:
    """Find or create the account a registration attaches to (see P1 "如果已是本系统用户")."""
    account = find_account(data.id_number)
    held = []
    if account is not None:
        held = list(db.session.scalars(select(Membership).where(
            Membership.user_id == account.id,
            Membership.state.in_([MembershipState.ACTIVE.value, MembershipState.PENDING.value]))))
    if data.existing_user:
        if verify_password(data.id_number, data.password, purpose="registration.submit", ip=ip,
                           comment="existing user") is None:
            raise DomainError(LOGIN_FAILED, field="password")
        if role == RoleName.PROFESSIONAL and any(m.role == role.value for m in held):
            raise DomainError(_l("This account is already registered (or under review) as a professional."),
                              field="id_number")
        return account
    if held:
        raise DomainError(_l("This ID number is already registered. If you are already a user of this "
                             "platform, tick the box and enter your current password."), field="id_number")
    check_new_password(data.password, data.confirm, data.id_number)
    email_owner = db.session.scalar(select(Account.id).where(Account.email == data.email))
    if email_owner and (account is None or email_owner != account.id):
        raise DomainError(_l("This e-mail address is already used by another account."), field="email")
    if account is None:
        account = Account(username=data.id_number, first_name=data.name, last_name="", email=data.email,
                          active=True)
        db.session.add(account)
    # A person whose earlier registrations were all rejected or withdrawn registers again from scratch.
    account.id_type = data.id_type
    account.first_name = data.name
    account.email = data.email
    account.mobile = data.mobile
    account.password = hash_password(data.password)
    account.must_change_password = False
    db.session.flush()
    return account


def _submit(kind: str, account: Account, role: RoleName, org: Org, reviewer: Org, applicant_name: str,
            ip: str | None) -> Registration:
    actor = Actor(account.id, display_name(account), ip=ip)
    membership = membership_machine.open(Membership(user_id=account.id, role=role.value, org_id=org.id,
                                                    is_super=kind != "person"),
                                         actor, state=MembershipState.PENDING, commit=False, audit_as=False)
    reg = Registration(kind=kind, user_id=account.id, membership_id=membership.id, org_id=org.id,
                       reviewer_org_id=reviewer.id, applicant_name=applicant_name)
    return machine.open(reg, actor, comment=kind, commit=False)


def _submission():
    """One transaction per registration; a duplicate racing in at the same instant gets a clear message."""
    return transaction(conflict=lambda: DomainError(_l(
        "The same registration was submitted at the same moment. Please check the registration progress before "
        "trying again.")))


def register_person(data: AccountData, unit_id: int | None, profile: dict, ip: str | None = None) -> Registration:
    """P1: a professional registers at a unit; the unit's admins review."""
    with _submission():
        unit = db.session.get(Org, unit_id) if unit_id else None
        if unit is None or unit.kind != OrgKind.UNIT.value or unit.state != OrgState.ACTIVE.value:
            raise DomainError(_l("Choose your unit from the list."), field="unit_id")
        account = _account_for(data, RoleName.PROFESSIONAL, ip)
        person = db.session.scalar(select(Person).where(Person.user_id == account.id))
        if person is None:
            person = Person(user_id=account.id, name=data.name, id_number=data.id_number)
            db.session.add(person)
        if data.id_type == "resident_id":
            profile.setdefault("birth_date", birth_date_and_gender(data.id_number)[0])
        for key, value in profile.items():
            setattr(person, key, value)
        person.name = account.first_name
        person.unit_id = unit.id
        reg = _submit("person", account, RoleName.PROFESSIONAL, unit, unit, person.name, ip)
    return reg


def register_org(kind: OrgKind, data: AccountData, parent_id: int | None, org_fields: dict,
                 ip: str | None = None, licence: tuple[str, bytes] | None = None) -> Registration:
    """U1 / D1 / B1 and district bureaus: a new org under its parent, with its super admin's account and the scan
    of its business licence (`licence`: file name, content)."""
    stored = []  # removes the licence file written, when the transaction does not commit
    try:
        with _submission():
            parent = db.session.get(Org, parent_id) if parent_id else None
            if (parent is None or parent.state != OrgState.ACTIVE.value
                    or OrgKind(parent.kind) not in ALLOWED_PARENTS[kind]):
                raise DomainError(_l("Choose the organisation above yours from the list."), field="parent_id")
            code = org_fields.get("credit_code")
            if code and db.session.scalar(select(Org.id).where(
                    Org.credit_code == code, Org.state.in_([OrgState.PENDING.value, OrgState.ACTIVE.value]))):
                raise DomainError(_l("An organisation with this credit code is already registered."),
                                  field="credit_code")
            name = org_fields["name"]
            if db.session.scalar(select(Org.id).where(
                    Org.name == name, Org.state.in_([OrgState.PENDING.value, OrgState.ACTIVE.value]))):
                raise DomainError(_l("An organisation with this name is already registered."), field="org_name")
            account = _account_for(data, ADMIN_ROLE[kind], ip)
            org = create_org(kind=kind, name=name, parent=parent,
                             **{k: v for k, v in org_fields.items() if k != "name"})
            reg = _submit(kind.value, account, ADMIN_ROLE[kind], org, parent, name, ip)
            stored.append(_store_licence(reg, licence))
    except BaseException:
        for remove in stored:
            if remove:
                remove()
        raise
    return reg


def _store_licence(reg: Registration, licence: tuple[str, bytes] | None):
    """Store the licence scan with the registration (checked by content first), in the caller's transaction;
    returns the function that removes the file again, or None."""
    if not (licence and (licence[0] or licence[1])):
        return None
    try:
        return store_change_files(LICENCE_OWNER, reg.id, [licence])
    except DomainError as exc:
        raise DomainError(exc.message, field="licence") from exc


def pending_count(actor: Actor) -> int:
    return capped_count(_scoped(select(Registration.id).where(Registration.state == S.PENDING.value), actor))


def _scoped(stmt, actor: Actor):
    if actor.is_global:
        return stmt
    if actor.role not in REVIEWERS or not actor.scope_path:
        return stmt.where(False)
    orgs = subtree_ids(actor.scope_path)
    return stmt.where(Registration.reviewer_org_id.in_(orgs))


def queue(actor: Actor, state: str = S.PENDING.value, q: str | None = None, kind: str | None = None,
          after_id: int | None = None, limit: int = 20) -> list[Registration]:
    """A page of the review queue, newest first, with keyset pagination (no deep OFFSET).

    The page's ids come from the index alone; only those rows are loaded, with their related rows (selectinload),
    never joined before the sort."""
    ids = _scoped(select(Registration.id).where(Registration.state == state), actor)
    if kind:
        ids = ids.where(Registration.kind == kind)
    if q:
        ids = ids.where(Registration.applicant_name.contains(q.strip(), autoescape=True))
    if after_id:
        ids = ids.where(Registration.id < after_id)
    ids = ids.order_by(Registration.id.desc()).limit(limit)
    stmt = (select(Registration).where(Registration.id.in_(ids))
            .options(selectinload(Registration.org), selectinload(Registration.reviewer_org),
                     selectinload(Registration.user))
            .order_by(Registration.id.desc()))
    return list(db.session.scalars(stmt))


def queue_rows(actor: Actor, state: str = S.PENDING.value, q: str | None = None, kind: str | None = None,
               batch: int | None = None) -> Iterator[Registration]:
    """Every row of the queue with the same tab and filters (`queue`, same scope), newest first, read `batch` at a
    time (an export of the queue)."""
    return in_batches(lambda after, limit: queue(actor, state=state, q=q, kind=kind, after_id=after, limit=limit),
                      batch=batch)


# ---------------------------------------------------------------- the reviewer's detail page

LICENCE_OWNER = "registration"  # owner_type of an org registration's business licence scan (ChangeAttachment)


def visible(reg: Registration, actor: Actor) -> bool:
    """A reviewer sees a registration addressed to an org of their subtree (the rows of their queue)."""
    return actor.role in REVIEWERS and actor.covers(reg.reviewer_org.path)


def can_decide(reg: Registration, actor: Actor) -> bool:
    """Whether the detail page offers the decision: the machine's own check (pending, a reviewer in scope, never
    the applicant)."""
    return machine.can_decide(reg, actor)


def person_of(reg: Registration) -> Person | None:
    """The profile a person registration entered (one profile per account)."""
    if reg.kind != "person":
        return None
    return db.session.scalar(select(Person).where(Person.user_id == reg.user_id))


def birth_date_shown(id_number: str | None) -> bool:
    """A birth date may stand beside a masked number only when the number does not carry it: an 18-character
    GB 11643 number (resident ID, new foreigner's permanent residence card) holds it in the very digits the mask
    hides, so the date would give the full number back."""
    n = id_number or ""
    return not (len(n) == 18 and n[:17].isdigit())


def licence_of(reg: Registration):
    """The business licence scan uploaded with an org registration (one file: an image or a PDF), or None."""
    files = change_files(LICENCE_OWNER, reg.id) if reg.kind != "person" else []
    return files[0] if files else None


def view_licence(reg: Registration, row, actor: Actor) -> None:
    """A reviewer opens the licence scan: a sensitive read, one licence.view audit row naming the file (as
    support's ID-card images are audited)."""
    if not visible(reg, actor):
        raise PermissionDenied(_l("You do not have permission to do this."))
    audit(actor, "licence.view", object_type="registration", object_id=reg.id,
          comment=f"file {row.id}: {row.filename}")
    db.session.commit()
