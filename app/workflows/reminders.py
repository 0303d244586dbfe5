"""X3: reminders and escalation, run by the task queue's scheduler (`flask scheduler`), never by a web request.

- An item waiting in a review queue (`ReviewWait`, kept by the state machines) longer than the `remind_days` set for
  the kind of org it waits at reminds that org's reviewers, once per period of `remind_days`;
- after `escalate_days` it is escalated once to the org above: its admins are told and the item shows "已催办";
- on the date the HR bureau sets for a year, each professional whose year is not complete is told what is missing
  (public / professional / total hours still needed), once.

Every message has an event key (the wait and its period, the escalation, the year), so running a job twice, or two
schedulers at once, notifies nobody twice.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from .. import clock
from ..extensions import db
from ..models import Membership, MembershipState, Org, OrgKind, Person, RoleName, YearSummary
from ..models.notifications import CompletionReminder, NotificationKind, ReminderSetting, ReviewWait
from . import annual
from .base import Actor, DomainError, PermissionDenied, audit, transaction
from .notifications import Note, admins, write

# The kinds of org items wait at, in the order the settings page shows them.
KINDS = (OrgKind.UNIT, OrgKind.DEPARTMENT, OrgKind.HR_DISTRICT, OrgKind.HR_CITY)
# The admin role of an org of each kind (who is told of an item escalated to it).
ADMIN_ROLE = {OrgKind.UNIT.value: RoleName.UNIT_ADMIN, OrgKind.DEPARTMENT.value: RoleName.DEPT_ADMIN,
              OrgKind.HR_DISTRICT.value: RoleName.HR_ADMIN, OrgKind.HR_CITY.value: RoleName.HR_ADMIN}
MAX_DAYS = 365
BATCH = 1000


# ---------------------------------------------------------------- settings (the HR bureau)

def may_edit(actor: Actor | None) -> bool:
    """The city HR bureau's admins set the reminders for the whole platform."""
    if actor is None or actor.role != RoleName.HR_ADMIN or not actor.org_id:
        return False
    org = db.session.get(Org, actor.org_id)
    return org is not None and org.kind == OrgKind.HR_CITY.value


def settings() -> dict[str, ReminderSetting]:
    rows = {r.org_kind: r for r in db.session.scalars(select(ReminderSetting))}
    return {k.value: rows.get(k.value) or ReminderSetting(org_kind=k.value) for k in KINDS}


def completion_dates() -> list[CompletionReminder]:
    return list(db.session.scalars(select(CompletionReminder).order_by(CompletionReminder.year.desc()).limit(10)))


def _days(value, field: str) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
        raise DomainError(gettext("Enter a number of days from 1 to %(n)s, or leave it empty.", n=MAX_DAYS),
                          field=field)
    return int(text)


def save_settings(actor: Actor, values: dict[str, tuple]) -> None:
    """`values`: org kind -> (remind_days, escalate_days), each a number of days or empty."""
    if not may_edit(actor):
        raise PermissionDenied(_l("You do not have permission to do this."))
    parsed = {}
    for kind in KINDS:
        remind, escalate = values.get(kind.value, (None, None))
        r, e = _days(remind, f"remind_{kind.value}"), _days(escalate, f"escalate_{kind.value}")
        if r is not None and e is not None and e < r:
            raise DomainError(_l("Escalation cannot come before the reminder."), field=f"escalate_{kind.value}")
        parsed[kind.value] = (r, e)
    with transaction():
        for kind, (r, e) in parsed.items():
            row = db.session.get(ReminderSetting, kind) or ReminderSetting(org_kind=kind)
            row.remind_days, row.escalate_days = r, e
            db.session.add(row)
        audit(actor, "reminders.settings", object_type="reminder_setting",
              comment="; ".join(f"{k}: {r or '-'}/{e or '-'}" for k, (r, e) in parsed.items()))


def set_completion_date(actor: Actor, year, remind_on: datetime.date | None) -> None:
    """The date on which professionals whose `year` is not complete are reminded (it may be changed until then)."""
    if not may_edit(actor):
        raise PermissionDenied(_l("You do not have permission to do this."))
    this_year = clock.today().year
    if not isinstance(year, int) or not this_year - 1 <= year <= this_year + 1:
        raise DomainError(gettext("The year must be between %(a)s and %(b)s.", a=this_year - 1, b=this_year + 1),
                          field="year")
    if remind_on is None or not datetime.date(year, 1, 1) <= remind_on <= datetime.date(year + 1, 3, 31):
        raise DomainError(_l("Choose a date in that year (or the first quarter of the next)."), field="remind_on")
    with transaction():
        row = db.session.get(CompletionReminder, year)
        if row is not None and row.sent_at is not None:
            raise DomainError(_l("The reminders of this year have already been sent."), field="year")
        if row is None:
            row = CompletionReminder(year=year, remind_on=remind_on)
            db.session.add(row)
        row.remind_on = remind_on
        audit(actor, "reminders.completion_date", object_type="completion_reminder", object_id=year,
              comment=remind_on.isoformat())


# ---------------------------------------------------------------- the periodic jobs

def run() -> dict:
    """The scheduler's job: review reminders, escalations, completion reminders. Returns what it did."""
    done = review_reminders()
    done["completion"] = completion_reminders()
    return done


def review_reminders(now: datetime.datetime | None = None) -> dict:
    """Remind and escalate the items waiting longer than their org kind's settings; one transaction per batch."""
    now = now or clock.now().replace(microsecond=0)
    reminded = escalated = 0
    for kind, setting in settings().items():
        if setting.remind_days:
            reminded += _remind(kind, setting.remind_days, now)
        if setting.escalate_days:
            escalated += _escalate(kind, setting.escalate_days, now)
    return {"reminded": reminded, "escalated": escalated}


