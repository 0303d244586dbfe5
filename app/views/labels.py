"""Display labels and FAB column formatters: no raw code value, no "None" reaches a page."""
from __future__ import annotations

import datetime

from flask_babel import gettext, lazy_gettext as _l

from ..models.account import MEMBERSHIP_STATE_LABELS, ROLE_LABELS
from ..models.changes import CHANGE_STATE_LABELS, ORG_CHANGE_STATE_LABELS, TRANSFER_STATE_LABELS
from ..models.hours import DECLARATION_STATE_LABELS
from ..models.org import ORG_STATE_LABELS
from ..models.registration import REGISTRATION_STATE_LABELS
from ..workflows.base import COUNT_CAP
from ..workflows.declaration import FIELDS

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
    "declaration.create": _l("Declaration created"),
    "declaration.edit": _l("Declaration edited"),
    "declaration.delete": _l("Draft deleted"),
    "declaration.submit": _l("Submitted for review"),
    "declaration.withdraw": _l("Withdrawn"),
    "declaration.approve": _l("Approved"),
    "declaration.reject": _l("Rejected"),
    "base_report.submit": _l("Base report submitted"),
    "base_report.approve": _l("Base report approved"),
    "base_report.reject": _l("Base report rejected"),
    "base_filing.submit": _l("Base plan or annual report submitted"),  # issue 11 (B1)
    "base_filing.approve": _l("Base plan or annual report approved"),
    "base_filing.reject": _l("Base plan or annual report rejected"),
    "certificate.issue": _l("Certificate printed"),
    # issue 4: personnel and organisation changes
    "profile.edit": _l("Profile edited"),
    "title_change.submit": _l("Title change submitted"),
    "title_change.approve": _l("Title change approved"),
    "title_change.reject": _l("Title change rejected"),
    "title_change.withdraw": _l("Title change withdrawn"),
    "transfer.submit": _l("Transfer applied for"),
    "transfer.start": _l("Transfer-out started by the unit"),
    "transfer.release": _l("Transfer released by the current unit"),
    "transfer.accept": _l("Transfer accepted by the new unit"),
    "transfer.reject": _l("Transfer rejected"),
    "transfer.withdraw": _l("Transfer withdrawn"),
    "identity_correction.submit": _l("Identity correction requested"),
    "identity_correction.approve": _l("Identity correction approved"),
    "identity_correction.reject": _l("Identity correction rejected"),
    "identity_correction.withdraw": _l("Identity correction withdrawn"),
    "identity.view": _l("Full ID number viewed"),
    "licence.view": _l("Business licence scan viewed"),
    "org.edit": _l("Organisation profile edited"),
    "org_change.submit": _l("Organisation change requested"),
    "org_change.approve_old": _l("Approved by the current organisation above"),
    "org_change.approve_new": _l("Approved by the new organisation above"),
    "org_change.reject_old": _l("Rejected by the current organisation above"),
    "org_change.reject_new": _l("Rejected by the new organisation above"),
    "org_change.withdraw": _l("Organisation change withdrawn"),
    "org.close": _l("Organisation deleted"),
    "org.merge": _l("Organisations merged"),
    "org.temporary_code": _l("Temporary credit code issued"),
    "admin.add": _l("Administrator added"),
    "admin.remove": _l("Administrator removed"),
    "admin.make_super": _l("Super administrator handed over"),
    "admin.set_role": _l("Administrator role changed"),
    "org_role.create": _l("Role defined"),
    "org_role.edit": _l("Role edited"),
    "org_role.delete": _l("Role deleted"),
    "delegation.create": _l("Review rights delegated"),  # X9
    "delegation.revoke": _l("Delegation revoked"),
    "delegation.act": _l("Started reviewing as a deputy"),
    "import_batch.upload": _l("Staff file uploaded"),
    "import_batch.checked": _l("Staff file checked"),
    "import_batch.confirm": _l("Staff import confirmed"),
    "import_batch.done": _l("Staff imported"),
    "import_batch.refuse": _l("Staff file refused"),
    "import_batch.interrupt": _l("Staff import interrupted"),
    "export_job.start": _l("Background export asked"),
    "export_job.done": _l("Background export written"),
    "export_job.fail": _l("Background export not made"),
    "export_job.interrupt": _l("Background export interrupted"),
    "export_job.expire": _l("Export file removed"),
}
AUDIT_OBJECTS = {"account": _l("User account"), "registration": _l("Registration"), "membership": _l("Role"),
                 "declaration": _l("Hour declaration"), "base_report": _l("Base report"),
                 "certificate": _l("Certificate"), "title_change": _l("Title change"),
                 "transfer": _l("Unit transfer"), "identity_correction": _l("Identity correction"),
                 "org_change": _l("Organisation change"), "org": _l("Organisation"), "org_role": _l("Role"),
                 "person": _l("Professional"), "base_filing": _l("Base plan or annual report"),
                 "delegation": _l("Delegation"), "import_batch": _l("Batch import"),
                 "export_job": _l("Background export")}
AUDIT_RESULTS = {"ok": _l("Succeeded"), "fail": _l("Failed")}
STATES = {**{s.value: label for s, label in MEMBERSHIP_STATE_LABELS.items()},
          **{s.value: label for s, label in REGISTRATION_STATE_LABELS.items()},
          **{s.value: label for s, label in CHANGE_STATE_LABELS.items()},
          **{s.value: label for s, label in TRANSFER_STATE_LABELS.items()},
          **{s.value: label for s, label in ORG_CHANGE_STATE_LABELS.items()},
          **{s.value: label for s, label in ORG_STATE_LABELS.items()}}
DECLARATION_STATES = {s.value: label for s, label in DECLARATION_STATE_LABELS.items()}
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


def field_label(key: str):
    return FIELDS[key][0] if key in FIELDS else key


def pending_text(n: int) -> str:
    """A queue's pending count as its heading shows it: counts stop at COUNT_CAP (workflows.base.capped_count)."""
    if n > COUNT_CAP:
        return gettext("More than %(n)s pending", n="{:,}".format(COUNT_CAP))
    return gettext("%(n)s pending", n=n)


def count_text(n: int) -> str:
    """A capped count as a badge shows it."""
    return "{:,}+".format(COUNT_CAP) if n > COUNT_CAP else str(n)


def register_template_helpers(app) -> None:
    app.jinja_env.globals.update(
        fields_label=field_label, audit_action=label(AUDIT_ACTIONS), declaration_state=label(DECLARATION_STATES),
        pending_text=pending_text, count_text=count_text)
