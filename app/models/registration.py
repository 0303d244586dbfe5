"""Registration requests (state machine 1 of the spec) for persons and orgs."""
from __future__ import annotations

import datetime
import enum

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .account import Account, Membership
from .org import ORG_KIND_LABELS, Org, OrgKind


class RegistrationState(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self):
        return REGISTRATION_STATE_LABELS[self]


REGISTRATION_STATE_LABELS = {
    RegistrationState.PENDING: _l("Pending review"),
    RegistrationState.APPROVED: _l("Approved"),
    RegistrationState.REJECTED: _l("Rejected"),
    RegistrationState.WITHDRAWN: _l("Withdrawn"),
}


class Registration(Model):
    """A request to join the platform: a person at a unit, or a new org under its parent.

    `kind` is "person" or an OrgKind value; `org` is the unit joined (person) or the org registered;
    `reviewer_org` is the org whose admins decide.
    """

    __tablename__ = "registration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False)
    user: Mapped[Account] = relationship(Account, foreign_keys=[user_id])
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), nullable=False)
    membership: Mapped[Membership] = relationship(Membership)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    org: Mapped[Org] = relationship(Org, foreign_keys=[org_id])
    reviewer_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    reviewer_org: Mapped[Org] = relationship(Org, foreign_keys=[reviewer_org_id])
    applicant_name: Mapped[str] = mapped_column(String(100), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=RegistrationState.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now, server_default=func.now())
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    decided_by: Mapped[Account | None] = relationship(Account, foreign_keys=[decided_by_id])

    __table_args__ = (
        Index("ix_registration_reviewer_state_id", "reviewer_org_id", "state", "id"),
        # Covering reviewer_org_id: a wide scope's pending count is an index-only scan; kind and applicant_name: the
        # queue's filter and search read the index, not the city's 50,000 pending rows.
        Index("ix_registration_state_id", "state", "id",
              postgresql_include=["reviewer_org_id", "kind", "applicant_name"]),
        Index("ix_registration_user", "user_id", "state"),
    )

    @property
    def state_label(self):
        return REGISTRATION_STATE_LABELS[RegistrationState(self.state)]

    @property
    def kind_label(self):
        if self.kind == "person":
            return _l("Professional")
        return ORG_KIND_LABELS[OrgKind(self.kind)]

    def __repr__(self) -> str:
        return f"{self.kind_label} {self.applicant_name}"
