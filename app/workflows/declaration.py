"""State machine 4: hour declarations (P8, P9) reviewed along the org chain (U8, D5, H4), crediting approved
hours into HourRecord + YearSummary inside the same transaction."""
from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Iterator

from flask_babel import gettext, lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.util import identity_key

from .. import clock
from .. import validators
from ..extensions import db
from ..models import (AuditLog, Declaration, DeclarationState, HourRecord, LearningForm, NotificationKind, Org, OrgKind,
                      Person, RoleName, Subject, YearSummary)
from .attachments import delete_files, path_of, store_attachments
from .base import (APPLICANT, Actor, DomainError, PermissionDenied, StateMachine, Transition, audit, capped_count,
                   now, transaction)
from .export import in_batches
from .notifications import Note, Waiting, reason_line
from .orgs import subtree_ids
from .pending import lock_person

S = DeclarationState
REVIEW_ROLE = {S.PENDING_UNIT: RoleName.UNIT_ADMIN, S.PENDING_DEPT: RoleName.DEPT_ADMIN,
               S.PENDING_HR: RoleName.HR_ADMIN}
REVIEWERS = frozenset(REVIEW_ROLE.values())
YEARS_BACK = 5

# Fields a learning form may ask for: key -> (label, kind, choices)
FIELDS: dict[str, tuple] = {
    "organiser": (_l("Organiser"), "text", None),
    "location": (_l("Location"), "text", None),
    "dates": (_l("Dates"), "dates", None),
    "conf_level": (_l("Conference level"), "select", ["国际", "国家级", "省级", "市级"]),
    "school": (_l("School"), "text", None),
    "major": (_l("Major"), "text", None),
    "journal": (_l("Journal"), "text", None),
    "issn": (_l("ISSN"), "issn", None),
    "publish_date": (_l("Publication date"), "date", None),
    "author_rank": (_l("Author rank"), "select", ["独著", "第一作者", "第二作者", "第三作者及以后"]),
    "publisher": (_l("Publisher"), "text", None),
    "isbn": (_l("ISBN"), "isbn", None),
    "words": (_l("Words (thousands)"), "number", None),
    "project_rank": (_l("Project rank"), "select", ["国家级", "省部级", "市厅级"]),
    "role_in": (_l("Role in the project"), "select", ["主持人", "主要参与人", "参与人"]),
    "patent_no": (_l("Patent number"), "text", None),
    "patent_type": (_l("Patent type"), "select", ["发明专利", "实用新型", "外观设计"]),
    "grant_date": (_l("Grant date"), "date", None),
    "exam_name": (_l("Examination"), "text", None),
    "cert_no": (_l("Certificate number"), "text", None),
    "exam_date": (_l("Examination date"), "date", None),
    "platform": (_l("Learning platform"), "text", None),
}
ISSN_RE = re.compile(r"^\d{4}-\d{3}[\dX]$")
ISBN_RE = re.compile(r"^(97[89])?\d{9}[\dX]$")


