"""Accounts (one per person, login by 证件号), role memberships bound to an org, and the person profile."""
from __future__ import annotations

import datetime
import enum

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, false, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..validators import mask_id_number
from .org import Org


class RoleName(str, enum.Enum):
    """A role a membership grants; the value is also the FAB role name (never translated)."""

    PROFESSIONAL = "Professional"
    UNIT_ADMIN = "UnitAdmin"
    DEPT_ADMIN = "DeptAdmin"
    HR_ADMIN = "HRAdmin"
    BASE_ADMIN = "BaseAdmin"
    SUPPORT = "Support"
    SYSADMIN = "SysAdmin"
    AUDITOR = "Auditor"

    @property
    def label(self):
        return ROLE_LABELS[self]


ROLE_LABELS = {
    RoleName.PROFESSIONAL: _l("Professional"),
    RoleName.UNIT_ADMIN: _l("Unit administrator"),
    RoleName.DEPT_ADMIN: _l("Department administrator"),
    RoleName.HR_ADMIN: _l("HR bureau administrator"),
    RoleName.BASE_ADMIN: _l("Training base administrator"),
    RoleName.SUPPORT: _l("Support staff"),
    RoleName.SYSADMIN: _l("System administrator"),
    RoleName.AUDITOR: _l("Auditor"),
}

# Roles whose scope is the whole platform rather than an org subtree.
GLOBAL_ROLES = {RoleName.SUPPORT, RoleName.SYSADMIN, RoleName.AUDITOR}


class Account(User):
    """FAB's ab_user with the fields this platform needs. username holds the normalised 证件号."""

    __tablename__ = "ab_user"
    id_type: Mapped[str | None] = mapped_column(String(20), default="resident_id")
    mobile: Mapped[str | None] = mapped_column(String(20))
    must_change_password: Mapped[bool | None] = mapped_column(Boolean, default=False)
    # Every session issued before this instant is void (logout, password change, reset, deactivation).
    sessions_valid_after: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    @property
    def name(self) -> str:
        return self.first_name


class MembershipState(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    REVOKED = "revoked"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


MEMBERSHIP_STATE_LABELS = {
    MembershipState.PENDING: _l("Pending review"),
    MembershipState.ACTIVE: _l("Active"),
    MembershipState.REVOKED: _l("Revoked"),
    MembershipState.REJECTED: _l("Rejected"),
    MembershipState.WITHDRAWN: _l("Withdrawn"),
}


class Membership(Model):
    """One role held by an account in one org (org is empty for platform-wide roles)."""

    __tablename__ = "membership"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False)
    user: Mapped[Account] = relationship(Account, foreign_keys=[user_id])
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"))
    org: Mapped[Org | None] = relationship(Org)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=MembershipState.PENDING.value)
    is_super: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # An admin with an org-defined role (U3) reaches only that role's modules; none: the org's full admin set.
    org_role_id: Mapped[int | None] = mapped_column(ForeignKey("org_role.id"))
    org_role = relationship("OrgRole")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now, server_default=func.now())

    __table_args__ = (
        Index("ix_membership_user_role", "user_id", "role", "state"),
        Index("ix_membership_org_role", "org_id", "role", "state"),
        Index("ix_membership_role_state", "role", "state"),  # the system administrator's counts per role
    )

    @property
    def role_label(self):
        return ROLE_LABELS[RoleName(self.role)]

    @property
    def state_label(self):
        return MEMBERSHIP_STATE_LABELS[MembershipState(self.state)]

    def __repr__(self) -> str:
        org = f" @ {self.org.name}" if self.org_id else ""
        return f"{self.role_label}{org}"


class Person(Model):
    """A professional's profile (专业技术人员信息)."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), unique=True, nullable=False)
    user: Mapped[Account] = relationship(Account)
    name: Mapped[str] = mapped_column(String(30), nullable=False)
    id_number: Mapped[str] = mapped_column(String(20), nullable=False)
    gender: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[datetime.date | None] = mapped_column(Date)
    ethnicity: Mapped[str | None] = mapped_column(String(20))
    native_place: Mapped[str | None] = mapped_column(String(50))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"))
    unit: Mapped[Org | None] = relationship(Org)
    department: Mapped[str | None] = mapped_column(String(50))
    education: Mapped[str | None] = mapped_column(String(20))
    school: Mapped[str | None] = mapped_column(String(60))
    major: Mapped[str | None] = mapped_column(String(60))
    graduation_date: Mapped[datetime.date | None] = mapped_column(Date)
    degree: Mapped[str | None] = mapped_column(String(20))
    postdoc: Mapped[bool | None] = mapped_column(Boolean, default=False)
    admin_post: Mapped[str | None] = mapped_column(String(50))
    admin_level: Mapped[str | None] = mapped_column(String(20))
    title_series: Mapped[str | None] = mapped_column(String(30))
    title_level: Mapped[str | None] = mapped_column(String(10))
    title_name: Mapped[str | None] = mapped_column(String(50))
    title_date: Mapped[datetime.date | None] = mapped_column(Date)
    title_cert_no: Mapped[str | None] = mapped_column(String(50))
    vocational_qualifications: Mapped[str | None] = mapped_column(Text)
    academic_titles: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now, server_default=func.now())
    # Staff (an active Professional membership): kept by database triggers on membership and person (migration
    # a1b2c3d4e5f7), never written by the application; the staff list's filter and its partial indexes.
    is_staff: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())

    __table_args__ = (
        Index("ix_person_unit_name", "unit_id", "name"), Index("ix_person_id_number", "id_number"),
        Index("ix_person_staff_unit", "unit_id", "id", postgresql_where=text("is_staff"), sqlite_where=text("is_staff")),
        Index("ix_person_staff_name", "name", "id", postgresql_where=text("is_staff"), sqlite_where=text("is_staff")),
        *(Index(f"ix_person_staff_{prefix}{column}_prefix", *scope, column,
                postgresql_ops={column: "varchar_pattern_ops"}, postgresql_where=text("is_staff"),
                sqlite_where=text("is_staff"))
          for column in ("name", "department", "title_series", "title_level")
          for prefix, scope in (("", ()), ("unit_", ("unit_id",)))),
    )

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    def __repr__(self) -> str:
        return self.name


class LoginThrottle(Model):
    """Failed-login counter per login name (kept for unknown names too, so every answer looks alike)."""

    __tablename__ = "login_throttle"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)


class CaptchaChallenge(Model):
    """A captcha shown once: the server keeps an HMAC of the answer and deletes the row at the first answer, right
    or wrong, so a replayed cookie names a challenge that no longer exists. Shared by every worker and node."""

    __tablename__ = "captcha_challenge"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False, index=True)
