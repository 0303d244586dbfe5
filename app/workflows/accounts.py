"""Accounts: authentication with lockout, passwords (change, e-mailed reset link, admin reset), roles."""
from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext, lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..models import (Account, AuditLog, LoginThrottle, Membership, MembershipState, Org, Registration,
                      RegistrationState, RoleName)
from ..models.account import GLOBAL_ROLES
from ..validators import ValidationError, mask_id_number, normalize_id_number, validate_password
from . import memberships
from .base import Actor, ConcurrentTransition, DomainError, PermissionDenied, audit, transaction
from .notify import send_code

LOGIN_FAILED = _l("Wrong account or password.")
_fake_hashes: dict[str, str] = {}


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def _fake_check(password: str) -> None:
    """Spend the time of a real check when there is no account, so timing does not tell."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _fake_hashes:
        _fake_hashes[method] = hash_password("not-a-real-password-placeholder")
    check_password_hash(_fake_hashes[method], password or "")


# The initial password of an admin reset or a batch import is the last 6 characters of the 证件号, changed at the
# first login. It is stored as this marker (read by `verify_password` only) (with a random tag, so that a reset link made before stops working),
# not as a slow hash: a hash of a value anyone who knows the 证件号 can derive protects nothing, and hashing it
# would cost an import of 100,000 people hours. Only `verify_password` reads it (werkzeug's check refuses it).
INITIAL_PREFIX = "initial!"


def initial_password() -> str:
    return INITIAL_PREFIX + secrets.token_hex(8)


def actor_of(membership: Membership, ip: str | None = None) -> Actor:
    """The acting person of a membership: its role, its org and the org's subtree (none for platform roles)."""
    role = RoleName(membership.role)
    org = membership.org
    return Actor(user_id=membership.user_id, display=display_name(membership.user), role=role,
                 org_id=org.id if org else None,
                 scope_path=None if role in GLOBAL_ROLES else (org.path if org else None), ip=ip)


def display_name(account: Account | None) -> str:
    if account is None:
        return ""
    return f"{account.first_name}({mask_id_number(account.username)})"


def find_account(id_number: str) -> Account | None:
    return db.session.scalar(select(Account).where(Account.username == normalize_id_number(id_number or "")))


def check_new_password(password: str, confirm: str | None, id_number: str | None) -> None:
    if confirm is not None and password != confirm:
        raise DomainError(_l("The two passwords do not match."), field="confirm")
    try:
        validate_password(password or "", id_number)
    except ValidationError as exc:
        raise DomainError(exc.message, field="password") from exc


# ---------------------------------------------------------------- login

@dataclass
class LoginResult:
    account: Account | None
    memberships: list[Membership]
    error: object | None = None


def _is_locked(key: str) -> bool:
    row = db.session.get(LoginThrottle, key)
    return bool(row and row.locked_until and row.locked_until > datetime.datetime.now())


def _count_failure(key: str, audit_row: dict) -> None:
    """Count one failure towards the lockout of `key` and write its audit row in a transaction of their own, so
    that a caller rolling back its own work (a refused registration, a refused admin) never undoes them."""
    cfg = current_app.config
    stamp = datetime.datetime.now()
    with Session(db.engine) as own:
        if own.get(LoginThrottle, key) is None:
            try:
                with own.begin_nested():
                    own.add(LoginThrottle(username=key, failures=0, updated_at=stamp))
            except IntegrityError:
                pass  # created at the same instant by a parallel failure
        own.execute(update(LoginThrottle).where(LoginThrottle.username == key)
                    .values(failures=LoginThrottle.failures + 1, updated_at=stamp))
        row = own.get(LoginThrottle, key, populate_existing=True)
        if row.failures >= cfg["LOCKOUT_THRESHOLD"]:
            row.locked_until = stamp + datetime.timedelta(minutes=cfg["LOCKOUT_MINUTES"])
            row.failures = 0
        own.add(AuditLog(at=stamp, **audit_row))
        own.commit()


