"""H1 / D: the HR bureau or the competent department (and a unit, for its sub-units) edits the profile of an org
below it: the name and the free profile fields. The credit code and the org above are not editable here: they
change through the org-change workflow (state machine 5), approved by the orgs above.

The scope is checked here whatever the view did (an org strictly inside the actor's subtree, read again from the
actor's active admin membership); every saved change writes one audit row holding each changed field's value
before and after."""
from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..models import Org, OrgState
from ..validators import ValidationError, check_plain_text, validate_org_name
from . import admins
from .base import Actor, DomainError, audit
from .org_change import PROFILE_FIELDS

# What the orgs above may edit; never credit_code, parent_id, kind, state, path or region.
EDITABLE = ("name",) + PROFILE_FIELDS
MAX_LENGTHS = {"phone": 30, "address": 200, "contact": 30, "nature": 30, "industry": 30, "description": 1000}


def editable_org(actor: Actor, org_id: int | None) -> Org:
    """The org below the actor's own that the actor may edit, or PermissionDenied (the view answers 404)."""
    return admins.sub_org(actor, org_id)


def _clean(values: dict) -> dict:
    cleaned = {}
    for name in EDITABLE:
        if name not in values:
            continue
        raw = values[name]
        value = raw.strip() if isinstance(raw, str) else raw
        try:
            if name == "name":
                value = validate_org_name(value)
            elif value:
                check_plain_text(value, multiline=name == "description")
        except ValidationError as exc:
            raise DomainError(exc.message, field=name) from exc
        if name != "name" and value and len(value) > MAX_LENGTHS[name]:
            raise DomainError(_l("At most %(n)s characters.", n=MAX_LENGTHS[name]), field=name)
        cleaned[name] = value or None
    return cleaned


def _describe(before: dict, after: dict) -> str:
    """name: "old" → "new"; phone: null → "0531-…" (JSON-quoted values: an empty value reads null)."""
    return "; ".join(f"{name}: {json.dumps(before[name], ensure_ascii=False)} → "
                     f"{json.dumps(after[name], ensure_ascii=False)}" for name in after)


def edit_below(actor: Actor, org_id: int | None, values: dict) -> list[str]:
    """Save the editable fields of an org below the actor's; returns the names of the fields that changed.

    Keys other than EDITABLE (a credit code, a parent) are ignored. The org row is locked while it is compared and
    written, so the audit row's "before" is what the change replaced."""
    org = editable_org(actor, org_id)
    cleaned = _clean(values)
    org = db.session.scalar(select(Org).where(Org.id == org.id).with_for_update().execution_options(
        populate_existing=True))
    if org.state != OrgState.ACTIVE.value:
        raise DomainError(_l("The organisation is not active."))
    if "name" in cleaned and cleaned["name"] != org.name and db.session.scalar(select(Org.id).where(
            Org.name == cleaned["name"], Org.id != org.id,
            Org.state.in_([OrgState.PENDING.value, OrgState.ACTIVE.value])).limit(1)):
        raise DomainError(_l("An organisation with this name is already registered."), field="name")
    if "name" in cleaned and cleaned["name"] is None:
        raise DomainError(_l("Organization name must be between 2 and 100 characters"), field="name")
    changed = {name: value for name, value in cleaned.items() if value != getattr(org, name)}
    if not changed:
        db.session.rollback()
        return []
    before = {name: getattr(org, name) for name in changed}
    for name, value in changed.items():
        setattr(org, name, value)
    audit(actor, "org.edit", object_type="org", object_id=org.id, comment=_describe(before, changed))
    db.session.commit()
    return list(changed)
