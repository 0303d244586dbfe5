"""The staff tally behind the distribution statistics (机构人员统计, 职称, 行业, 职(执)业资格): counts of staff kept by
database triggers on person and org (migration b7c8d9e0f1a2), never written by the application.

Its yearly snapshots (年度统计快照, StaffTallyYear): memberships keep no history, so the staff of a past year cannot be
counted again; the tally as it stood when the year ended is copied once a year (app.workflows.stat_snapshots) and the
pages of a past year read that copy."""
from __future__ import annotations

import datetime

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, text
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


# The snapshot's own dimensions, beside the tally's four (STAFF, TITLE, QUALIFICATION, OWN, copied as they stood):
CHILD = "child"  # under the parent org: value the child's id, value2 its state then (active or closed), n 1
BELOW = "below"  # value: an org kind (department, unit, base): the active orgs of that kind strictly below the org
INDUSTRY_STAFF = "ind"  # value: an industry ('' not filled in): the own staff of the subtree's orgs of it (itself incl.)
INDUSTRY_UNITS = "ind_unit"  # value: an industry: the active units of it in the subtree (itself included)


class StaffTallyYear(Model):
    """The staff tally (and the org counts of the orgs page) of the end of `year`: one row per org, dimension
    and value, as StaffTally; rows of a zero count are not kept. Replaced whole when the year is taken again."""

    __tablename__ = "staff_tally_year"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    # no foreign key: the history stays when an org is deleted (its rows are then never read)
    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dim: Mapped[str] = mapped_column(String(10), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    value2: Mapped[str] = mapped_column(String(30), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"{self.year} {self.org_id} {self.dim} {self.value} {self.value2}: {self.n}"


class StaffTallySnapshot(Model):
    """That the snapshot of `year` exists, and when it was taken (the platform's wall clock)."""

    __tablename__ = "staff_tally_snapshot"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    taken_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"snapshot {self.year} ({self.taken_at:%Y-%m-%d %H:%M})"