def verify_password(id_number: str, password: str, *, purpose: str, actor: Actor | None = None,
                    ip: str | None = None, comment: str | None = None) -> Account | None:
    """THE password check of the platform: every path that accepts a password (login, registration as an existing
    user, withdrawal of a registration, the old password on a change, adding an existing user as admin) calls
    this and nothing else. Returns the account when the password is right, the account active and not locked.

    Otherwise returns None after spending the time of a real check; a wrong password (or an unknown name) counts
    towards the lockout of that login name: LOCKOUT_THRESHOLD failures on any mix of paths lock it for
    LOCKOUT_MINUTES on all of them, and while it is locked even the right password is refused. Callers answer
    with the one message LOGIN_FAILED whatever the cause. The failure and its audit row (action `purpose`) are
    committed on their own; a success writes nothing (the caller audits its own action)."""
    key = normalize_id_number(id_number or "")[:64]
    account = find_account(key) if key else None
    who = actor or Actor(account.id if account else None, display_name(account) or mask_id_number(key), ip=ip)
    role = who.role.value if who.role else None
    row = dict(actor_id=who.user_id, actor=who.display, role=role, action=purpose, object_type="account",
               object_id=account.id if account else None, result="fail", ip=who.ip, comment=comment)
    if not key or _is_locked(key):
        _fake_check(password)
        if key:
            with Session(db.engine) as own:
                own.add(AuditLog(at=datetime.datetime.now(), **{**row, "comment": " ".join(filter(None, [comment, "locked"]))}))
                own.commit()
        return None
    if account is None or not account.password:
        _fake_check(password)
        ok = False
    elif account.password.startswith(INITIAL_PREFIX):
        _fake_check(password)  # the time of a real check: timing does not tell an initial password apart
        ok = hmac.compare_digest((password or "").encode(), account.username[-6:].encode()) and bool(
            account.active and password)
    else:
        ok = check_password_hash(account.password, password or "") and bool(account.active and password)
    if not ok:
        _count_failure(key, row)
        return None
    return account


def authenticate(id_number: str, password: str, role: RoleName | str | None, ip: str | None = None) -> LoginResult:
    """Check a login on any path. Unknown account, wrong password and locked all answer LOGIN_FAILED.

    Only after the password is right are 'role not registered' and 'under review by <org>' told apart.
    """
    chosen_role = RoleName(role) if role in {r.value for r in RoleName} else None
    key = normalize_id_number(id_number or "")[:64]
    probe = find_account(key) if key else None
    actor = Actor(probe.id if probe else None, display_name(probe) or mask_id_number(key), chosen_role, ip=ip)
    account = verify_password(key, password, purpose="login", actor=actor)
    if account is None:
        return LoginResult(None, [], LOGIN_FAILED)
    db.session.execute(update(LoginThrottle).where(LoginThrottle.username == key).values(failures=0))
    memberships = list(db.session.scalars(
        select(Membership).where(Membership.user_id == account.id).order_by(Membership.id)))
    role_value = chosen_role.value if chosen_role else None
    chosen = [m for m in memberships if role is None or m.role == role_value]
    active = [m for m in chosen if m.state == MembershipState.ACTIVE.value]
    error = None
    if not active:
        pending = [m for m in chosen if m.state == MembershipState.PENDING.value]
        if pending:
            reviewer = _pending_reviewer(pending[0])
            error = gettext("Your account is under review by %(org)s.", org=reviewer)
        else:
            error = gettext("The role you chose is not registered for this account.")
    account.login_count = (account.login_count or 0) + (0 if error else 1)
    if not error:
        account.last_login = datetime.datetime.now()
    audit(actor, "login", object_type="account", object_id=account.id, result="fail" if error else "ok",
          comment=role_value)
    db.session.commit()
    return LoginResult(account, active, error)


def _pending_reviewer(membership: Membership) -> str:
    reg = db.session.scalar(select(Registration).where(
        Registration.membership_id == membership.id, Registration.state == RegistrationState.PENDING.value))
    return reg.reviewer_org.name if reg else gettext("the reviewing organisation")


def record_logout(account: Account, actor: Actor) -> None:
    account.sessions_valid_after = datetime.datetime.now()
    audit(actor, "logout", object_type="account", object_id=account.id)
    db.session.commit()


# ---------------------------------------------------------------- passwords