class DeclarationMachine(StateMachine):
    model = Declaration
    object_type = "declaration"
    initial = (S.DRAFT,)
    transitions = (
        Transition(S.DRAFT, "submit", S.PENDING_UNIT, frozenset({APPLICANT})),
        Transition(S.REJECTED, "submit", S.PENDING_UNIT, frozenset({APPLICANT})),
        Transition(S.PENDING_UNIT, "withdraw", S.DRAFT, frozenset({APPLICANT})),
        Transition(S.PENDING_UNIT, "approve", S.PENDING_DEPT, frozenset({RoleName.UNIT_ADMIN})),
        Transition(S.PENDING_DEPT, "approve", S.PENDING_HR, frozenset({RoleName.DEPT_ADMIN})),
        Transition(S.PENDING_HR, "approve", S.APPROVED, frozenset({RoleName.HR_ADMIN})),
        Transition(S.PENDING_UNIT, "reject", S.REJECTED, frozenset({RoleName.UNIT_ADMIN})),
        Transition(S.PENDING_DEPT, "reject", S.REJECTED, frozenset({RoleName.DEPT_ADMIN})),
        Transition(S.PENDING_HR, "reject", S.REJECTED, frozenset({RoleName.HR_ADMIN})),
    )
    batch_load = (selectinload(Declaration.person).selectinload(Person.user), selectinload(Declaration.unit),
                  selectinload(Declaration.reviewer_org))

    def prepare_batch(self, items: list[Declaration]) -> list:
        """The orgs of the units' review chains (`chain_for`) and the year summaries the final approvals add to."""
        kept = []
        paths = {int(x) for item in items for x in item.unit.path.strip("/").split("/") if x}
        if paths:
            kept += db.session.scalars(select(Org).where(Org.id.in_(sorted(paths))).options(selectinload(Org.region)))
        people = sorted({item.person_id for item in items if item.state == S.PENDING_HR.value})
        if people:
            kept += db.session.scalars(select(YearSummary).where(YearSummary.person_id.in_(people)))
        return kept

    def in_scope(self, item: Declaration, actor: Actor) -> bool:
        return (item.reviewer_org is not None and item.person.user_id != actor.user_id
                and actor.covers(item.reviewer_org.path))

    def lock(self, item, action: str) -> bool:
        """A submission makes something pending for the person (see transfers); a decision does not."""
        return action == "submit" and lock_person(item.person_id)

    def is_owner(self, item: Declaration, actor: Actor) -> bool:
        return actor.user_id is not None and item.person.user_id == actor.user_id

    def resolve(self, item: Declaration, transition: Transition):
        """Submission goes to the unit; approval moves to the next level of the unit's chain, skipping the
        levels this chain does not have; the last approval ends the review."""
        if transition.action == "submit":
            return S.PENDING_UNIT, {"reviewer_org_id": item.unit_id}
        if transition.action == "withdraw":
            return S.DRAFT, {"reviewer_org_id": None}
        if transition.action == "reject":
            return S.REJECTED, {}
        # The next level is the nearest org of the chain above the org that just approved. When that org is no
        # longer in the chain (the region's levels changed while the item was pending), the review still goes
        # on above it instead of jumping to the end.
        current = item.reviewer_org
        above = [o for o in chain_for(item.unit)
                 if current is not None and o.id != current.id and current.path.startswith(o.path)]
        if not above:
            return S.APPROVED, {}
        nxt = above[0]
        return (S.PENDING_DEPT if nxt.kind == OrgKind.DEPARTMENT.value else S.PENDING_HR), {"reviewer_org_id": nxt.id}

    def on_enter(self, item: Declaration, transition: Transition, actor: Actor, comment: str | None) -> None:
        if transition.action == "submit":
            item.submitted_at = now()
            item.reason = None
        elif transition.action == "reject":
            item.reason = comment
        if item.state == S.APPROVED.value:
            credit(item.person_id, item.year, Subject(item.subject), item.hours, form_id=item.form_id,
                   title=item.title, source="declaration", source_id=item.id, provider=item.details.get("organiser"))

    queues = True

    def notify(self, item: Declaration, transition: Transition, actor: Actor | None) -> list[Note]:
        """X2: the applicant hears of every decision, each level's approval too."""
        if transition.action not in ("approve", "reject"):
            return []
        applicant, label = item.person.user, item.state_label
        return [Note([applicant], NotificationKind.DECISION,
                     gettext("Your hour declaration: %(state)s", state=label),
                     gettext("Hello %(name)s,\n\nyour declaration \"%(title)s\" (%(hours)s hours, %(year)s) is now: "
                             "%(state)s.%(reason)s", name=applicant.first_name, title=item.title, hours=item.hours,
                             year=item.year, state=label,
                             reason=reason_line(item.reason) if transition.action == "reject" else ""),
                     f"/hours/{item.id}")]

    def waiting(self, item: Declaration) -> list[Waiting]:
        """A declaration under review waits for the admins of the level it has reached."""
        role = REVIEW_ROLE.get(S(item.state))
        if role is None or item.reviewer_org is None:
            return []
        return [Waiting(item.reviewer_org, role.value, "DeclarationReviewView",
                        gettext("An hour declaration waits for your review"),
                        gettext("\"%(title)s\" by %(name)s (%(unit)s) waits for your review.", title=item.title,
                                name=item.person.name, unit=item.unit.name),
                        f"/review/declarations/{item.id}", exclude_user_id=item.person.user_id)]


