"""Large exports (X7 through the task queue): one row per export a worker writes, kept with its file for a while."""
from __future__ import annotations

import datetime
import enum

from flask_appbuilder import Model
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column


class ExportState(str, enum.Enum):
    WRITING = "writing"          # queued, or being written by a worker
    DONE = "done"                # the file is ready to download (until it expires)
    FAILED = "failed"            # the export could not be made (the message says why); no file
    INTERRUPTED = "interrupted"  # the worker stopped before the end; no file
    EXPIRED = "expired"          # the file was kept its time and removed

    @property
    def label(self):
        return EXPORT_STATE_LABELS[self]


EXPORT_STATE_LABELS = {
    ExportState.WRITING: _l("Being written"),
    ExportState.DONE: _l("Ready to download"),
    ExportState.FAILED: _l("Not made"),
    ExportState.INTERRUPTED: _l("Interrupted"),
    ExportState.EXPIRED: _l("Expired, file removed"),
}


class ExportJob(Model):
    """An export too big for a web request (a list's .xlsx, or a batch of certificates as a .zip of PDFs): its own
    export address (path and query, replayed by the worker as the person who asked, with their rights at that
    moment), who asked and as which membership (and delegation), the session's login time (a session ended since,
    by a password change or "log out everywhere", stops the export), and the result: rows (or certificates), the
    stored file and its size."""

    __tablename__ = "export_job"
    __table_args__ = (Index("ix_export_job_membership_id", "membership_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id"), nullable=False)
    delegation_id: Mapped[int | None] = mapped_column(Integer)
    auth_at: Mapped[float] = mapped_column(Float, nullable=False)
    locale: Mapped[str] = mapped_column(String(10), nullable=False, default="zh")
    ip: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False, default="xlsx", server_default="xlsx")  # xlsx | zip
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default=ExportState.WRITING.value)
    job_id: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    stored_name: Mapped[str | None] = mapped_column(String(80))
    file_name: Mapped[str | None] = mapped_column(String(250))
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=datetime.datetime.now,
                                                          server_default=func.now())
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    @property
    def state_label(self):
        return ExportState(self.state).label

    @property
    def is_certificates(self) -> bool:
        """A batch of certificates (a .zip of PDFs, one per person) rather than a list's sheet."""
        return self.kind == "zip"

    @property
    def count_text(self) -> str:
        return (gettext("%(n)s certificates", n="{:,}".format(self.rows)) if self.is_certificates
                else gettext("%(n)s rows", n="{:,}".format(self.rows)))

    @property
    def running(self) -> bool:
        return self.state == ExportState.WRITING.value

    def __repr__(self) -> str:
        return f"<ExportJob {self.id} {self.title} {self.state}>"