def _set_password(account: Account, password: str, *, must_change: bool) -> None:
    account.password = hash_password(password)
    account.must_change_password = must_change
    # Void every session issued until now, including the one that made the change (it is re-issued).
    account.sessions_valid_after = datetime.datetime.now()


def change_password(account: Account, old: str, new: str, confirm: str, actor: Actor) -> None:
    if verify_password(account.username, old, purpose="password.change", actor=actor) is None:
        raise DomainError(LOGIN_FAILED, field="old_password")
    if old == new:
        raise DomainError(_l("The new password must differ from the old one."), field="password")
    check_new_password(new, confirm, account.username)
    _set_password(account, new, must_change=False)
    audit(actor, "password.change", object_type="account", object_id=account.id)
    db.session.commit()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(account: Account) -> str:
    return hashlib.sha256((account.password or "").encode()).hexdigest()[:16]


def make_reset_token(account: Account) -> str:
    """A signed, expiring token bound to the current password hash: it dies once used."""
    return _serializer().dumps({"u": account.id, "p": _password_fingerprint(account)})


def request_password_reset(id_number: str, contact: str, channel: str, ip: str | None) -> None:
    """Send a reset link if 证件号 and the registered e-mail / mobile match; answer the same either way."""
    account = find_account(id_number)
    contact = (contact or "").strip().lower()
    registered = (account.email or "").lower() if account and channel == "email" else (
        account.mobile if account else None)
    matched = bool(account and account.active and contact and registered == contact)
    audit(Actor(account.id if account else None, display_name(account) or mask_id_number(id_number), ip=ip),
          "password.reset_request", object_type="account", object_id=account.id if account else None,
          result="ok" if matched else "fail", comment=channel)
    db.session.commit()
    if not matched:
        return
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    link = f"{base}/password/reset/{make_reset_token(account)}"
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE"] // 60
    body = gettext("Hello %(name)s,\n\nOpen this link within %(minutes)s minutes to set a new password "
                   "(it works only once):\n%(link)s\n\nIf you did not ask for this, ignore this message.",
                   name=account.first_name, minutes=minutes, link=link)
    # Always to the address on record (the typed one only matched it ignoring case).
    send_code(channel, account.email if channel == "email" else account.mobile, gettext("Reset your password"), body)


