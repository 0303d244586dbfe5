"""U3 / D3 / H2 org admins and org-defined roles, U4 sub-units, H1 the orgs below an HR bureau.

Every function re-checks, from the database, who acts: the session's admin membership of its org (role, org,
active, super admin), never a value from a form. One transaction per use case, one audit row per event.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import selectinload

from ..authz import MODULES, modules_for_role
from ..extensions import db
from ..models import (Account, Membership, MembershipState, Org, OrgKind, OrgRole, OrgState, Person, RoleName)
from .accounts import (LOGIN_FAILED, check_new_password, display_name, find_account, hash_password,
                       verify_password)
from . import memberships
from .base import HANDLED, Actor, ConcurrentTransition, DomainError, PermissionDenied, audit, transaction
from .orgs import machine as org_machine
from .pending import blocked_message, pending_for_org
from .registration import ADMIN_ROLE

ACTIVE = MembershipState.ACTIVE.value
DENIED = _l("You do not have permission to do this.")
ONLY_SUPER = _l("Only the super administrator of the organisation may do this.")
ROLE_NAME_MAX = 30
ROLE_NAME_FORBIDDEN = set("<>\"';\\&")
# H1 list filter "level" (the kind of an org below).
LEVELS = (OrgKind.HR_DISTRICT.value, OrgKind.DEPARTMENT.value, OrgKind.UNIT.value, OrgKind.BASE.value)
LIVE_ORG_STATES = (OrgState.PENDING.value, OrgState.ACTIVE.value)


def admin_role_of(org: Org) -> RoleName:
    return ADMIN_ROLE[OrgKind(org.kind)]


# ---------------------------------------------------------------- who acts

def acting_membership(actor: Actor, *, lock: bool = False) -> Membership:
    """The actor's own active admin membership of its org (the session's), read from the database."""
    if actor.user_id is None or actor.org_id is None or actor.role is None:
        raise PermissionDenied(DENIED)
    stmt = select(Membership).options(selectinload(Membership.org), selectinload(Membership.org_role)).where(
        Membership.user_id == actor.user_id, Membership.org_id == actor.org_id,
        Membership.role == actor.role.value, Membership.state == ACTIVE)
    if lock:
        stmt = stmt.with_for_update()
    rows = list(db.session.scalars(stmt))
    if len(rows) != 1 or rows[0].org is None or rows[0].org.state != OrgState.ACTIVE.value \
            or admin_role_of(rows[0].org) != actor.role:
        raise PermissionDenied(DENIED)
    return rows[0]


def _super(actor: Actor) -> Membership:
    mine = acting_membership(actor)
    if not mine.is_super:
        raise PermissionDenied(ONLY_SUPER)
    return mine


def is_super(actor: Actor) -> bool:
    try:
        return acting_membership(actor).is_super
    except PermissionDenied:
        return False


def reachable_modules(membership: Membership) -> list[str]:
    """The modules a membership reaches: its admin role's, narrowed to its org-defined role if it has one."""
    available = modules_for_role(membership.role)
    role = membership.org_role
    if role is None:
        return available
    if not role.active or role.org_id != membership.org_id:
        return []
    return [m for m in available if m in role.modules]


def module_choices(membership: Membership) -> list[tuple[str, object]]:
    return [(key, MODULES[key][0]) for key in reachable_modules(membership)]


# ---------------------------------------------------------------- listing

def admins_of(org: Org) -> list[Membership]:
    """The active admins of an org, the super admin first."""
    return list(db.session.scalars(
        select(Membership).options(selectinload(Membership.user), selectinload(Membership.org_role)).where(
            Membership.org_id == org.id, Membership.role == admin_role_of(org).value, Membership.state == ACTIVE)
        .order_by(Membership.is_super.desc(), Membership.id)))


def roles_of(org_id: int) -> list[OrgRole]:
    return list(db.session.scalars(select(OrgRole).where(OrgRole.org_id == org_id, OrgRole.active.is_(True))
                                   .order_by(OrgRole.name, OrgRole.id)))


