"""B1 / state machine 6: a training base's annual training plan (年度培训计划) and annual work report (年度工作报告),
each filed for a year and reviewed by the HR bureau above the base (待审核 → 通过 | 驳回 with a reason)."""
from __future__ import annotations

import datetime
import enum
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .hours import HOURS
from .org import Org


class FilingKind(str, enum.Enum):
    PLAN = "plan"      # 年度培训计划: what the base plans for the year
    REPORT = "report"  # 年度工作报告: what it did in the year

    @property
    def label(self):
        return FILING_KIND_LABELS[self]


FILING_KIND_LABELS = {FilingKind.PLAN: _l("Annual training plan"), FilingKind.REPORT: _l("Annual work report")}


class FilingState(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self):
        return FILING_STATE_LABELS[self]


FILING_STATE_LABELS = {FilingState.PENDING: _l("Pending review"), FilingState.APPROVED: _l("Approved"),
                       FilingState.REJECTED: _l("Rejected")}


class BaseFiling(Model):
    """One annual plan or annual report of a training base. The three figures read by kind: a plan's are the
    classes, trainees and hours per trainee it plans; a report's the classes held, the trainees trained and the
    hours granted in all. A rejected filing stays as it was; the base files a new one."""

    __tablename__ = "base_filing"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    base: Mapped[Org] = relationship(foreign_keys=[base_id])
    reviewer_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)  # the HR bureau above
    reviewer_org: Mapped[Org] = relationship(foreign_keys=[reviewer_org_id])
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    classes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    trainees: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False, default=0)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    # the optional attachment (PDF, Word or Excel, checked by content), stored outside static under UPLOAD_FOLDER
    file_name: Mapped[str | None] = mapped_column(String(120))
    stored_name: Mapped[str | None] = mapped_column(String(80))
    content_type: Mapped[str | None] = mapped_column(String(100))
    file_size: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=FilingState.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())

    __table_args__ = (
        Index("ix_base_filing_reviewer_state_id", "reviewer_org_id", "state", "id"),
        Index("ix_base_filing_base_year", "base_id", "year", "id"),
        # One plan and one report per base and year, unless rejected (then a new one is filed).
        Index("uq_base_filing_live", "base_id", "kind", "year", unique=True,
              sqlite_where=text("state <> 'rejected'"), postgresql_where=text("state <> 'rejected'")),
    )

    @property
    def kind_label(self):
        return FILING_KIND_LABELS[FilingKind(self.kind)]

    @property
    def state_label(self):
        return FILING_STATE_LABELS[FilingState(self.state)]

    def __repr__(self) -> str:
        return f"<BaseFiling {self.id} {self.kind} {self.year} base={self.base_id} {self.state}>"