machine = DeclarationMachine()
EDITABLE = frozenset({S.DRAFT.value, S.REJECTED.value})


def editable(item: Declaration) -> bool:
    """The applicant may change a draft, or a rejected declaration to submit it again; one under review or approved
    is fixed."""
    return item.state in EDITABLE


def deletable(item: Declaration) -> bool:
    """Only a draft, never submitted, may be deleted: a rejected declaration keeps its review history."""
    return item.state == S.DRAFT.value


def owner_actions(item: Declaration) -> list[str]:
    """What the applicant may do with the declaration now, in the order the detail page offers it: "edit", the
    applicant's transitions ("submit", "withdraw"), "delete"."""
    steps = [t.action for t in machine.transitions if t.source.value == item.state and APPLICANT in t.allowed]
    return (["edit"] if editable(item) else []) + steps + (["delete"] if deletable(item) else [])


def chain_for(unit: Org) -> list[Org]:
    """The review chain of a unit: the unit, its competent department (if any), its HR bureau; the region's
    `declaration_levels` may shorten it (2 = unit → HR, 1 = unit only)."""
    ids = [int(x) for x in unit.path.strip("/").split("/") if x]
    read = []  # held while they are looked up: the session holds its rows weakly
    if any(identity_key(Org, i) not in db.session.identity_map for i in ids):  # read ahead by a batch, or not
        read = list(db.session.scalars(select(Org).where(Org.id.in_(ids))))
    ancestors = {i: o for i in ids if (o := db.session.get(Org, i)) is not None}
    del read
    path = [ancestors[i] for i in reversed(ids) if i in ancestors]  # nearest first
    dept = next((o for o in path if o.kind == OrgKind.DEPARTMENT.value), None)
    hr = next((o for o in path if o.kind in (OrgKind.HR_DISTRICT.value, OrgKind.HR_CITY.value)), None)
    levels = (hr.region.declaration_levels if hr is not None and hr.region is not None else 3)
    chain = [unit]
    if levels >= 3 and dept is not None:
        chain.append(dept)
    if levels >= 2 and hr is not None:
        chain.append(hr)
    return chain


# ---------------------------------------------------------------- crediting (shared with base reports)

def credit(person_id: int, year: int, subject: Subject, hours: Decimal, *, form_id: int | None, title: str,
           source: str, source_id: int, provider: str | None = None) -> HourRecord:
    """Add one credited record and bump the person's year summary, in the caller's transaction."""
    record = HourRecord(person_id=person_id, year=year, subject=subject.value, hours=hours, form_id=form_id,
                        title=title, source=source, source_id=source_id, provider=provider)
    db.session.add(record)
    if db.session.get(YearSummary, (person_id, year)) is None:
        try:
            with db.session.begin_nested():
                db.session.add(YearSummary(person_id=person_id, year=year, public_hours=0, professional_hours=0))
        except IntegrityError:
            pass  # created by a concurrent transaction in the meantime
    column = YearSummary.public_hours if subject == Subject.PUBLIC else YearSummary.professional_hours
    db.session.execute(update(YearSummary).where(YearSummary.person_id == person_id, YearSummary.year == year)
                       .values({column.key: column + hours}).execution_options(synchronize_session=False))
    return record


# ---------------------------------------------------------------- the professional's side

@dataclass
class DeclarationInput:
    subject: str
    form_id: int | None
    year: int | None
    title: str
    hours: str | Decimal | None
    start_date: datetime.date | None
    end_date: datetime.date | None
    details: dict


def _person_of(actor: Actor) -> Person:
    person = db.session.scalar(select(Person).where(Person.user_id == actor.user_id))
    if person is None or actor.role != RoleName.PROFESSIONAL:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return person


