""""Nothing pending" preconditions shared by transfers (state machine 3) and org changes (state machine 5).

Each function returns the translated reasons that block the change (empty: nothing pending)."""
from __future__ import annotations

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import exists, select

from ..extensions import db
from ..models import (Declaration, DeclarationState, IdentityCorrection, Membership, MembershipState, Org, OrgChange,
                      OrgState, Person, Registration, RegistrationState, TitleChange, Transfer)
from ..models.changes import PENDING_ORG_CHANGE_STATES, PENDING_TRANSFER_STATES
from .orgs import subtree_ids

PENDING_DECLARATION_STATES = (DeclarationState.PENDING_UNIT.value, DeclarationState.PENDING_DEPT.value,
                              DeclarationState.PENDING_HR.value)


def _any(stmt) -> bool:
    return bool(db.session.scalar(select(exists(stmt))))


def lock_person(person_id: int) -> bool:
    """Lock a person's row until the transaction ends (PostgreSQL; SQLite serialises every write anyway).

    Every change of what is pending for a person, and every change that requires nothing pending (a transfer
    completing), takes this lock first, so their checks see each other's committed result."""
    db.session.execute(select(Person.id).where(Person.id == person_id).with_for_update())
    return True


def pending_for_person(person: Person) -> list:
    """What is still under review for a professional: hour declarations, a title change, an identity correction,
    a transfer, a registration."""
    reasons = []
    if _any(select(Declaration.id).where(Declaration.person_id == person.id,
                                         Declaration.state.in_(PENDING_DECLARATION_STATES))):
        reasons.append(_l("an hour declaration is under review"))
    if _any(select(TitleChange.id).where(TitleChange.person_id == person.id, TitleChange.state == "pending")):
        reasons.append(_l("a title change is under review"))
    if _any(select(IdentityCorrection.id).where(IdentityCorrection.user_id == person.user_id,
                                                IdentityCorrection.state == "pending")):
        reasons.append(_l("an identity correction is under review"))
    if _any(select(Transfer.id).where(Transfer.person_id == person.id, Transfer.state.in_(PENDING_TRANSFER_STATES))):
        reasons.append(_l("a unit transfer is under review"))
    if _any(select(Registration.id).where(Registration.user_id == person.user_id, Registration.kind == "person",
                                          Registration.state == RegistrationState.PENDING.value)):
        reasons.append(_l("a registration is under review"))
    return reasons


def pending_for_org(org: Org) -> list:
    """What is still under review for an org, the orgs below it or their staff."""
    orgs = subtree_ids(org.path)
    staff = select(Person.id).where(Person.unit_id.in_(orgs))
    reasons = []
    if org.state != OrgState.ACTIVE.value:
        reasons.append(_l("the organisation is not active"))
    if _any(select(Registration.id).where(Registration.state == RegistrationState.PENDING.value,
                                          (Registration.org_id.in_(orgs)) | (Registration.reviewer_org_id.in_(orgs)))):
        reasons.append(_l("a registration is under review"))
    if _any(select(OrgChange.id).where(OrgChange.org_id.in_(orgs), OrgChange.state.in_(PENDING_ORG_CHANGE_STATES))):
        reasons.append(_l("an organisation change is under review"))
    if _any(select(Declaration.id).where(Declaration.unit_id.in_(orgs),
                                         Declaration.state.in_(PENDING_DECLARATION_STATES))):
        reasons.append(_l("an hour declaration is under review"))
    if _any(select(TitleChange.id).where(TitleChange.person_id.in_(staff), TitleChange.state == "pending")):
        reasons.append(_l("a title change is under review"))
    if _any(select(Transfer.id).where(Transfer.state.in_(PENDING_TRANSFER_STATES),
                                      Transfer.from_unit_id.in_(orgs) | Transfer.to_unit_id.in_(orgs))):
        reasons.append(_l("a unit transfer is under review"))
    if _any(select(IdentityCorrection.id).join(Person, Person.user_id == IdentityCorrection.user_id).where(
            Person.unit_id.in_(orgs), IdentityCorrection.state == "pending")):
        reasons.append(_l("an identity correction is under review"))
    if _any(select(Membership.id).where(Membership.org_id.in_(orgs),
                                        Membership.state == MembershipState.PENDING.value)):
        reasons.append(_l("a membership is under review"))
    return reasons


def blocked_message(reasons: list, what) -> str:
    """One sentence naming what blocks `what` (a translated phrase)."""
    return gettext("%(what)s is not possible while %(reasons)s.", what=what,
                   reasons=gettext(", ").join(str(r) for r in reasons))