def _waits(kind: str, before: datetime.datetime, after_id: int, *, unescalated: bool = False) -> list[ReviewWait]:
    stmt = (select(ReviewWait).join(Org, Org.id == ReviewWait.org_id)
            .where(Org.kind == kind, ReviewWait.since <= before, ReviewWait.id > after_id))
    if unescalated:
        stmt = stmt.where(ReviewWait.escalated_at.is_(None))
    return list(db.session.scalars(stmt.order_by(ReviewWait.id).limit(BATCH)))


def _remind(kind: str, days: int, now: datetime.datetime) -> int:
    sent, after = 0, 0
    while True:
        with transaction():
            rows = _waits(kind, now - datetime.timedelta(days=days), after)
            for wait in rows:
                waited = (now - wait.since).days
                period = waited // days
                sent += write([Note(admins([wait.org_id], wait.role, wait.view_name), NotificationKind.REMINDER,
                                    gettext("Reminder: %(title)s", title=wait.title),
                                    gettext("This item has waited %(days)s days for your review.", days=waited),
                                    wait.link)],
                              event=f"remind:{wait.id}:{period}", object_type=wait.object_type,
                              object_id=wait.object_id)
        if len(rows) < BATCH:
            return sent
        after = rows[-1].id


def _escalate(kind: str, days: int, now: datetime.datetime) -> int:
    done, after = 0, 0
    while True:
        with transaction():
            rows = _waits(kind, now - datetime.timedelta(days=days), after, unescalated=True)
            parents = {o.id: o for o in db.session.scalars(select(Org).options(selectinload(Org.parent)).where(
                Org.id.in_({w.org_id for w in rows})))}
            for wait in rows:
                org = parents[wait.org_id]
                above = org.parent
                taken = db.session.execute(
                    update(ReviewWait).where(ReviewWait.id == wait.id, ReviewWait.escalated_at.is_(None))
                    .values(escalated_at=now, escalated_to_id=above.id if above else None)
                    .execution_options(synchronize_session=False)).rowcount
                if taken != 1:
                    continue
                done += 1
                role = ADMIN_ROLE.get(above.kind) if above is not None else None
                if role is None:
                    continue
                waited = (now - wait.since).days
                write([Note(admins([above.id], role.value, wait.view_name), NotificationKind.ESCALATION,
                            gettext("Escalated: %(title)s", title=wait.title),
                            gettext("This item has waited %(days)s days at %(org)s, an organisation under yours, "
                                    "without a decision.", days=waited, org=org.name), wait.link)],
                      event=f"escalate:{wait.id}", object_type=wait.object_type, object_id=wait.object_id)
        if len(rows) < BATCH:
            return done
        after = rows[-1].id


@dataclass
class Missing:
    public: Decimal
    professional: Decimal
    total: Decimal


def missing(result: annual.YearResult) -> Missing | None:
    """What a year still lacks against its standard (None: complete, or no standard to measure it by)."""
    std = result.standard
    if std is None or result.passed:
        return None
    zero = Decimal(0)
    return Missing(max(std.public_min - result.public, zero), max(std.professional_min - result.professional, zero),
                   max(std.total_min - result.total, zero))


def completion_reminders(today: datetime.date | None = None) -> int:
    """On the date the HR bureau set, tell each active professional whose year is not complete what is missing.
    The reminder's row is stamped once every professional has been through (a run that stops half way is taken up
    by the next one; those already told are not told again)."""
    today = today or clock.today()
    sent = 0
    for due in list(db.session.scalars(select(CompletionReminder).where(
            CompletionReminder.remind_on <= today, CompletionReminder.sent_at.is_(None)))):
        sent += _completion_year(due.year)
        with transaction():
            db.session.execute(update(CompletionReminder).where(CompletionReminder.year == due.year)
                               .values(sent_at=clock.now().replace(microsecond=0)))
    return sent


def _completion_year(year: int) -> int:
    sent, after = 0, 0
    standards_of: dict = {}  # unit id -> the year's standard there
    while True:
        with transaction():
            people = list(db.session.scalars(
                select(Person).options(selectinload(Person.user), selectinload(Person.unit))
                .join(Membership, Membership.user_id == Person.user_id)
                .where(Membership.role == RoleName.PROFESSIONAL.value,
                       Membership.state == MembershipState.ACTIVE.value, Person.id > after)
                .order_by(Person.id).limit(BATCH)))
            sums = {s.person_id: s for s in db.session.scalars(select(YearSummary).where(
                YearSummary.year == year, YearSummary.person_id.in_([p.id for p in people])))}
            for person in people:
                if person.unit_id not in standards_of:
                    standards_of[person.unit_id] = annual.standards([year], annual.region_of(person)).get(year)
                s = sums.get(person.id)
                result = annual.YearResult(year, s.public_hours if s else Decimal(0),
                                           s.professional_hours if s else Decimal(0), standards_of[person.unit_id])
                lack = missing(result)
                if lack is None:
                    continue
                sent += write([Note([person.user], NotificationKind.COMPLETION,
                                    gettext("Your %(year)s continuing education is not complete", year=year),
                                    gettext("Hello %(name)s,\n\nyour continuing education hours of %(year)s are not "
                                            "complete yet. Still needed: public subjects %(public)s hours, "
                                            "professional subjects %(professional)s hours, %(total)s hours in all.",
                                            name=person.name, year=year, public=lack.public,
                                            professional=lack.professional, total=lack.total),
                                    f"/hours/annual/{year}")],
                              event=f"completion:{year}", object_type="person", object_id=person.id)
        if len(people) < BATCH:
            return sent
        after = people[-1].id