def _validated(data: DeclarationInput, person: Person, exclude_id: int | None = None) -> dict:
    """Server-side checks of a declaration; returns the column values. Raises DomainError(field=…)."""
    if data.subject not in {s.value for s in Subject}:
        raise DomainError(_l("Choose public or professional subjects."), field="subject")
    form = db.session.get(LearningForm, data.form_id) if data.form_id else None
    if form is None or not form.active:
        raise DomainError(_l("Choose a learning form."), field="form_id")
    this_year = clock.today().year
    if data.year is None or not (this_year - YEARS_BACK <= data.year <= this_year):
        raise DomainError(gettext("The year must be between %(a)s and %(b)s.", a=this_year - YEARS_BACK,
                                  b=this_year), field="year")
    title = (data.title or "").strip()
    if not (2 <= len(title) <= 100) or re.search(r"[<>]", title):
        raise DomainError(_l("Enter a title of 2 to 100 characters without < or >."), field="title")
    try:  # ASCII digits, at most one decimal: "1.25" or "１２" is refused, never rounded or read as 12
        hours = validators.parse_number(data.hours, places=1, invalid=_l("Hours must be a number."))
    except validators.ValidationError as exc:
        raise DomainError(exc.message, field="hours") from None
    if hours <= 0:
        raise DomainError(_l("Hours must be greater than 0."), field="hours")
    if hours > form.max_hours:
        raise DomainError(gettext("One declaration of this form may give at most %(n)s hours.",
                                  n=form.max_hours), field="hours")
    if form.year_cap is not None:
        used = db.session.scalar(select(func.coalesce(func.sum(Declaration.hours), 0)).where(
            Declaration.person_id == person.id, Declaration.form_id == form.id, Declaration.year == data.year,
            Declaration.state.notin_([S.DRAFT.value, S.REJECTED.value]),
            Declaration.id != (exclude_id or 0)))
        if Decimal(used) + hours > form.year_cap:
            raise DomainError(gettext("This form gives at most %(cap)s hours a year; %(used)s are already "
                                      "declared for %(year)s.", cap=form.year_cap, used=used, year=data.year),
                              field="hours")
    details, fields = {}, form.fields
    values = {"subject": data.subject, "form_id": form.id, "year": data.year, "title": title, "hours": hours,
              "start_date": None, "end_date": None}
    for key in fields:
        label, kind, choices = FIELDS[key]
        if kind == "dates":
            if not data.start_date or not data.end_date:
                raise DomainError(_l("Enter the start and end dates."), field="start_date")
            if data.end_date < data.start_date:
                raise DomainError(_l("The end date is before the start date."), field="end_date")
            if data.end_date > clock.today():
                raise DomainError(_l("The dates cannot be in the future."), field="end_date")
            for name in ("start_date", "end_date"):
                try:
                    validators.check_study_date(getattr(data, name))
                except validators.ValidationError as exc:
                    raise DomainError(exc.message, field=name) from None
            if not data.start_date.year <= data.year <= data.end_date.year:
                raise DomainError(year_not_touched(data.start_date, data.end_date, data.year), field="year")
            values["start_date"], values["end_date"] = data.start_date, data.end_date
            continue
        raw = data.details.get(key)
        value = raw.strip() if isinstance(raw, str) else raw
        if value in (None, ""):
            raise DomainError(gettext("%(field)s is required for this learning form.", field=label), field=key)
        if kind == "select" and value not in choices:
            raise DomainError(gettext("Choose a value for %(field)s.", field=label), field=key)
        if kind == "issn" and not ISSN_RE.match(str(value).upper()):
            raise DomainError(_l("ISSN must look like 1234-567X."), field=key)
        if kind == "isbn" and not ISBN_RE.match(str(value).replace("-", "").upper()):
            raise DomainError(_l("ISBN must have 10 or 13 digits."), field=key)
        if kind == "number":
            try:
                if validators.parse_number(value, places=1) <= 0:
                    raise InvalidOperation
            except validators.ValidationError as exc:
                raise DomainError(gettext("%(field)s: %(problem)s", field=label, problem=exc.message),
                                  field=key) from None
            except InvalidOperation:
                raise DomainError(gettext("%(field)s must be a positive number.", field=label), field=key) from None
        if kind == "date":
            try:
                day = value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))
            except ValueError:
                raise DomainError(gettext("%(field)s must be a date.", field=label), field=key) from None
            if day > clock.today():
                raise DomainError(_l("The dates cannot be in the future."), field=key)
            try:
                validators.check_past_date(day)
            except validators.ValidationError as exc:
                raise DomainError(exc.message, field=key) from None
            value = day.isoformat()
        if isinstance(value, str) and (len(value) > 100 or re.search(r"[<>]", value)):
            raise DomainError(gettext("%(field)s is too long or contains < or >.", field=label), field=key)
        details[key] = value
    values["details_json"] = json.dumps(details, ensure_ascii=False)
    return values


