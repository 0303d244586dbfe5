"""Tokens of the REST API (issue 12): a short-lived signed access token (JWT, flask-jwt-extended) bound to one
membership, and a refresh token kept on the server as a SHA-256 hash only, rotated at each use and revocable.

Both die with the account's `sessions_valid_after` stamp, the same stamp that ends web sessions: logout, password
change or reset, identity correction and deactivation revoke every token at once; a membership no longer active
(rights removed) refuses its tokens on the next request. The password itself is checked by
`accounts.authenticate` (the one check, with its lockout and audit), never here."""
from __future__ import annotations

import datetime
import hashlib
import secrets
import time
from dataclasses import dataclass

from flask import current_app
from flask_jwt_extended import create_access_token, decode_token
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Account, ApiRefreshToken, Membership, MembershipState
from .accounts import record_logout
from .base import Actor

ACCESS_MINUTES = 15


@dataclass
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    membership: Membership


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _refresh_lifetime() -> datetime.timedelta:
    return datetime.timedelta(hours=current_app.config.get("API_REFRESH_HOURS",
                                                           current_app.config["SESSION_ABSOLUTE_HOURS"]))


def _access_lifetime() -> datetime.timedelta:
    return datetime.timedelta(minutes=current_app.config.get("API_ACCESS_MINUTES", ACCESS_MINUTES))


def _still_valid(membership: Membership | None, user_id: int, auth_at: float) -> bool:
    """The rule of app.security.AppSecurityManager.load_user for a session, for a token."""
    if membership is None or membership.user_id != user_id or membership.state != MembershipState.ACTIVE.value:
        return False
    account = membership.user
    issued = datetime.datetime.fromtimestamp(auth_at)
    if not account.active or issued + _refresh_lifetime() < datetime.datetime.now():
        return False
    return not (account.sessions_valid_after and issued < account.sessions_valid_after)


def issue(membership: Membership, auth_at: float | None = None) -> TokenPair:
    """A fresh access token and refresh token for `membership` (the password was given at `auth_at`)."""
    auth_at = auth_at or time.time()
    refresh = secrets.token_urlsafe(32)
    db.session.add(ApiRefreshToken(token_hash=_hash(refresh), user_id=membership.user_id,
                                   membership_id=membership.id, auth_at=datetime.datetime.fromtimestamp(auth_at),
                                   expires_at=datetime.datetime.now() + _refresh_lifetime()))
    db.session.commit()
    lifetime = _access_lifetime()
    access = create_access_token(identity=str(membership.id), expires_delta=lifetime,
                                 additional_claims={"uid": membership.user_id, "auth_at": auth_at})
    return TokenPair(access, refresh, int(lifetime.total_seconds()), membership)


def membership_of_access_token(token: str) -> Membership | None:
    """The membership an access token acts for, if the token is genuine, unexpired and not revoked."""
    try:
        claims = decode_token(token)
        membership_id, user_id, auth_at = int(claims["sub"]), int(claims["uid"]), float(claims["auth_at"])
    except Exception:  # malformed, forged, expired, a refresh token…: not a token of ours
        return None
    if not 0 < membership_id < 2 ** 31:
        return None
    membership = db.session.scalar(
        select(Membership).options(joinedload(Membership.user), joinedload(Membership.org),
                                   joinedload(Membership.org_role)).where(Membership.id == membership_id))
    return membership if _still_valid(membership, user_id, auth_at) else None


def _live_refresh(token: str | None) -> ApiRefreshToken | None:
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    row = db.session.scalar(select(ApiRefreshToken).where(ApiRefreshToken.token_hash == _hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at < datetime.datetime.now():
        return None
    return row


def refresh(token: str | None) -> TokenPair | None:
    """Rotate a refresh token: the old one is revoked (a conditional update, so a token is used once even by two
    requests at the same instant) and a new pair is issued with the same time of login. None when refused."""
    row = _live_refresh(token)
    if row is None:
        return None
    membership = db.session.get(Membership, row.membership_id)
    auth_at = row.auth_at.timestamp()
    if not _still_valid(membership, row.user_id, auth_at):
        return None
    used = db.session.execute(update(ApiRefreshToken).where(
        ApiRefreshToken.id == row.id, ApiRefreshToken.revoked_at.is_(None)).values(revoked_at=datetime.datetime.now()))
    if used.rowcount != 1:
        db.session.rollback()
        return None
    return issue(membership, auth_at)


def logout(account: Account, actor: Actor, token: str | None = None) -> None:
    """The API's logout is the web's: every session and token of the account ends (the stamp), audited once;
    the refresh token presented is marked revoked too."""
    row = _live_refresh(token)
    if row is not None and row.user_id == account.id:
        row.revoked_at = datetime.datetime.now()
    record_logout(account, actor)  # commits

