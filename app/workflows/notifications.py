"""X2 notifications: written in the transaction of the state change, shown in the platform, e-mailed by a worker.

The state machines say what a transition tells (`StateMachine.notify`: the applicant hears of a decision) and where
an item now waits (`StateMachine.waiting`: the org, the admin role and the queue's view); `record_many` turns both
into `Notification` rows (one per person and event, never two: a unique key) and keeps the item's `ReviewWait` (what
the reminders of X3 read), for one transition or, inside `deferred()`, for all the items of a batch at once. Nothing
leaves the database inside the transaction: once it commits, the new rows' e-mails are handed to the task queue
(`deliver`), inline when there is no worker.

Delivery takes each row in a transaction of its own: a conditional UPDATE (pending -> sent) claims it and holds its
row lock while the SMTP server takes the message; the claim commits only once the server has accepted it. A row
whose delivery never happened (the process died after the commit, Redis lost the job) stays pending and the sweep
(`deliver_pending`, run by the scheduler and when a worker starts) sends it; a row already sent is never claimed
again, so a message is sent once however often the sweep runs.
"""
from __future__ import annotations

import datetime
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable

from flask import current_app, has_request_context, request
from flask_babel import gettext
from flask_mail import Message
from sqlalchemy import case, event, func, insert, select, update
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
_DEFERRED_KEY = "notifications_deferred"


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
    return admins_many([(org_ids, role, view_name, exclude_user_id)])[0]


def admins_many(requests: list[tuple]) -> list[list[Account]]:
    """`admins` for many (org_ids, role, view_name, exclude_user_id) at once: the memberships of each role over all
    the orgs asked for are read together (one query per role and its accounts and org-defined roles, whatever the
    number of requests), then each request keeps its own orgs, people and module."""
    wanted: dict[tuple[str, bool], set] = {}
    for org_ids, role, _view, _exclude in requests:
        ids = wanted.setdefault((role, org_ids is None), set())
        if org_ids is not None:
            ids.update(org_ids)
    members: dict[tuple[str, bool], list[Membership]] = {}
    for (role, platform), ids in wanted.items():
        if not platform and not ids:
            members[(role, platform)] = []
            continue
        stmt = (select(Membership).options(selectinload(Membership.user), selectinload(Membership.org_role))
                .where(Membership.role == role, Membership.state == MembershipState.ACTIVE.value))
        if not platform:
            stmt = stmt.where(Membership.org_id.in_(sorted(ids)))
        members[(role, platform)] = list(db.session.scalars(stmt))
    found = []
    for org_ids, role, view_name, exclude_user_id in requests:
        orgs = None if org_ids is None else set(org_ids)
        people = {}
        for m in members[(role, org_ids is None)]:
            if (orgs is None or m.org_id in orgs) and m.user_id != exclude_user_id and m.user.active \
                    and module_allows(m, view_name):
                people[m.user_id] = m.user
        found.append([people[k] for k in sorted(people)])
    return found


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
    return write_many([(list(notes), event, object_type, object_id)])


INSERT_CHUNK = 500  # rows per INSERT (14 values a row: within SQLite's and PostgreSQL's parameter limits)


def write_many(events: list[tuple[list[Note], str, str | None, int | None]]) -> int:
    """`write` for many events (notes, event, object_type, object_id) at once: the recipients' e-mail choices in one
    query, the rows in one INSERT (per INSERT_CHUNK rows)."""
    at = clock.now().replace(microsecond=0)
    everyone = {a.id for notes, *_ in events for note in notes for a in note.recipients if a is not None}
    if not everyone:
        return 0
    prefs = dict(db.session.execute(select(NotificationPref.user_id, NotificationPref.email_on).where(
        NotificationPref.user_id.in_(sorted(everyone)))).all())
    rows = []
    for notes, event, object_type, object_id in events:
        seen = set()
        for note in notes:
            accounts = [a for a in note.recipients if a is not None]
            key = f"{event}:{NotificationKind(note.kind).value}"[:120]
            for account in accounts:
                if (account.id, key) in seen:
                    continue
                seen.add((account.id, key))
                mailed = prefs.get(account.id, True) and _usable(account.email)
                rows.append(dict(user_id=account.id, kind=NotificationKind(note.kind).value,
                                 title=str(note.title)[:200], body=str(note.body), link=note.link,
                                 object_type=object_type, object_id=object_id, event=key, created_at=at,
                                 email_to=account.email if mailed else None,
                                 email_state=(EmailState.PENDING if mailed else EmailState.SKIPPED).value,
                                 email_attempts=0))
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    added = []
    for start in range(0, len(rows), INSERT_CHUNK):
        stmt = (dialect.insert(Notification).values(rows[start:start + INSERT_CHUNK])
                .on_conflict_do_nothing(index_elements=["user_id", "event"])
                .returning(Notification.id, Notification.email_state))
        added += db.session.execute(stmt).all()
    db.session.info.setdefault(_PENDING_KEY, []).extend(
        i for i, state in added if state == EmailState.PENDING.value)
    return len(added)