def role_holders(role_ids: list[int]) -> dict[int, int]:
    if not role_ids:
        return {}
    rows = db.session.execute(select(Membership.org_role_id, func.count()).where(
        Membership.org_role_id.in_(role_ids), Membership.state == ACTIVE).group_by(Membership.org_role_id)).all()
    return {role_id: n for role_id, n in rows}


def _active_professional():
    return select(Membership.id).where(Membership.user_id == Person.user_id,
                                       Membership.role == RoleName.PROFESSIONAL.value,
                                       Membership.state == ACTIVE).exists()


def search_staff(actor: Actor, q: str, limit: int = 20) -> list[Person]:
    """(a) The org's own active staff whose name contains q, who are not yet its admins (never a full list)."""
    mine = _super(actor)
    q = (q or "").strip()[:30]
    if not q:
        return []
    admin = select(Membership.id).where(Membership.user_id == Person.user_id, Membership.org_id == mine.org_id,
                                        Membership.role == mine.role, Membership.state == ACTIVE).exists()
    return list(db.session.scalars(
        select(Person).where(Person.unit_id == mine.org_id, Person.name.contains(q, autoescape=True),
                             _active_professional(), ~admin)
        .order_by(func.length(Person.name), Person.name, Person.id).limit(limit)))


# ---------------------------------------------------------------- adding admins (U3 a / b / c)

def _add_membership(mine: Membership, account: Account, actor: Actor, how: str) -> Membership:
    if db.session.scalar(select(Membership.id).where(
            Membership.user_id == account.id, Membership.org_id == mine.org_id, Membership.role == mine.role,
            Membership.state == ACTIVE)):
        raise DomainError(_l("This person already is an administrator of the organisation."), field="id_number")
    return memberships.machine.open(
        Membership(user_id=account.id, role=mine.role, org_id=mine.org_id, is_super=False), actor,
        state=MembershipState.ACTIVE, commit=False, audit_as="admin.add",
        comment=f"{how}: {display_name(account)} @ {mine.org.name}")


def _use_case():
    """One transaction per use case (the workflow mechanism's); a row raced in at the same instant (a unique
    index) is someone else's concurrent change."""
    return transaction(conflict=lambda: ConcurrentTransition(HANDLED))


@_use_case()
def add_from_staff(actor: Actor, person_id: int | None) -> Membership:
    """(a) A professional of the org's own active staff becomes an admin."""
    mine = _super(actor)
    person = db.session.get(Person, person_id) if person_id else None
    if person is None or person.unit_id != mine.org_id or not db.session.scalar(
            select(exists(select(Membership.id).where(
                Membership.user_id == person.user_id, Membership.role == RoleName.PROFESSIONAL.value,
                Membership.state == ACTIVE)))):
        raise DomainError(_l("Choose a member of your organisation's staff from the search results."),
                          field="person_id")
    return _add_membership(mine, person.user, actor, "staff")


@dataclass
class NewAdmin:
    id_type: str
    id_number: str  # validated and normalised by the form
    name: str
    email: str
    mobile: str
    password: str
    confirm: str | None


@_use_case()
def register_admin(actor: Actor, data: NewAdmin) -> Membership:
    """(b) A person without an account gets one and becomes an admin; they change the password at first login."""
    mine = _super(actor)
    if find_account(data.id_number) is not None:
        raise DomainError(_l("This ID number already has an account: add the person as an existing user with "
                             "their password instead."), field="id_number")
    check_new_password(data.password, data.confirm, data.id_number)
    if db.session.scalar(select(Account.id).where(func.lower(Account.email) == data.email.lower())):
        raise DomainError(_l("This e-mail address is already used by another account."), field="email")
    account = Account(username=data.id_number, id_type=data.id_type, first_name=data.name, last_name="",
                      email=data.email, mobile=data.mobile, active=True, password=hash_password(data.password),
                      must_change_password=True)
    db.session.add(account)
    db.session.flush()
    return _add_membership(mine, account, actor, "new account")


WRONG_ACCOUNT = LOGIN_FAILED  # the one message of every password check (unknown, wrong or locked)


