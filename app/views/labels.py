"""Display labels and FAB column formatters: no raw code value, no "None" reaches a page."""
from __future__ import annotations

import datetime

from flask_babel import lazy_gettext as _l

from ..models.account import MEMBERSHIP_STATE_LABELS, ROLE_LABELS
from ..models.registration import REGISTRATION_STATE_LABELS

AUDIT_ACTIONS = {
    "login": _l("Log in"),
    "logout": _l("Log out"),
    "registration.submit": _l("Registration submitted"),
    "registration.approve": _l("Registration approved"),
    "registration.reject": _l("Registration rejected"),
    "registration.withdraw": _l("Registration withdrawn"),
    "password.change": _l("Password changed"),
    "password.reset_request": _l("Password reset requested"),
    "password.reset": _l("Password reset by link"),
    "password.admin_reset": _l("Password reset by an administrator"),
    "role.grant": _l("Role granted"),
    "role.revoke": _l("Role revoked"),
}
AUDIT_OBJECTS = {"account": _l("User account"), "registration": _l("Registration"), "membership": _l("Role")}
AUDIT_RESULTS = {"ok": _l("Succeeded"), "fail": _l("Failed")}
STATES = {**{s.value: label for s, label in MEMBERSHIP_STATE_LABELS.items()},
          **{s.value: label for s, label in REGISTRATION_STATE_LABELS.items()}}
ROLES = {r.value: label for r, label in ROLE_LABELS.items()}
GENDERS = {"M": _l("Male"), "F": _l("Female")}


def blank(value) -> str:
    return "" if value is None else value


def label(mapping: dict):
    """A formatter showing the translated label of a code (the code itself if unknown)."""
    return lambda value: "" if value is None else mapping.get(value, value)


def when(value) -> str:
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    return blank(value)



def formatters(columns, **special) -> dict:
    """Blank out None in every column; dates as 2026-11-22; `special` overrides per column."""
    result = {column: when for column in columns}
    result.update(special)
    return result
