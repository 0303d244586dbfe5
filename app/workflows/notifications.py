"""X2 notifications: written in the transaction of the state change, shown in the platform, e-mailed by a worker.

The state machines say what a transition tells (`StateMachine.notify`: the applicant hears of a decision) and where
an item now waits (`StateMachine.waiting`: the org, the admin role and the queue's view); `record` turns both into
`Notification` rows (one per person and event, never two: a unique key) and keeps the item's `ReviewWait` (what
the reminders of X3 read). Nothing leaves the database inside the transaction: once it commits, the new rows'
e-mails are handed to the task queue (`deliver`), inline when there is no worker.

Delivery takes each row in a transaction of its own: a conditional UPDATE (pending -> sent) claims it and holds its
row lock while the SMTP server takes the message; the claim commits only once the server has accepted it. A row
whose delivery never happened (the process died after the commit, Redis lost the job) stays pending and the sweep
(`deliver_pending`, run by the scheduler and when a worker starts) sends it; a row already sent is never claimed
again, so a message is sent once however often the sweep runs.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from typing import Iterable

from flask import current_app, has_request_context, request
from flask_babel import gettext
from flask_mail import Message
from sqlalchemy import case, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from .. import clock
from ..authz import module_allows
from ..extensions import db, mail
from ..models import Account, Membership, MembershipState, Org
from ..models.notifications import EmailState, Notification, NotificationKind, NotificationPref, ReviewWait

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
PAGE_SIZE = 20
SWEEP_BATCH = 500
_PENDING_KEY = "notifications_to_deliver"


@dataclass
class Note:
    """One message to some accounts."""

    recipients: Iterable[Account]
    kind: NotificationKind
    title: str
    body: str
    link: str | None = None


@dataclass
class Waiting:
    """Where an item waits for a decision: the admins of `org` (or, with `org` None, every active holder of the
    platform-wide `role`) whose role opens `view_name`; `also` are more orgs whose admins decide it too (the units
    above a unit). `title` / `body` / `link` are the reviewers' message."""

    org: Org | None
    role: str
    view_name: str
    title: str
    body: str
    link: str | None = None
    exclude_user_id: int | None = None
    also: list[int] = field(default_factory=list)


# ---------------------------------------------------------------- who

def admins(org_ids: Iterable[int] | None, role: str, view_name: str,
           exclude_user_id: int | None = None) -> list[Account]:
    """The active `role` members of the orgs `org_ids` (None: platform-wide, any org) who may open `view_name`: an
    admin whose org-defined role (U3) lacks the module of the queue hears nothing of its items either."""
    stmt = (select(Membership).options(selectinload(Membership.user), selectinload(Membership.org_role))
            .where(Membership.role == role, Membership.state == MembershipState.ACTIVE.value))
    if org_ids is not None:
        stmt = stmt.where(Membership.org_id.in_(list(org_ids)))
    found = {}
    for m in db.session.scalars(stmt):
        if m.user_id != exclude_user_id and m.user.active and module_allows(m, view_name):
            found[m.user_id] = m.user
    return [found[k] for k in sorted(found)]


def email_on(user_id: int) -> bool:
    pref = db.session.get(NotificationPref, user_id)
    return pref is None or pref.email_on


def set_email(user_id: int, on: bool) -> None:
    """The person's choice of e-mail notifications, in one transaction."""
    pref = db.session.get(NotificationPref, user_id)
    if pref is None:
        db.session.add(NotificationPref(user_id=user_id, email_on=bool(on)))
    else:
        pref.email_on = bool(on)
    db.session.commit()


def _usable(address: str | None) -> bool:
    # RFC 2606 .invalid: a placeholder (an imported person without e-mail)
    return bool(address) and "@" in address and not address.lower().endswith(".invalid")


# ---------------------------------------------------------------- writing (inside the caller's transaction)