def add_existing(actor: Actor, id_number: str, password: str) -> Membership:
    """(c) An existing user becomes an admin once their password matches. A wrong password and an unknown
    ID number get the same message (and count towards the account's lockout, like a failed login)."""
    with transaction():
        mine = _super(actor)
        account = verify_password(id_number, password, purpose="admin.add", actor=actor,
                                  comment="existing user")
        if account is None:
            raise DomainError(WRONG_ACCOUNT, field="password")
        membership = _add_membership(mine, account, actor, "existing account")
    return membership


# ---------------------------------------------------------------- hand-over, removal

def _target_admin(mine: Membership, membership_id: int | None) -> Membership:
    target = db.session.get(Membership, membership_id) if membership_id else None
    if target is None or target.org_id != mine.org_id or target.role != mine.role or target.state != ACTIVE:
        raise PermissionDenied(_l("This person is not an active administrator of your organisation."))
    return target


@_use_case()
def make_super(actor: Actor, membership_id: int | None) -> Membership:
    """设为超级管理员: the right moves to another active admin of the org; the old super admin keeps an
    ordinary admin's rights. Two hand-overs at once: the conditional updates let exactly one through."""
    mine = _super(actor)
    target = _target_admin(mine, membership_id)
    if target.id == mine.id:
        raise DomainError(_l("You already are the super administrator."))
    gave = db.session.execute(update(Membership).where(
        Membership.id == mine.id, Membership.is_super.is_(True), Membership.state == ACTIVE,
    ).values(is_super=False).execution_options(synchronize_session=False))
    if gave.rowcount != 1:
        raise ConcurrentTransition(_l("The super administrator has just changed. Please refresh."))
    took = db.session.execute(update(Membership).where(
        Membership.id == target.id, Membership.org_id == mine.org_id, Membership.role == mine.role,
        Membership.state == ACTIVE, Membership.is_super.is_(False),
    ).values(is_super=True, org_role_id=None).execution_options(synchronize_session=False))
    if took.rowcount != 1:
        raise ConcurrentTransition(_l("The super administrator has just changed. Please refresh."))
    audit(actor, "admin.make_super", object_type="membership", object_id=target.id,
          comment=f"{display_name(mine.user)} -> {display_name(target.user)} @ {mine.org.name}")
    db.session.flush()
    db.session.expire_all()
    return target


def _revoke(target: Membership, actor: Actor, how: str) -> None:
    if target.state != ACTIVE:
        raise ConcurrentTransition(HANDLED)
    memberships.revoke(target, actor, audit_as="admin.remove",
                       comment=f"{how}: {display_name(target.user)} @ {target.org.name}")
    db.session.expire_all()


@_use_case()
def remove_admin(actor: Actor, membership_id: int | None) -> None:
    """U3: the super admin deletes another admin of the org; their sessions end at once (the session's
    membership must be active on every request)."""
    mine = _super(actor)
    target = _target_admin(mine, membership_id)
    if target.id == mine.id:
        raise DomainError(_l("The super administrator cannot delete themselves; hand the right over first."))
    _revoke(target, actor, "super admin")


# ---------------------------------------------------------------- org-defined roles

def _clean_role(name: str | None, modules: list[str] | None, allowed: list[str]) -> tuple[str, list[str]]:
    name = (name or "").strip()
    if not name:
        raise DomainError(_l("This field is required."), field="name")
    if len(name) > ROLE_NAME_MAX:
        raise DomainError(_l("The role name may have at most 30 characters."), field="name")
    if any(c in ROLE_NAME_FORBIDDEN or not c.isprintable() for c in name):
        raise DomainError(_l("The role name must not contain < > \" ' ; & \\ or control characters."),
                          field="name")
    picked = set(modules or [])
    if not picked:
        raise DomainError(_l("Tick at least one module."), field="modules")
    beyond = [m for m in picked if m not in allowed]
    if beyond:
        raise DomainError(_l("A role cannot grant a module you do not hold yourself."), field="modules")
    order = list(MODULES)
    return name, sorted(picked, key=order.index)


def _unique_name(org_id: int, name: str, except_id: int | None = None) -> None:
    stmt = select(OrgRole.id).where(OrgRole.org_id == org_id, OrgRole.name == name, OrgRole.active.is_(True))
    if except_id:
        stmt = stmt.where(OrgRole.id != except_id)
    if db.session.scalar(stmt):
        raise DomainError(_l("Your organisation already has a role with this name."), field="name")


