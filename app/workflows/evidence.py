"""Who may download evidence: the files of a declaration, of a change request (title change, identity correction)
and the business licence scan of an org registration. Each function answers with the file row the actor may have,
or None (the view then answers 404, never a hint that the file exists); a download that is a sensitive read is
audited here."""
from __future__ import annotations

from ..extensions import db
from ..models import Attachment, ChangeAttachment, Declaration, IdentityCorrection, Registration, TitleChange
from . import declaration, identity, registration, title_change
from .base import Actor


def declaration_file(attachment_id: int, actor: Actor) -> Attachment | None:
    """An evidence file of a declaration, to whoever may see the declaration: the applicant, and the reviewers whose
    subtree holds its unit once it has been submitted."""
    row = db.session.get(Attachment, attachment_id)
    item = db.session.get(Declaration, row.declaration_id) if row is not None else None
    return row if item is not None and declaration.can_see(item, actor) else None


def change_file(attachment_id: int, actor: Actor, *, personnel_module: bool) -> ChangeAttachment | None:
    """An evidence file of a change request. A title change's: the applicant, and the reviewers in scope whose role
    includes the personnel module (`personnel_module`: an org-defined role without it does not reach the evidence,
    U3). An identity correction's: the applicant, and support staff, each opening of an ID-card image audited."""
    row = db.session.get(ChangeAttachment, attachment_id)
    if row is None:
        return None
    if row.owner_type == title_change.OWNER_TYPE:
        item = db.session.get(TitleChange, row.owner_id)
        allowed = item is not None and title_change.can_see(item, actor) and (
            title_change.machine.is_owner(item, actor) or personnel_module)
        return row if allowed else None
    if row.owner_type == identity.OWNER_TYPE:
        item = db.session.get(IdentityCorrection, row.owner_id)
        if item is None or not identity.can_see(item, actor):
            return None
        if not identity.machine.is_owner(item, actor):
            identity.view_image(item, row, actor)  # ID-card images are as sensitive as the full number
        return row
    return None  # a licence scan is reached through its registration only (`licence_file`)


def licence_file(reg: Registration, actor: Actor) -> ChangeAttachment | None:
    """The business licence scan of an org registration, to the reviewers of its queue; each opening is audited."""
    if not registration.visible(reg, actor):
        return None
    row = registration.licence_of(reg)
    if row is not None:
        registration.view_licence(reg, row, actor)
    return row