def write(notes: Iterable[Note], *, event: str, object_type: str | None = None,
          object_id: int | None = None) -> int:
    """Add one row per recipient of each note, in the caller's transaction; a (person, event) already notified is
    skipped (the unique key), so running the same event twice notifies nobody twice. Returns the rows added."""
    rows, seen = [], set()
    at = clock.now().replace(microsecond=0)
    for note in notes:
        accounts = [a for a in note.recipients if a is not None]
        if not accounts:
            continue
        prefs = dict(db.session.execute(select(NotificationPref.user_id, NotificationPref.email_on).where(
            NotificationPref.user_id.in_([a.id for a in accounts]))).all())
        key = f"{event}:{NotificationKind(note.kind).value}"[:120]
        for account in accounts:
            if (account.id, key) in seen:
                continue
            seen.add((account.id, key))
            mailed = prefs.get(account.id, True) and _usable(account.email)
            rows.append(dict(user_id=account.id, kind=NotificationKind(note.kind).value, title=str(note.title)[:200],
                             body=str(note.body), link=note.link, object_type=object_type, object_id=object_id,
                             event=key, created_at=at, email_to=account.email if mailed else None,
                             email_state=(EmailState.PENDING if mailed else EmailState.SKIPPED).value,
                             email_attempts=0))
    if not rows:
        return 0
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (dialect.insert(Notification).values(rows)
            .on_conflict_do_nothing(index_elements=["user_id", "event"])
            .returning(Notification.id, Notification.email_state))
    added = db.session.execute(stmt).all()
    db.session.info.setdefault(_PENDING_KEY, []).extend(
        i for i, state in added if state == EmailState.PENDING.value)
    return len(added)


def record(machine, item, transition, actor, key: str) -> None:
    """A machine's transition (or a row it opens): the notes of `machine.notify`, and, for a machine with queues,
    the reviewers where the item now waits, whose `ReviewWait` replaces the item's earlier one."""
    notes = list(machine.notify(item, transition, actor) or [])
    if machine.queues:
        waits = list(machine.waiting(item) or [])
        db.session.execute(ReviewWait.__table__.delete().where(
            ReviewWait.object_type == machine.object_type, ReviewWait.object_id == item.id))
        since = clock.now().replace(microsecond=0)
        for w in waits:
            db.session.add(ReviewWait(object_type=machine.object_type, object_id=item.id,
                                      org_id=w.org.id if w.org is not None else None, role=w.role,
                                      view_name=w.view_name, title=str(w.title)[:200], link=w.link, since=since))
            orgs = None if w.org is None else [w.org.id, *w.also]
            notes.append(Note(admins(orgs, w.role, w.view_name, w.exclude_user_id), NotificationKind.QUEUE,
                              w.title, w.body, w.link))
        if waits:
            db.session.flush()
    write(notes, event=f"{machine.object_type}:{item.id}:{key}", object_type=machine.object_type,
          object_id=item.id)


# ---------------------------------------------------------------- after the commit: hand the e-mails over

@event.listens_for(db.session, "after_commit")
def _after_commit(session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    if ids:
        dispatch(ids)


@event.listens_for(db.session, "after_soft_rollback")
def _after_rollback(session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_PENDING_KEY, None)


def dispatch(ids: list[int]) -> None:
    """Deliver the committed rows' e-mails: a job on the task queue, or now when jobs run inline. Never raises: a
    row not delivered stays pending for the sweep."""
    from .. import tasks

    try:
        if tasks.inline():
            deliver(ids)
        else:
            tasks.enqueue(deliver, list(ids), description="notification e-mails")
    except Exception:  # noqa: BLE001 - the decision is committed; the sweep delivers later
        log.exception("handing %d notification e-mails over failed", len(ids))


def _message(title: str, body: str, link: str | None) -> tuple[str, str]:
    text = body or ""
    if link:
        text += "\n\n" + current_app.config["PUBLIC_BASE_URL"].rstrip("/") + link
    return title, text


def deliver(ids: Iterable[int]) -> int:
    """Send the e-mails of these rows that are still pending; returns how many were sent. Each row is claimed by a
    conditional UPDATE in a transaction of its own that commits only once the SMTP server has the message."""
    sent = 0
    for notification_id in ids:
        with Session(db.engine) as s:
            row = s.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.email_state == EmailState.PENDING.value)
                .values(email_state=EmailState.SENT.value, email_sent_at=clock.now().replace(microsecond=0),
                        email_attempts=Notification.email_attempts + 1)
                .returning(Notification.email_to, Notification.title, Notification.body, Notification.link)
            ).first()
            if row is None:  # sent (or given up) already
                s.rollback()
                continue
            subject, text = _message(row.title, row.body, row.link)
            try:
                mail.send(Message(subject=subject, recipients=[row.email_to], body=text))
            except Exception:  # noqa: BLE001 - retried by the sweep, up to MAX_ATTEMPTS
                s.rollback()
                log.exception("notification e-mail %s to %s failed", notification_id,
                              (row.email_to or "").split("@")[-1])
                _failed(s, notification_id)
                continue
            s.commit()
            sent += 1
    return sent