def _own_role(mine: Membership, role_id: int | None) -> OrgRole:
    role = db.session.get(OrgRole, role_id) if role_id else None
    if role is None or role.org_id != mine.org_id or not role.active:
        raise PermissionDenied(_l("This role does not belong to your organisation."))
    return role


@_use_case()
def create_role(actor: Actor, name: str, modules: list[str]) -> OrgRole:
    mine = _super(actor)
    name, modules = _clean_role(name, modules, reachable_modules(mine))
    _unique_name(mine.org_id, name)
    role = OrgRole(org_id=mine.org_id, name=name, modules_json=json.dumps(modules), created_by_id=actor.user_id,
                   active=True)
    db.session.add(role)
    db.session.flush()
    audit(actor, "org_role.create", object_type="org_role", object_id=role.id, comment=f"{name}: {','.join(modules)}")
    return role


@_use_case()
def edit_role(actor: Actor, role_id: int | None, name: str, modules: list[str]) -> OrgRole:
    mine = _super(actor)
    role = _own_role(mine, role_id)
    name, modules = _clean_role(name, modules, reachable_modules(mine))
    _unique_name(mine.org_id, name, except_id=role.id)
    before = f"{role.name}: {','.join(role.modules)}"
    role.name = name
    role.modules_json = json.dumps(modules)
    audit(actor, "org_role.edit", object_type="org_role", object_id=role.id,
          comment=f"{before} -> {name}: {','.join(modules)}")
    return role


