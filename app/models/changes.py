"""Personnel and organisation changes: title changes (state machine 2), unit transfers (3), identity corrections
(S3), org info / parent changes (5), org-defined admin roles (U3) and the evidence files of change requests."""
from __future__ import annotations

import datetime
import enum
import json

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .account import Account, Person
from .org import Org


class ChangeState(str, enum.Enum):
    """States of a title change and of an identity correction."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


CHANGE_STATE_LABELS = {
    ChangeState.PENDING: _l("Pending review"),
    ChangeState.APPROVED: _l("Approved"),
    ChangeState.REJECTED: _l("Rejected"),
    ChangeState.WITHDRAWN: _l("Withdrawn"),
}

# The title (专业技术职务) fields of Person that a title change carries, before and after.
TITLE_FIELDS = ("title_series", "title_level", "title_name", "title_date", "title_cert_no")


class _Decided:
    """Columns every reviewed request has."""

    state: Mapped[str] = mapped_column(String(20), nullable=False, default=ChangeState.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class TitleChange(_Decided, Model):
    """P6 / U6: a professional's request to change their 专业技术职务; the old value stays until approved."""

    __tablename__ = "title_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    person: Mapped[Person] = relationship(Person)
    # The unit that reviews (the person's unit when submitted).
    unit_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    unit: Mapped[Org] = relationship(Org)
    before_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    after_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    __table_args__ = (
        Index("ix_title_change_unit_state_id", "unit_id", "state", "id"),
        Index("ix_title_change_person", "person_id", "state"),
        # At most one pending title change per person.
        Index("uq_title_change_pending", "person_id", unique=True,
              sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    )

    @property
    def before(self) -> dict:
        return json.loads(self.before_json or "{}")

    @property
    def after(self) -> dict:
        return json.loads(self.after_json or "{}")

    @property
    def state_label(self):
        return CHANGE_STATE_LABELS[ChangeState(self.state)]

    def __repr__(self) -> str:
        return f"TitleChange {self.id}"


class TransferState(str, enum.Enum):
    PENDING_OUT = "pending_out"  # 待调出单位审核
    PENDING_IN = "pending_in"    # 待调入单位审核 / 接收
    DONE = "done"                # 调转成功
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


TRANSFER_STATE_LABELS = {
    TransferState.PENDING_OUT: _l("Awaiting release by the current unit"),
    TransferState.PENDING_IN: _l("Awaiting acceptance by the new unit"),
    TransferState.DONE: _l("Transfer completed"),
    TransferState.REJECTED: _l("Rejected"),
    TransferState.WITHDRAWN: _l("Withdrawn"),
}
PENDING_TRANSFER_STATES = (TransferState.PENDING_OUT.value, TransferState.PENDING_IN.value)


class Transfer(Model):
    """P7 / U7: a professional moves from one unit to another (state machine 3)."""

    __tablename__ = "transfer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    person: Mapped[Person] = relationship(Person)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    from_unit: Mapped[Org] = relationship(Org, foreign_keys=[from_unit_id])
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    to_unit: Mapped[Org] = relationship(Org, foreign_keys=[to_unit_id])
    # "person": applied for by the professional; "unit": started by the old unit's admin (transfer-out).
    initiator: Mapped[str] = mapped_column(String(10), nullable=False, default="person")
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=TransferState.PENDING_OUT.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    out_decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    out_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    in_decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    in_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    __table_args__ = (
        Index("ix_transfer_from_state_id", "from_unit_id", "state", "id"),
        Index("ix_transfer_to_state_id", "to_unit_id", "state", "id"),
        Index("ix_transfer_person", "person_id", "state"),
        # At most one pending transfer per person.
        Index("uq_transfer_pending", "person_id", unique=True,
              sqlite_where=state.in_(PENDING_TRANSFER_STATES), postgresql_where=state.in_(PENDING_TRANSFER_STATES)),
    )

    @property
    def state_label(self):
        return TRANSFER_STATE_LABELS[TransferState(self.state)]

    def __repr__(self) -> str:
        return f"Transfer {self.id}"


class IdentityCorrection(_Decided, Model):
    """P7 / S3: a request to correct the name or 证件号 of an account, decided by support staff."""

    __tablename__ = "identity_correction"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False)
    user: Mapped[Account] = relationship(Account, foreign_keys=[user_id])
    old_name: Mapped[str] = mapped_column(String(30), nullable=False)
    old_id_number: Mapped[str] = mapped_column(String(20), nullable=False)
    new_name: Mapped[str] = mapped_column(String(30), nullable=False)
    new_id_number: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str | None] = mapped_column(String(200))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))

    __table_args__ = (
        Index("ix_identity_correction_state_id", "state", "id"),
        Index("uq_identity_correction_pending", "user_id", unique=True,
              sqlite_where=text("state = 'pending'"), postgresql_where=text("state = 'pending'")),
    )

    @property
    def state_label(self):
        return CHANGE_STATE_LABELS[ChangeState(self.state)]

    def __repr__(self) -> str:
        return f"IdentityCorrection {self.id}"


