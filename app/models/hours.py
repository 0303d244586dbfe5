"""Continuing-education hours: yearly standards, the learning-form catalogue, declarations (state machine 4),
base-reported hours (state machine 6), credited hour records with a per-person-per-year summary, certificates."""
from __future__ import annotations

import datetime
import enum
import json
from decimal import Decimal

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint,
                        func)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .account import Account, Person
from .org import Org, Region

HOURS = Numeric(7, 1)


class Subject(str, enum.Enum):
    PUBLIC = "public"
    PROFESSIONAL = "professional"

    @property
    def label(self):
        return SUBJECT_LABELS[self]


SUBJECT_LABELS = {Subject.PUBLIC: _l("Public subjects"), Subject.PROFESSIONAL: _l("Professional subjects")}

FORM_GROUPS = {
    "training": _l("Training"),
    "achievement": _l("Achievements"),
    "paper": _l("Papers and books"),
    "exam": _l("Examinations"),
    "degree": _l("Degree education"),
    "online": _l("Online learning"),
}


class AnnualStandard(Model):
    """The yearly pass mark of a region (or of every region when region is empty), edited by the HR bureau."""

    __tablename__ = "annual_standard"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    region: Mapped[Region | None] = relationship()
    public_min: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    professional_min: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    total_min: Mapped[Decimal] = mapped_column(HOURS, nullable=False)

    __table_args__ = (UniqueConstraint("year", "region_id", name="uq_standard_year_region"),)

    def __repr__(self) -> str:
        return f"{self.year}"


class LearningForm(Model):
    """学习形式: what a declaration of this form asks for and how many hours it may give."""

    __tablename__ = "learning_form"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    group: Mapped[str] = mapped_column(String(20), nullable=False)
    # JSON list of field keys from app.workflows.declaration.FIELDS
    fields_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    hour_rule: Mapped[str | None] = mapped_column(String(200))
    max_hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False)  # cap of one declaration
    year_cap: Mapped[Decimal | None] = mapped_column(HOURS)  # cap of all declarations of the form in a year
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    @property
    def fields(self) -> list[str]:
        return json.loads(self.fields_json or "[]")

    @property
    def group_label(self):
        return FORM_GROUPS.get(self.group, self.group)

    def __repr__(self) -> str:
        return self.name


class DeclarationState(str, enum.Enum):
    DRAFT = "draft"
    PENDING_UNIT = "pending_unit"
    PENDING_DEPT = "pending_dept"
    PENDING_HR = "pending_hr"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self):
        return DECLARATION_STATE_LABELS[self]


DECLARATION_STATE_LABELS = {
    DeclarationState.DRAFT: _l("Not submitted"),
    DeclarationState.PENDING_UNIT: _l("Waiting for the unit"),
    DeclarationState.PENDING_DEPT: _l("Waiting for the department"),
    DeclarationState.PENDING_HR: _l("Waiting for the HR bureau"),
    DeclarationState.APPROVED: _l("Approved"),
    DeclarationState.REJECTED: _l("Rejected"),
}


class Declaration(Model):
    """学时申报 (P8): hours a professional declares, reviewed along the org chain."""

    __tablename__ = "declaration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    person: Mapped[Person] = relationship()
    unit_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    unit: Mapped[Org] = relationship(foreign_keys=[unit_id])
    reviewer_org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id"))
    reviewer_org: Mapped[Org | None] = relationship(foreign_keys=[reviewer_org_id])
    subject: Mapped[str] = mapped_column(String(20), nullable=False)
    form_id: Mapped[int] = mapped_column(ForeignKey("learning_form.id"), nullable=False)
    form: Mapped[LearningForm] = relationship()
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    start_date: Mapped[datetime.date | None] = mapped_column(Date)
    end_date: Mapped[datetime.date | None] = mapped_column(Date)
    details_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=DeclarationState.DRAFT.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    submitted_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_declaration_person_state", "person_id", "state", "id"),
        # Queues and pending counts are index-only scans: a wide scope by state, a narrow one by reviewer org;
        # person_id is included for the "not one's own declaration" test, subject and title for the queue's filter
        # and search (the city's 50,000 pending rows were read from the table to find 20 matching titles).
        Index("ix_declaration_state_id", "state", "id",
              postgresql_include=["reviewer_org_id", "person_id", "subject", "title"]),
        # a queue filtered by the counted year reads that year's pending rows only (the city's 50,000 pending of
        # five years were read to find 20 of one year)
        Index("ix_declaration_state_year_id", "state", "year", "id", postgresql_include=["reviewer_org_id",
                                                                                          "person_id"]),
        Index("ix_declaration_reviewer_state_id", "reviewer_org_id", "state", "id",
              postgresql_include=["person_id"]),
    )

    @property
    def details(self) -> dict:
        return json.loads(self.details_json or "{}")

    @property
    def state_label(self):
        return DECLARATION_STATE_LABELS[DeclarationState(self.state)]

    @property
    def subject_label(self):
        return SUBJECT_LABELS[Subject(self.subject)]

    def __repr__(self) -> str:
        return self.title