@_use_case()
def delete_role(actor: Actor, role_id: int | None) -> None:
    """A role still held by an active admin is not deleted (assign those admins another role first); a deleted
    role is kept, inactive, for the history (revoked memberships may still name it)."""
    mine = _super(actor)
    role = _own_role(mine, role_id)
    held = select(Membership.id).where(Membership.org_role_id == role.id, Membership.state == ACTIVE)
    result = db.session.execute(update(OrgRole).where(
        OrgRole.id == role.id, OrgRole.active.is_(True), ~exists(held)).values(active=False)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        n = db.session.scalar(select(func.count()).select_from(held.subquery())) or 0
        raise DomainError(_l("This role is held by %(n)s administrator(s): give them another role first.", n=n))
    audit(actor, "org_role.delete", object_type="org_role", object_id=role.id, comment=role.name)
    db.session.expire_all()


@_use_case()
def set_role(actor: Actor, membership_id: int | None, role_id: int | None) -> Membership:
    """Give a non-super admin of the org one of the org's roles, or none (the org's full admin rights)."""
    mine = _super(actor)
    target = _target_admin(mine, membership_id)
    if target.is_super:
        raise DomainError(_l("The super administrator always holds all rights of the organisation."))
    role = _own_role(mine, role_id) if role_id else None
    if role is not None and any(m not in reachable_modules(mine) for m in role.modules):
        raise PermissionDenied(_l("A role cannot grant a module you do not hold yourself."))
    old = target.org_role.name if target.org_role else "-"
    values = {"org_role_id": role.id if role else None}
    where = [Membership.id == target.id, Membership.state == ACTIVE, Membership.is_super.is_(False),
             Membership.org_id == mine.org_id]
    stmt = update(Membership).where(*where).values(**values)
    if role is not None:  # the role must still be live when it is given (a racing delete wins or loses whole)
        stmt = stmt.where(exists(select(OrgRole.id).where(OrgRole.id == role.id, OrgRole.active.is_(True))))
    if db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount != 1:
        raise ConcurrentTransition(_l("This item has just been handled by someone else. Please refresh."))
    audit(actor, "admin.set_role", object_type="membership", object_id=target.id,
          comment=f"{display_name(target.user)}: {old} -> {role.name if role else '-'}")
    db.session.expire_all()
    return target


# ---------------------------------------------------------------- U4 sub-units, H1 the orgs below

def _below(actor: Actor, org: Org | None) -> bool:
    """An org strictly below the actor's own org (the actor's own org is managed through U3 only)."""
    return bool(org and actor.scope_path and org.id != actor.org_id and org.path.startswith(actor.scope_path))


def _manager(actor: Actor) -> Membership:
    mine = acting_membership(actor)
    if actor.role not in (RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN):
        raise PermissionDenied(DENIED)
    return mine


def sub_orgs(actor: Actor, *, q: str | None = None, industry: str | None = None, kind: str | None = None,
             state: str | None = OrgState.ACTIVE.value, after: tuple[str, int] | None = None,
             limit: int = 20) -> list[Org]:
    """A page of the orgs below the actor's org, by name then id (keyset: `after` = (name, id) of the last row).

    A unit admin sees its direct sub-units; department and HR admins their whole subtree."""
    mine = _manager(actor)
    stmt = select(Org).options(selectinload(Org.parent)).where(Org.id != mine.org_id)
    if actor.role == RoleName.UNIT_ADMIN:
        stmt = stmt.where(Org.parent_id == mine.org_id)
    else:
        stmt = stmt.where(Org.path.startswith(mine.org.path, autoescape=True))
    if q:
        stmt = stmt.where(Org.name.contains(q.strip()[:50], autoescape=True))
    if industry:
        stmt = stmt.where(Org.industry == industry)
    if kind:
        stmt = stmt.where(Org.kind == kind)
    if state:
        stmt = stmt.where(Org.state == state)
    if after:
        name, last_id = after
        stmt = stmt.where(or_(Org.name > name, and_(Org.name == name, Org.id > last_id)))
    return list(db.session.scalars(stmt.order_by(Org.name, Org.id).limit(limit)))


def sub_org(actor: Actor, org_id: int | None) -> Org:
    """One org below the actor's, or PermissionDenied (the view answers 404)."""
    _manager(actor)
    org = db.session.get(Org, org_id) if org_id else None
    if not _below(actor, org):
        raise PermissionDenied(DENIED)
    return org


def staff_count(org: Org) -> int:
    return db.session.scalar(select(func.count(Person.id)).where(Person.unit_id == org.id, _active_professional())) or 0


def close_blockers(org: Org) -> list:
    """Why a sub-org cannot be deleted (empty: it can)."""
    reasons = []
    if staff_count(org):
        reasons.append(_l("it still has active staff"))
    if db.session.scalar(select(exists(select(Org.id).where(Org.parent_id == org.id,
                                                            Org.state.in_(LIVE_ORG_STATES))))):
        reasons.append(_l("organisations are registered below it"))
    reasons.extend(pending_for_org(org))
    return reasons


@_use_case()
def close_org(actor: Actor, org_id: int | None) -> Org:
    """U4: delete a sub-unit (an org below one's own) with no active staff, no orgs below and nothing pending:
    the org is closed and its admins lose their rights at once."""
    org = sub_org(actor, org_id)
    reasons = close_blockers(org)
    if reasons:
        raise DomainError(blocked_message(reasons, _l("Deleting the organisation")))
    if org.state != OrgState.ACTIVE.value:
        raise ConcurrentTransition(HANDLED)
    org_machine.enter(org, "close", actor, follows=True, audit_as=False)
    admins = list(db.session.scalars(select(Membership).where(
        Membership.org_id == org.id, Membership.state == ACTIVE, Membership.role != RoleName.PROFESSIONAL.value)))
    for admin in admins:
        memberships.revoke(admin, actor)
    revoked = len(admins)
    audit(actor, "org.close", object_type="org", object_id=org.id, from_state=OrgState.ACTIVE.value,
          to_state=OrgState.CLOSED.value, comment=f"{org.name}; {revoked} admin(s) revoked")
    db.session.expire_all()
    return org


@_use_case()
def remove_sub_admin(actor: Actor, membership_id: int | None) -> None:
    """H1: an admin whose subtree covers an org below their own removes one of its admins' rights."""
    _manager(actor)
    target = db.session.get(Membership, membership_id) if membership_id else None
    if (target is None or target.state != ACTIVE or not _below(actor, target.org)
            or target.role != admin_role_of(target.org).value):
        raise PermissionDenied(DENIED)
    _revoke(target, actor, "organisation above")