def account_for_reset_token(token: str) -> Account:
    try:
        data = _serializer().loads(token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"])
    except SignatureExpired as exc:
        raise DomainError(_l("This link has expired. Please ask for a new one.")) from exc
    except BadSignature as exc:
        raise DomainError(_l("This link is invalid or has already been used.")) from exc
    account = db.session.get(Account, data.get("u"))
    if account is None or not account.active or data.get("p") != _password_fingerprint(account):
        raise DomainError(_l("This link is invalid or has already been used."))
    return account


def reset_password_with_token(token: str, new: str, confirm: str, ip: str | None) -> Account:
    account = account_for_reset_token(token)
    check_new_password(new, confirm, account.username)
    _set_password(account, new, must_change=False)
    audit(Actor(account.id, display_name(account), ip=ip), "password.reset", object_type="account",
          object_id=account.id, comment="link")
    db.session.commit()
    return account


def can_manage_account(actor: Actor, account: Account) -> bool:
    """Support and system staff reach everyone (a system administrator's or auditor's account: the system
    administrator only); an org admin reaches staff of orgs in their subtree, and never an account that also
    holds a platform role or administers an org that is not strictly below the admin's own (a fellow or the
    super administrator of the same org, an org above): resetting such a password would hand over its rights."""
    rows = db.session.execute(
        select(Membership.role, Membership.org_id, Org.path).outerjoin(Org, Membership.org_id == Org.id).where(
            Membership.user_id == account.id,
            Membership.state.in_([MembershipState.ACTIVE.value, MembershipState.PENDING.value]))).all()
    if actor.role in (RoleName.SUPPORT, RoleName.SYSADMIN):
        return actor.role == RoleName.SYSADMIN or not any(
            role in (RoleName.SYSADMIN.value, RoleName.AUDITOR.value) for role, _org, _path in rows)
    if actor.role not in (RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN):
        return False

    def reachable(role: str, org_id: int | None, path: str | None) -> bool:
        if org_id is None or path is None or not actor.covers(path):
            return False
        return role == RoleName.PROFESSIONAL.value or org_id != actor.org_id

    return bool(rows) and all(reachable(*row) for row in rows)


def admin_reset_password(account: Account, actor: Actor) -> None:
    """Reset to the last 6 characters of the 证件号; the owner must change it at the next login (S2)."""
    if account.id == actor.user_id or not can_manage_account(actor, account):
        raise PermissionDenied(_l("You do not have permission to do this."))
    account.password = initial_password()
    account.must_change_password = True
    account.sessions_valid_after = datetime.datetime.now()
    audit(actor, "password.admin_reset", object_type="account", object_id=account.id)
    db.session.commit()


# ---------------------------------------------------------------- roles (S1)

def assign_role(account: Account, role: RoleName, org: Org | None, actor: Actor) -> Membership:
    if actor.role not in (RoleName.SUPPORT, RoleName.SYSADMIN):
        raise PermissionDenied(_l("You do not have permission to do this."))
    if role in (RoleName.SYSADMIN, RoleName.AUDITOR) and actor.role != RoleName.SYSADMIN:
        raise PermissionDenied(_l("Only a system administrator may grant this role."))
    if account.id == actor.user_id:
        raise PermissionDenied(_l("You cannot change your own roles."))
    if role in GLOBAL_ROLES:
        org = None
    elif org is None or org.state != "active":
        raise DomainError(_l("Choose an active organisation for this role."), field="org")
    elif not _org_fits_role(org, role):
        raise DomainError(_l("This role does not fit the kind of organisation chosen."), field="org")
    existing = db.session.scalar(select(Membership).where(
        Membership.user_id == account.id, Membership.role == role.value,
        Membership.org_id == org.id if org else Membership.org_id.is_(None),
        Membership.state == MembershipState.ACTIVE.value))
    if existing:
        raise DomainError(_l("The account already holds this role."))
    # An org left without a super admin (its last one removed by the org above) gets one back this way.
    orphaned = role in ADMIN_ROLES and not db.session.scalar(select(Membership.id).where(
        Membership.org_id == org.id, Membership.role == role.value, Membership.is_super.is_(True),
        Membership.state == MembershipState.ACTIVE.value).limit(1))
    with transaction():
        membership = memberships.machine.open(
            Membership(user_id=account.id, role=role.value, org_id=org.id if org else None, is_super=orphaned),
            actor, state=MembershipState.ACTIVE, commit=False, audit_as="role.grant",
            comment=f"{role.value} {org.name if org else ''} -> {display_name(account)}".strip())
    return membership


def revoke_role(membership: Membership, actor: Actor) -> None:
    if actor.role not in (RoleName.SUPPORT, RoleName.SYSADMIN) or membership.user_id == actor.user_id:
        raise PermissionDenied(_l("You do not have permission to do this."))
    if membership.role in (RoleName.SYSADMIN.value, RoleName.AUDITOR.value) and actor.role != RoleName.SYSADMIN:
        raise PermissionDenied(_l("Only a system administrator may grant this role."))
    if membership.state != MembershipState.ACTIVE.value:
        raise DomainError(_l("This role is no longer active."))
    try:
        with transaction():
            memberships.revoke(membership, actor, audit_as="role.revoke", end_super=False,
                                      comment=f"{membership.role} -> {display_name(membership.user)}")
    except ConcurrentTransition as exc:
        raise DomainError(_l("This role is no longer active.")) from exc


ADMIN_ROLES = {RoleName.UNIT_ADMIN, RoleName.DEPT_ADMIN, RoleName.HR_ADMIN, RoleName.BASE_ADMIN}
ROLE_ORG_KINDS = {
    RoleName.PROFESSIONAL: ("unit",),
    RoleName.UNIT_ADMIN: ("unit",),
    RoleName.DEPT_ADMIN: ("department",),
    RoleName.HR_ADMIN: ("hr_city", "hr_district"),
    RoleName.BASE_ADMIN: ("base",),
}


def _org_fits_role(org: Org, role: RoleName) -> bool:
    return org.kind in ROLE_ORG_KINDS.get(role, ())
