"""The organization tree: HR bureaus, competent departments, units (with sub-units), training bases."""
from __future__ import annotations

import datetime
import enum

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship


class OrgKind(str, enum.Enum):
    HR_CITY = "hr_city"
    HR_DISTRICT = "hr_district"
    DEPARTMENT = "department"
    UNIT = "unit"
    BASE = "base"

    @property
    def label(self):
        return ORG_KIND_LABELS[self]


ORG_KIND_LABELS = {
    OrgKind.HR_CITY: _l("City HR bureau"),
    OrgKind.HR_DISTRICT: _l("District HR bureau"),
    OrgKind.DEPARTMENT: _l("Competent department"),
    OrgKind.UNIT: _l("Employer unit"),
    OrgKind.BASE: _l("Training base"),
}

# Which kinds of org may sit directly above an org of a kind (and so review its registration).
ALLOWED_PARENTS = {
    OrgKind.HR_CITY: (),
    OrgKind.HR_DISTRICT: (OrgKind.HR_CITY,),
    OrgKind.DEPARTMENT: (OrgKind.HR_CITY, OrgKind.HR_DISTRICT),
    OrgKind.UNIT: (OrgKind.DEPARTMENT, OrgKind.UNIT, OrgKind.HR_DISTRICT, OrgKind.HR_CITY),
    OrgKind.BASE: (OrgKind.HR_CITY, OrgKind.HR_DISTRICT),
}


class OrgState(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"  # deleted (a sub-unit) or merged into another org (S4); kept for the history


class Region(Model):
    """Administrative region (city, district) that standards and HR bureaus belong to."""

    __tablename__ = "region"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    parent: Mapped[Region | None] = relationship(remote_side=[id])
    # Review levels of hour declarations: 3 = unit → department → HR, 2 = unit → HR, 1 = unit only.
    declaration_levels: Mapped[int] = mapped_column(Integer, nullable=False, default=3, server_default="3")

    def __repr__(self) -> str:
        return self.name


class Org(Model):
    __tablename__ = "org"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    credit_code: Mapped[str | None] = mapped_column(String(18))
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    region: Mapped[Region | None] = relationship()
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"))
    parent: Mapped[Org | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    # Materialised path "/1/5/23/": the subtree of an org is every org whose path starts with its own.
    path: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=OrgState.PENDING.value)
    nature: Mapped[str | None] = mapped_column(String(30))
    industry: Mapped[str | None] = mapped_column(String(30))
    phone: Mapped[str | None] = mapped_column(String(30))
    address: Mapped[str | None] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(30))
    description: Mapped[str | None] = mapped_column(Text)
    # S4: the org this one was merged into (state closed).
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"))
    # S4: the credit code is a temporary one issued by support staff.
    temporary_code: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now, server_default=func.now())

    __table_args__ = (
        # varchar_pattern_ops lets PostgreSQL use the index for the subtree test `path LIKE '/1/5/%'`
        # whatever the database collation.
        Index("ix_org_path", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
        Index("ix_org_kind_state_name", "kind", "state", "name"),
        Index("ix_org_parent", "parent_id"),
        Index(
            "uq_org_credit_code_live",
            "credit_code",
            unique=True,
            sqlite_where=state.in_(["pending", "active"]),
            postgresql_where=state.in_(["pending", "active"]),
        ),
    )

    @property
    def kind_label(self):
        return ORG_KIND_LABELS[OrgKind(self.kind)]

    @property
    def state_label(self):
        return ORG_STATE_LABELS[OrgState(self.state)]

    def __repr__(self) -> str:
        return self.name


ORG_STATE_LABELS = {
    OrgState.PENDING: _l("Pending review"),
    OrgState.ACTIVE: _l("Active"),
    OrgState.REJECTED: _l("Rejected"),
    OrgState.WITHDRAWN: _l("Withdrawn"),
    OrgState.CLOSED: _l("Closed"),
}