def year_not_touched(start: datetime.date, end: datetime.date, year: int) -> str:
    """The message for hours counted in a year their study dates do not touch (a 2019 course counted in 2026)."""
    years = str(start.year) if start.year == end.year else f"{start.year}–{end.year}"
    return gettext("The learning took place from %(start)s to %(end)s: it can only be counted in a year it touches "
                   "(%(years)s), not in %(year)s.", start=start.isoformat(), end=end.isoformat(), years=years,
                   year=year)


def save(actor: Actor, data: DeclarationInput, declaration_id: int | None = None, submit: bool = False,
         attachments: list | None = None) -> Declaration:
    """Create or edit a draft (or a rejected one) and optionally submit it, with its attachments, in one
    transaction: a save or a submit that is refused leaves nothing behind (no draft, no edit, no file)."""
    person = _person_of(actor)
    if person.unit is None or person.unit.state != "active":
        raise DomainError(_l("Your unit is not active; you cannot declare hours."))
    if declaration_id:
        item = db.session.get(Declaration, declaration_id)
        if item is None or item.person_id != person.id:
            raise PermissionDenied(_l("You do not have permission to do this."))
        if not editable(item):
            raise DomainError(_l("Only a draft or a rejected declaration can be edited."))
    else:
        item = None
    stored = []
    try:
        with transaction():
            if submit:  # the caps are read under the person's lock, as the submission counts them
                lock_person(person.id)
            values = _validated(data, person, exclude_id=declaration_id)
            if item is None:
                item = machine.open(Declaration(person_id=person.id, unit_id=person.unit_id, **values), actor,
                                    action="create", commit=False)
            else:
                for key, value in values.items():
                    setattr(item, key, value)
                item.unit_id = person.unit_id
                audit(actor, "declaration.edit", object_type="declaration", object_id=item.id)
            stored = store_attachments(item, attachments) if attachments else []
            if submit:
                db.session.flush()
                transition = machine.enter(item, "submit", actor)
    except BaseException:
        for row in stored:
            if os.path.exists(path_of(row)):
                os.remove(path_of(row))
        raise
    if submit:
        machine.after_commit(item, transition)
    return item


def submit(item: Declaration, actor: Actor) -> Declaration:
    """Submit a saved draft (or a rejected declaration) in one transaction. The caps are checked again, under the
    person's lock: other declarations may have been approved or submitted meanwhile."""
    person = _person_of(actor)
    with transaction():
        if item.person_id == person.id:
            lock_person(person.id)
            _validated(DeclarationInput(item.subject, item.form_id, item.year, item.title, item.hours,
                                        item.start_date, item.end_date, item.details), person, exclude_id=item.id)
        transition = machine.enter(item, "submit", actor)
    machine.after_commit(item, transition)
    return item


def withdraw(item: Declaration, actor: Actor) -> Declaration:
    return machine.apply(item, "withdraw", actor)


def delete_draft(item: Declaration, actor: Actor) -> None:
    if not machine.is_owner(item, actor) or actor.role != RoleName.PROFESSIONAL:
        raise PermissionDenied(_l("You do not have permission to do this."))
    if not deletable(item):
        raise DomainError(_l("Only a draft can be deleted."))
    files = delete_files(item)
    audit(actor, "declaration.delete", object_type="declaration", object_id=item.id, from_state="draft")
    db.session.delete(item)
    db.session.commit()
    files()


def approve(item: Declaration, actor: Actor, comment: str | None = None) -> Declaration:
    return machine.apply(item, "approve", actor, comment)


