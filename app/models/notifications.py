"""Notifications (X2) and review reminders (X3).

A `Notification` is one message to one account about one event: shown in the platform (the bell, the list) and,
unless the person turned e-mail off, delivered by e-mail. It is written in the same transaction as the state
change it tells of; its e-mail columns are the outbox a worker delivers from (pending -> sent, exactly once).
`(user_id, event)` is unique: one event never notifies a person twice.

A `ReviewWait` is an item waiting in a review queue (the org whose admins decide it, since when): the periodic
job reminds those admins after N days and escalates to the org above after M days (the item shows "已催办").
"""
from __future__ import annotations

import datetime
import enum

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        text)
from sqlalchemy.orm import Mapped, mapped_column


class EmailState(str, enum.Enum):
    PENDING = "pending"    # to be delivered by the worker
    SENT = "sent"
    FAILED = "failed"      # gave up after MAX_ATTEMPTS
    SKIPPED = "skipped"    # e-mail off, or no usable address


class NotificationKind(str, enum.Enum):
    DECISION = "decision"      # a decision on the person's own item
    QUEUE = "queue"            # an item reached the reviewer's queue
    REMINDER = "reminder"      # an item has waited N days
    ESCALATION = "escalation"  # an item of the org below has waited M days
    COMPLETION = "completion"  # the person's year is not complete yet


KIND_LABELS = {
    NotificationKind.DECISION: _l("Decision"),
    NotificationKind.QUEUE: _l("Waiting for review"),
    NotificationKind.REMINDER: _l("Reminder"),
    NotificationKind.ESCALATION: _l("Escalated"),
    NotificationKind.COMPLETION: _l("Annual hours"),
}


class Notification(Model):
    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    link: Mapped[str | None] = mapped_column(String(300))  # a path of the platform ("/hours/12")
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(120), nullable=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    read_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    # the outbox of its e-mail
    email_to: Mapped[str | None] = mapped_column(String(256))
    email_state: Mapped[str] = mapped_column(String(10), nullable=False, default=EmailState.PENDING.value)
    email_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    email_sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("user_id", "event", name="uq_notification_user_event"),
        # the bell: COUNT(*) WHERE user_id = ? AND read_at IS NULL, and the list, newest first
        Index("ix_notification_user_read_id", "user_id", "read_at", "id"),
        # the delivery sweep reads the pending e-mails only
        Index("ix_notification_email_pending", "id", postgresql_where=text("email_state = 'pending'"),
              sqlite_where=text("email_state = 'pending'")),
    )

    @property
    def kind_label(self):
        try:
            return KIND_LABELS[NotificationKind(self.kind)]
        except ValueError:
            return self.kind

    def __repr__(self) -> str:
        return f"<Notification {self.id} to {self.user_id}: {self.title}>"


class NotificationPref(Model):
    """A person's choice of e-mail notifications (no row: on)."""

    __tablename__ = "notification_pref"
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    email_on: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return f"<NotificationPref {self.user_id}: e-mail {'on' if self.email_on else 'off'}>"


class ReviewWait(Model):
    """An item waiting for the admins of `org_id` (role `role`, queue view `view_name`) since `since`."""

    __tablename__ = "review_wait"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(40), nullable=False)
    object_id: Mapped[int] = mapped_column(Integer, nullable=False)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("org.id", ondelete="CASCADE"))  # None: platform-wide
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    view_name: Mapped[str] = mapped_column(String(60), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)  # what the reminder names
    link: Mapped[str | None] = mapped_column(String(300))
    since: Mapped[datetime.datetime] = mapped_column(DateTime, nullable=False)
    escalated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("org.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("object_type", "object_id", "org_id", name="uq_review_wait_item_org"),
        Index("ix_review_wait_since", "since"),
    )

    def __repr__(self) -> str:
        return f"<ReviewWait {self.object_type} {self.object_id} at org {self.org_id} since {self.since}>"


class ReminderSetting(Model):
    """X3, set by the HR bureau per kind of the org an item waits at: remind its admins after `remind_days`, escalate
    to the org above after `escalate_days` (empty: never)."""

    __tablename__ = "reminder_setting"
    org_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    remind_days: Mapped[int | None] = mapped_column(Integer)
    escalate_days: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"<ReminderSetting {self.org_kind}: remind {self.remind_days}, escalate {self.escalate_days}>"


class CompletionReminder(Model):
    """X3: on `remind_on` (set by the HR bureau) professionals whose `year` is not complete are told what is
    missing."""

    __tablename__ = "completion_reminder"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    remind_on: Mapped[datetime.date] = mapped_column(Date, nullable=False)
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)

    def __repr__(self) -> str:
        return f"<CompletionReminder {self.year} on {self.remind_on}>"