class OrgChangeState(str, enum.Enum):
    PENDING = "pending"            # neither parent has decided
    PENDING_NEW = "pending_new"    # the old parent approved; the new parent has not decided
    PENDING_OLD = "pending_old"    # the new parent approved; the old parent has not decided
    APPROVED = "approved"          # applied
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


ORG_CHANGE_STATE_LABELS = {
    OrgChangeState.PENDING: _l("Awaiting both organisations above"),
    OrgChangeState.PENDING_NEW: _l("Awaiting the new organisation above"),
    OrgChangeState.PENDING_OLD: _l("Awaiting the current organisation above"),
    OrgChangeState.APPROVED: _l("Approved"),
    OrgChangeState.REJECTED: _l("Rejected"),
    OrgChangeState.WITHDRAWN: _l("Withdrawn"),
}
PENDING_ORG_CHANGE_STATES = (OrgChangeState.PENDING.value, OrgChangeState.PENDING_NEW.value,
                             OrgChangeState.PENDING_OLD.value)


class OrgChange(Model):
    """U2 / D2: a change of an org's credit code or parent; the old parent AND the new parent approve
    (for a credit-code change alone both are the current parent)."""

    __tablename__ = "org_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    org: Mapped[Org] = relationship(Org, foreign_keys=[org_id])
    old_parent_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    old_parent: Mapped[Org] = relationship(Org, foreign_keys=[old_parent_id])
    new_parent_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    new_parent: Mapped[Org] = relationship(Org, foreign_keys=[new_parent_id])
    old_credit_code: Mapped[str | None] = mapped_column(String(18))
    new_credit_code: Mapped[str | None] = mapped_column(String(18))
    note: Mapped[str | None] = mapped_column(String(200))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=OrgChangeState.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    old_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    new_decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_org_change_old_parent", "old_parent_id", "state"),
        Index("ix_org_change_new_parent", "new_parent_id", "state"),
        Index("uq_org_change_pending", "org_id", unique=True,
              sqlite_where=state.in_(PENDING_ORG_CHANGE_STATES),
              postgresql_where=state.in_(PENDING_ORG_CHANGE_STATES)),
    )

    @property
    def state_label(self):
        return ORG_CHANGE_STATE_LABELS[OrgChangeState(self.state)]

    def __repr__(self) -> str:
        return f"OrgChange {self.id}"


class OrgRole(Model):
    """U3 / D3 / H2: a role an org's super admin defines for its own admins by ticking permission modules
    (app.workflows.admins.MODULES). It never reaches outside its org nor grants more than its creator holds."""

    __tablename__ = "org_role"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    org: Mapped[Org] = relationship(Org)
    name: Mapped[str] = mapped_column(String(30), nullable=False)
    modules_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())

    __table_args__ = (Index("ix_org_role_org", "org_id", "name"),)

    @property
    def modules(self) -> list[str]:
        return json.loads(self.modules_json or "[]")

    def __repr__(self) -> str:
        return self.name


class ChangeAttachment(Model):
    """Evidence file of a change request (title change, identity correction), stored outside static."""

    __tablename__ = "change_attachment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(30), nullable=False)  # "title_change", "identity_correction"
    owner_id: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(String(120), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())

    __table_args__ = (Index("ix_change_attachment_owner", "owner_type", "owner_id"),)