def reject(item: Declaration, actor: Actor, reason: str | None) -> Declaration:
    return machine.apply(item, "reject", actor, reason)


def decide_many(ids: list[int], action: str, actor: Actor, reason: str | None = None):
    """Batch approve / reject: one transaction, each item in a savepoint of its own (StateMachine._batch). Returns
    (done, failures)."""
    return machine.decide_many(ids, action, actor, reason)


def can_decide(item: Declaration, actor: Actor) -> bool:
    """Whether this reviewer may decide the declaration now (the level it waits at, in scope, not their own): the
    detail page offers the decision panel on it."""
    return machine.can_decide(item, actor)


def timeline(item: Declaration):
    """The review history of a declaration, oldest first (who, when, decision, reason)."""
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.object_type == "declaration", AuditLog.object_id == item.id).order_by(AuditLog.id)))


def mine(actor: Actor, state: str | None = None) -> list[Declaration]:
    person = _person_of(actor)
    stmt = select(Declaration).options(selectinload(Declaration.form)).where(Declaration.person_id == person.id)
    if state:
        stmt = stmt.where(Declaration.state.in_(
            [S.PENDING_UNIT.value, S.PENDING_DEPT.value, S.PENDING_HR.value] if state == "pending" else [state]))
    return list(db.session.scalars(stmt.order_by(Declaration.id.desc()).limit(500)))


# ---------------------------------------------------------------- reviewers

def _scoped(stmt, actor: Actor):
    if actor.role not in REVIEWERS or not actor.scope_path:
        return stmt.where(False)
    orgs = subtree_ids(actor.scope_path)
    own = select(Person.id).where(Person.user_id == actor.user_id)  # nobody reviews their own declaration
    return stmt.where(Declaration.reviewer_org_id.in_(orgs), Declaration.person_id.notin_(own))


def queue(actor: Actor, *, year: int | None = None, subject: str | None = None, q: str | None = None,
          after_id: int | None = None, limit: int = 20) -> list[Declaration]:
    """The reviewer's queue: declarations waiting at an org of their subtree at their level, newest first,
    keyset-paginated (no deep OFFSET). The page's ids come from the index alone; only those rows are loaded."""
    state = next((s for s, role in REVIEW_ROLE.items() if role == actor.role), None)
    if state is None:
        return []
    ids = _scoped(select(Declaration.id).where(Declaration.state == state.value), actor)
    if year:
        ids = ids.where(Declaration.year == year)
    if subject:
        ids = ids.where(Declaration.subject == subject)
    if q:
        ids = ids.where(Declaration.title.contains(q.strip(), autoescape=True))
    if after_id:
        ids = ids.where(Declaration.id < after_id)
    ids = ids.order_by(Declaration.id.desc()).limit(limit)
    stmt = (select(Declaration).where(Declaration.id.in_(ids))
            .options(selectinload(Declaration.person), selectinload(Declaration.form), selectinload(Declaration.unit))
            .order_by(Declaration.id.desc()))
    return list(db.session.scalars(stmt))


def queue_rows(actor: Actor, *, year: int | None = None, subject: str | None = None, q: str | None = None,
               batch: int | None = None) -> Iterator[Declaration]:
    """Every row of the reviewer's queue with the same filters (`queue`, same scope), newest first, read `batch`
    at a time (an export of the queue)."""
    return in_batches(lambda after, limit: queue(actor, year=year, subject=subject, q=q, after_id=after,
                                                 limit=limit), batch=batch)


def pending_count(actor: Actor) -> int:
    state = next((s for s, role in REVIEW_ROLE.items() if role == actor.role), None)
    if state is None:
        return 0
    return capped_count(_scoped(select(Declaration.id).where(Declaration.state == state.value), actor))


def can_see(item: Declaration, actor: Actor) -> bool:
    """The applicant, and reviewers whose subtree holds the declaration's unit."""
    if machine.is_owner(item, actor):
        return True
    # Reviewers see what was submitted to their subtree, never a professional's unsubmitted draft.
    return (actor.role in REVIEWERS and item.state != S.DRAFT.value and item.person.user_id != actor.user_id
            and actor.covers(item.unit.path))