@dataclass
class Event:
    """A machine's transition (or a row it opened) to tell of: keyed by its audit row (or `key`), so that one
    transition never notifies a person twice."""

    machine: Any
    item: Any
    transition: Any
    actor: Any
    audit_row: Any = None
    key: str | None = None

    def event_key(self) -> str:
        key = f"a{self.audit_row.id}" if self.audit_row is not None else self.key
        return f"{self.machine.object_type}:{self.item.id}:{key}"


def transitioned(event: Event) -> None:
    """A transition's notifications, in its transaction: written now, or, inside `deferred()`, with the others of
    the block when it ends."""
    pending = db.session.info.get(_DEFERRED_KEY)
    if pending is not None:
        pending.append(event)
    else:
        record_many([event])


@contextmanager
def deferred():
    """Collect the notifications of the transitions taken inside the block (a batch of decisions) and write them
    together when it ends without an error, still inside the caller's transaction: one DELETE and one INSERT of
    wait rows, one query for the next reviewers per role, one for the e-mail choices, one INSERT of notifications,
    whatever the number of items. Yields the list of collected events: a caller that rolls an item back to its
    savepoint removes that item's events from it. Nested use joins the outer block."""
    if _DEFERRED_KEY in db.session.info:
        yield db.session.info[_DEFERRED_KEY]
        return
    events: list[Event] = []
    db.session.info[_DEFERRED_KEY] = events
    try:
        yield events
    finally:
        db.session.info.pop(_DEFERRED_KEY, None)
    record_many(events)


def record_many(events: list[Event]) -> None:
    """The notes of each event's `machine.notify` and, for machines with queues, the reviewers where its item now
    waits (its `ReviewWait` rows replaced: an item's wait rows follow its latest event)."""
    if not events:
        return
    if any(e.audit_row is not None and e.audit_row.id is None for e in events):
        db.session.flush()  # the audit rows' ids key the events
    last = {}
    for e in events:
        if e.machine.queues:
            last[(e.machine.object_type, e.item.id)] = e
    since = clock.now().replace(microsecond=0)
    batch, wait_rows, asks, cleared = [], [], [], {}
    for e in events:
        notes = list(e.machine.notify(e.item, e.transition, e.actor) or [])
        if last.get((e.machine.object_type, e.item.id)) is e:
            cleared.setdefault(e.machine.object_type, []).append(e.item.id)
            for w in e.machine.waiting(e.item) or []:
                wait_rows.append(dict(object_type=e.machine.object_type, object_id=e.item.id,
                                      org_id=w.org.id if w.org is not None else None, role=w.role,
                                      view_name=w.view_name, title=str(w.title)[:200], link=w.link, since=since))
                asks.append((notes, w))
        batch.append((notes, e.event_key(), e.machine.object_type, e.item.id))
    for object_type, ids in cleared.items():
        db.session.execute(ReviewWait.__table__.delete().where(
            ReviewWait.object_type == object_type, ReviewWait.object_id.in_(ids)))
    if wait_rows:
        db.session.execute(insert(ReviewWait), wait_rows)
    reviewers = admins_many([(None if w.org is None else [w.org.id, *w.also], w.role, w.view_name,
                              w.exclude_user_id) for _notes, w in asks])
    for (notes, w), accounts in zip(asks, reviewers):
        notes.append(Note(accounts, NotificationKind.QUEUE, w.title, w.body, w.link))
    write_many(batch)


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
