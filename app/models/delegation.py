"""X9 delegation: an admin hands their review rights to another admin of the same org for a period."""
from __future__ import annotations

import datetime
import enum

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .account import Membership


class DelegationState(str, enum.Enum):
    ACTIVE = "active"    # in force from start_date to end_date (inclusive); after it, ended by itself
    REVOKED = "revoked"  # ended early by the delegator


class Delegation(Model):
    """The delegator's membership lends its rights (role, org, org-defined modules) to the deputy's membership of
    the same org and role from `start_date` to `end_date`, both included, unless revoked first."""

    __tablename__ = "delegation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delegator_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), nullable=False)
    delegator: Mapped[Membership] = relationship(Membership, foreign_keys=[delegator_id])
    deputy_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"), nullable=False)
    deputy: Mapped[Membership] = relationship(Membership, foreign_keys=[deputy_id])
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"), nullable=False)
    start_date: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    end_date: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    note: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=DelegationState.ACTIVE.value)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, default=datetime.datetime.now)
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_delegation_delegator", "delegator_id", "state", "end_date"),
        Index("ix_delegation_deputy", "deputy_id", "state", "end_date"),
    )

    def status(self, today: datetime.date) -> str:
        """active (in force today), scheduled, ended (past its end date) or revoked."""
        if self.state == DelegationState.REVOKED.value:
            return "revoked"
        if today > self.end_date:
            return "ended"
        return "scheduled" if today < self.start_date else "active"

    def in_force(self, today: datetime.date) -> bool:
        return self.status(today) == "active"

    def __repr__(self) -> str:
        return f"delegation {self.delegator_id} -> {self.deputy_id} {self.start_date}..{self.end_date}"


DELEGATION_STATUS_LABELS = {
    "active": _l("In force"),
    "scheduled": _l("Scheduled"),
    "ended": _l("Ended"),
    "revoked": _l("Revoked"),
}