def _failed(s: Session, notification_id: int) -> None:
    attempts = Notification.email_attempts + 1
    s.execute(update(Notification)
              .where(Notification.id == notification_id, Notification.email_state == EmailState.PENDING.value)
              .values(email_attempts=attempts,
                      email_state=case((attempts >= MAX_ATTEMPTS, EmailState.FAILED.value),
                                       else_=EmailState.PENDING.value)))
    s.commit()


def deliver_pending(limit: int = SWEEP_BATCH) -> int:
    """The sweep: deliver every e-mail still pending (a crash or a lost job left it), oldest first."""
    sent = 0
    while True:
        ids = list(db.session.scalars(select(Notification.id).where(
            Notification.email_state == EmailState.PENDING.value).order_by(Notification.id).limit(limit)))
        db.session.rollback()
        if not ids:
            return sent
        done = deliver(ids)
        sent += done
        if len(ids) < limit:
            return sent
        still = db.session.scalar(select(func.count()).select_from(
            select(Notification.id).where(Notification.id.in_(ids),
                                          Notification.email_state == EmailState.PENDING.value).subquery()))
        db.session.rollback()
        if still == len(ids):  # the SMTP server refuses everything: try again next time
            return sent


# ---------------------------------------------------------------- reading (the bell, the list)

def unread_count(user_id: int) -> int:
    """The bell: one COUNT on the (user_id, read_at, id) index, once per request."""
    if has_request_context():  # on the request, not on `g`: an app context may outlive one request
        cache = request.__dict__.setdefault("_unread_counts", {})
        if user_id not in cache:
            cache[user_id] = _count(user_id)
        return cache[user_id]
    return _count(user_id)


def _count(user_id: int) -> int:
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def page(user_id: int, page_no: int = 1, unread_only: bool = False) -> tuple[list[Notification], bool]:
    """A page of the person's own notifications, newest first; and whether there is a next page."""
    page_no = max(1, min(int(page_no or 1), 10_000))
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows = list(db.session.scalars(stmt.order_by(Notification.id.desc())
                                   .offset((page_no - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def mine(user_id: int, notification_id: int) -> Notification | None:
    row = db.session.get(Notification, notification_id) if 0 < notification_id < 2 ** 31 else None
    return row if row is not None and row.user_id == user_id else None


def mark_read(user_id: int, notification_id: int) -> Notification | None:
    """Mark one of the person's own notifications read; None when it is not theirs (or does not exist)."""
    row = mine(user_id, notification_id)
    if row is None:
        return None
    db.session.execute(update(Notification).where(
        Notification.id == row.id, Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now().replace(microsecond=0)).execution_options(synchronize_session=False))
    db.session.commit()
    return row


def mark_all_read(user_id: int) -> int:
    done = db.session.execute(update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=clock.now().replace(microsecond=0)).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return done


def escalated_ids(object_type: str, ids: Iterable[int]) -> set[int]:
    """The items of this kind among `ids` that were escalated to the org above (shown as "已催办")."""
    ids = [i for i in ids if i]
    if not ids:
        return set()
    return set(db.session.scalars(select(ReviewWait.object_id).where(
        ReviewWait.object_type == object_type, ReviewWait.object_id.in_(ids),
        ReviewWait.escalated_at.is_not(None))))


def reason_line(reason: str | None) -> str:
    return ("\n" + gettext("Reason: %(r)s", r=reason)) if reason else ""


def now() -> datetime.datetime:
    return clock.now().replace(microsecond=0)
