"""The staff tally behind the distribution statistics (机构人员统计, 职称, 行业, 职(执)业资格): counts of staff kept by
database triggers on person and org (migration b7c8d9e0f1a2), never written by the application."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

STAFF = "staff"  # value and value2 '': the staff of the subtree of the org (itself included)
TITLE = "title"  # value: title series, value2: title level (each '' when not filled in); orgs: each ancestor-or-self
QUALIFICATION = "qual"  # value: one 职(执)业资格 of the person (value2 ''); orgs: each ancestor-or-self
OWN = "own"  # value and value2 '': the org's own staff (person.unit_id is the org), for per-unit figures


class StaffTally(Model):
    """How many staff (person.is_staff) of the subtree of `org_id` have a dimension's value; the OWN dimension
    counts the org's own staff only."""

    __tablename__ = "staff_tally"
    org_id: Mapped[int] = mapped_column(Integer, ForeignKey("org.id"), primary_key=True)
    dim: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    value2: Mapped[str] = mapped_column(String(30), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (
        Index("ix_staff_tally_own", "org_id", postgresql_include=["n"], postgresql_where=text("dim = 'own'"),
              sqlite_where=text("dim = 'own'")),
    )

    def __repr__(self) -> str:
        return f"{self.org_id} {self.dim} {self.value} {self.value2}: {self.n}"