class Attachment(Model):
    """Evidence file of a declaration, stored outside static under UPLOAD_FOLDER."""

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    declaration_id: Mapped[int] = mapped_column(ForeignKey("declaration.id", ondelete="CASCADE"), nullable=False)
    filename: Mapped[str] = mapped_column(String(120), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    content_type: Mapped[str] = mapped_column(String(40), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())

    __table_args__ = (Index("ix_attachment_declaration", "declaration_id"),)


class BaseReportState(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class BaseReport(Model):
    """施教机构申报 (B2): a training base reports hours for a list of trainees; the HR bureau reviews."""

    __tablename__ = "base_report"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    base: Mapped[Org] = relationship(foreign_keys=[base_id])
    reviewer_org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)
    reviewer_org: Mapped[Org] = relationship(foreign_keys=[reviewer_org_id])
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    subject: Mapped[str] = mapped_column(String(20), nullable=False)
    form_id: Mapped[int] = mapped_column(ForeignKey("learning_form.id"), nullable=False)
    form: Mapped[LearningForm] = relationship()
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    start_date: Mapped[datetime.date | None] = mapped_column(Date)
    end_date: Mapped[datetime.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=BaseReportState.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    lines: Mapped[list["BaseReportLine"]] = relationship(back_populates="report", order_by="BaseReportLine.id")

    __table_args__ = (Index("ix_base_report_reviewer_state_id", "reviewer_org_id", "state", "id"),)

    @property
    def subject_label(self):
        return SUBJECT_LABELS[Subject(self.subject)]


class BaseReportLine(Model):
    __tablename__ = "base_report_line"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("base_report.id", ondelete="CASCADE"), nullable=False)
    report: Mapped[BaseReport] = relationship(back_populates="lines")
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    person: Mapped[Person] = relationship()
    hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False)

    __table_args__ = (Index("ix_base_report_line_person", "person_id"),
                      UniqueConstraint("report_id", "person_id", name="uq_base_report_line"))


class HourRecord(Model):
    """One credited piece of learning (继续教育历程明细): from an approved declaration, a base report or a class."""

    __tablename__ = "hour_record"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    subject: Mapped[str] = mapped_column(String(20), nullable=False)
    hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    form_id: Mapped[int | None] = mapped_column(ForeignKey("learning_form.id"))
    form: Mapped[LearningForm | None] = relationship()
    title: Mapped[str] = mapped_column(String(100), nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)  # declaration | base | online
    source_id: Mapped[int] = mapped_column(Integer, nullable=False)
    provider: Mapped[str | None] = mapped_column(String(100))
    credited_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                           server_default=func.now())

    __table_args__ = (Index("ix_hour_record_person_year", "person_id", "year"),
                      UniqueConstraint("source", "source_id", "person_id", name="uq_hour_record_source"))

    @property
    def subject_label(self):
        return SUBJECT_LABELS[Subject(self.subject)]


class YearSummary(Model):
    """Per person and year: the sums of credited hours, kept in the same transaction as the records."""

    __tablename__ = "year_summary"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False, default=0)
    professional_hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False, default=0)


class Certificate(Model):
    """A printed 年度结业证书 or 学时登记表 with its number and verification code (X6)."""

    __tablename__ = "certificate"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    verify_code: Mapped[str] = mapped_column(String(12), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)  # completion | register
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    person: Mapped[Person] = relationship()
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    public_hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    professional_hours: Mapped[Decimal] = mapped_column(HOURS, nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    issued_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                         server_default=func.now())
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    issued_by: Mapped[Account | None] = relationship()

    __table_args__ = (UniqueConstraint("person_id", "year", "kind", name="uq_certificate_person_year_kind"),)
