"""Batch imports (U9 / D6 / H5): one row per uploaded file, kept with the file for audit."""
from __future__ import annotations

import datetime
import enum

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .account import Account
from .org import Org


class ImportState(str, enum.Enum):
    CHECKING = "checking"        # the file is being read and every row checked
    CHECKED = "checked"          # the preview: every row's problems, nothing written yet
    IMPORTING = "importing"      # the rows are being written (one transaction)
    DONE = "done"                # written: exactly the valid rows, or all of them
    REFUSED = "refused"          # nothing written: the file is unreadable, or all-or-nothing and a row failed
    INTERRUPTED = "interrupted"  # the worker stopped half way: nothing written (the transaction never committed)

    @property
    def label(self):
        return IMPORT_STATE_LABELS[self]


IMPORT_STATE_LABELS = {
    ImportState.CHECKING: _l("Checking"),
    ImportState.CHECKED: _l("Checked, not imported yet"),
    ImportState.IMPORTING: _l("Importing"),
    ImportState.DONE: _l("Imported"),
    ImportState.REFUSED: _l("Nothing imported"),
    ImportState.INTERRUPTED: _l("Interrupted, nothing imported"),
}


class ImportMode(str, enum.Enum):
    ALL_OR_NOTHING = "all"      # any failed row: nothing is written
    VALID_ROWS = "valid"        # the valid rows are written, the failed ones reported

    @property
    def label(self):
        return IMPORT_MODE_LABELS[self]


IMPORT_MODE_LABELS = {
    ImportMode.ALL_OR_NOTHING: _l("Only if every row is valid (otherwise nothing is imported)"),
    ImportMode.VALID_ROWS: _l("Import the valid rows, report the others"),
}


class ImportBatch(Model):
    """An uploaded staff file: who, for which org, the stored file, the preview's and the result's figures and
    every failed row with its reasons (JSON: [[row number, [reason, ...], {column: value}], ...])."""

    __tablename__ = "import_batch"
    __table_args__ = (Index("ix_import_batch_org_id", "org_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("org.id"), nullable=False)  # the importing admin's org
    org: Mapped[Org] = relationship()
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False)
    user: Mapped[Account] = relationship()
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), nullable=False)
    locale: Mapped[str] = mapped_column(String(10), nullable=False, default="zh")
    file_name: Mapped[str] = mapped_column(String(200), nullable=False)
    stored_name: Mapped[str] = mapped_column(String(80), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    mode: Mapped[str] = mapped_column(String(10), nullable=False, default=ImportMode.ALL_OR_NOTHING.value)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=ImportState.CHECKING.value)
    job_id: Mapped[str | None] = mapped_column(String(64))
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    valid_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    existing_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # already there: left alone
    created_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str | None] = mapped_column(String(500))  # the file-level problem, or why nothing was written
    problems_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    @property
    def state_label(self):
        return ImportState(self.state).label

    @property
    def running(self) -> bool:
        """Being checked or written (by a request, or by a worker the page watches)."""
        return self.state in (ImportState.CHECKING.value, ImportState.IMPORTING.value)

    @property
    def mode_label(self):
        return ImportMode(self.mode).label

    def __repr__(self) -> str:
        return f"<ImportBatch {self.id} {self.file_name} {self.state}>"
