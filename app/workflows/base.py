"""The shared transition mechanism: declared transitions, role + scope re-check, conditional update, audit."""
from __future__ import annotations

import datetime
import enum
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from ..authz import Actor  # noqa: F401  (the workflows import it from here too)
from ..extensions import db
from ..models import AuditLog
from . import notifications
from . import deputies
from .attachments import store_change_files
from .errors import ConcurrentTransition, DomainError, PermissionDenied, TransitionNotAllowed  # noqa: F401


APPLICANT = "applicant"  # the owner of the item (checked by the machine's `is_owner`)
# A transition taken only as a step of another use case that has already checked who acts: a registration's
# approval activates its membership and org, closing or merging an org revokes its admins, a support member
# revokes a role (see `StateMachine.enter(..., follows=True)`). Nobody may take it on its own.
FOLLOWS = "follows"
HANDLED = _l("This item has just been handled by someone else. Please refresh.")
CLASHED = _l("This item was being changed by someone else at the same moment. Please refresh and try again.")
# PostgreSQL's deadlock and serialization failures: two batches of one transaction each locking rows in another
# order. The one PostgreSQL picks rolls its item back to the item's savepoint and tries it once more.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})
_BATCH_AUDITS = "workflow_batch_audits"


@dataclass(frozen=True)
class Transition:
    source: enum.Enum
    action: str
    target: enum.Enum
    allowed: frozenset = field(default_factory=frozenset)  # RoleName values and/or APPLICANT


def now() -> datetime.datetime:
    return datetime.datetime.now().replace(microsecond=0)


def reread(item, row=None) -> None:
    """Take the item's own columns as the database has them now, from `row` (its UPDATE … RETURNING) or else by one
    SELECT by primary key, and forget its related rows, which are then found again by their (possibly new) keys,
    from the session when it holds them. (`Session.refresh` would also run again every eager load the item was read
    with: a batch's items are read with their related rows.)"""
    mapper = sa_inspect(type(item))
    if row is None:
        db.session.refresh(item, attribute_names=[a.key for a in mapper.column_attrs])
    else:
        values = row._mapping
        for column in mapper.local_table.columns:
            set_committed_value(item, mapper.get_property_by_column(column).key, values[column])
    db.session.expire(item, [r.key for r in mapper.relationships])


def audit(actor: Actor | None, action: str, *, object_type: str | None = None, object_id: int | None = None,
          from_state: str | None = None, to_state: str | None = None, comment: str | None = None,
          result: str = "ok") -> AuditLog:
    """Add one audit row to the current transaction (the caller commits)."""
    row = audit_entry(actor, action, object_type=object_type, object_id=object_id, from_state=from_state,
                      to_state=to_state, comment=comment, result=result)
    db.session.add(row)
    return row


def audit_entry(actor: Actor | None, action: str, *, object_type: str | None = None, object_id: int | None = None,
                from_state: str | None = None, to_state: str | None = None, comment: str | None = None,
                result: str = "ok") -> AuditLog:
    """An audit row, not yet added to the session."""
    return AuditLog(
        at=datetime.datetime.now(),
        actor_id=actor.user_id if actor else None,
        actor=actor.display if actor else None,
        role=actor.role.value if actor and actor.role else None,
        on_behalf_of_id=actor.on_behalf_of.user_id if actor and actor.on_behalf_of else None,
        on_behalf_of=actor.on_behalf_of.display if actor and actor.on_behalf_of else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        from_state=from_state,
        to_state=to_state,
        comment=comment,
        result=result,
        ip=actor.ip if actor else None,
    )



# A count a page shows of rows that grow with the city (what waits in a reviewer's queue, the home page's cards)
# stops here: an exact count of a city's pending rows costs in proportion to them; past it the page says "more
# than 10,000".
COUNT_CAP = 10_000


def capped_count(ids: Select) -> int:
    """How many rows `ids` (a select of one column) gives, read no further than COUNT_CAP + 1."""
    return db.session.scalar(select(func.count()).select_from(ids.limit(COUNT_CAP + 1).subquery())) or 0

@contextmanager
def transaction(conflict: Callable[[], Exception] | None = None):
    """One use case, one transaction: commit when the block (or the decorated function) ends, roll back on any
    error. `conflict` builds the error that replaces an IntegrityError (a row that raced in at the same instant
    against a unique index). Usable as `with transaction():` and as a decorator `@transaction()`."""
    try:
        yield
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if conflict is not None:
            raise conflict() from exc
        raise
    except BaseException:
        db.session.rollback()
        raise


class StateMachine:
    """A table of transitions over one model's `state` column.

    Subclasses give `model`, `object_type`, `initial`, `transitions`, and implement `in_scope(item, actor)` and
    `is_owner(item, actor)`; `on_enter(item, transition, actor, comment)` applies side effects inside the
    same transaction.

    This class is the only code that writes a `state` column (tests/test_state_writes.py reads app/ to hold it
    so): a row is created in one of its machine's `initial` states by `open`, and its state changes only through
    `enter` (inside the caller's transaction) or `apply` (a transaction of its own).
    """

    model: type
    object_type: str
    initial: tuple = ()  # the states a row may be created in; the first one is the default
    transitions: Iterable[Transition] = ()
    reason_required: frozenset[str] = frozenset({"reject"})

    def __init__(self) -> None:
        self.table = {(t.source.value, t.action): t for t in self.transitions}

    def open(self, item, actor: Actor | None, *, action: str = "submit", state: enum.Enum | None = None,
             duplicate: Any = None, files: list[tuple[str, bytes]] | None = None, comment: str | None = None,
             commit: bool = True, audit_as: str | bool = True):
        """Insert a new row in one of the machine's initial states (`state`, by default the first), with its
        evidence files, and audit it as f"{object_type}.{action}" (or `audit_as`; False when the use case's own
        audit row records it). With `commit` it is a transaction of its own; without, it only joins the caller's
        (no files then). A partial unique index on the pending rows (one pending request per person or org)
        turns a request racing in at the same instant into `duplicate`, a clear message; the files written are
        removed whenever the transaction does not commit."""
        state = state or (self.initial[0] if self.initial else None)
        if state is None or state not in self.initial:
            raise TransitionNotAllowed(_l("This action is not allowed in the item's current state."))
        if not commit:
            if files is not None:
                raise ValueError("files are stored only by an open that commits")
            self._insert(item, actor, state, action, comment, audit_as)
            return item
        remove = None
        try:
            with transaction(conflict=(lambda: DomainError(duplicate)) if duplicate is not None else None):
                self._insert(item, actor, state, action, comment, audit_as)
                if files is not None:
                    remove = store_change_files(self.object_type, item.id, files)
        except BaseException:
            if remove:
                remove()
            raise
        return item

    def _insert(self, item, actor: Actor | None, state: enum.Enum, action: str, comment: str | None,
                audit_as: str | bool) -> None:
        item.state = state.value
        db.session.add(item)
        db.session.flush()
        row = None
        if audit_as:
            row = audit(actor, audit_as if isinstance(audit_as, str) else f"{self.object_type}.{action}",
                        object_type=self.object_type, object_id=item.id, to_state=item.state, comment=comment)
        self._notify(item, Transition(None, action, state), actor, row)

    def allowed_actions(self, item) -> list[str]:
        return [action for (state, action) in self.table if state == item.state]

    def in_scope(self, item, actor: Actor) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_owner(self, item, actor: Actor) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def lock(self, item, action: str) -> bool:
        """Take the row locks a rule spanning several rows needs, before the item's own row is changed; return True
        if one was taken (the item is then read again, as it may have changed meanwhile). Machines whose items
        belong to a person lock the person (`pending.lock_person`): transfers, declarations and title changes of
        one person are then decided one after the other, so "nothing pending" holds when a transfer completes."""
        return False

    def may_act(self, item, transition: Transition, actor: Actor) -> bool:
        """Whether a reviewer role may take this transition on this item: by default the item lies in the actor's
        scope; a machine whose parties differ per step (old and new parent of an org change) overrides this."""
        return self.in_scope(item, actor)

    def resolve(self, item, transition: Transition) -> tuple[enum.Enum, dict]:
        """The state a transition leads to and other columns it sets; a machine whose next step depends on the
        item (a review chain) overrides this."""
        return transition.target, {}

    def on_enter(self, item, transition: Transition, actor: Actor, comment: str | None) -> None:
        pass

    def after_commit(self, item, transition: Transition) -> None:
        """Side effects outside the database, run once the transition is committed. (Notifications are rows written
        by `notify` / `waiting` in the transaction itself; their e-mails leave after the commit.)"""

    # X2: whether items of this machine wait in review queues (`waiting`), whose reviewers are notified, reminded
    # after N days and escalated to after M days (X3).
    queues = False

    def notify(self, item, transition: Transition, actor: Actor | None) -> list:
        """The notifications.Note list this transition sends (a decision tells the applicant), written in the same
        transaction; `transition.source` is None for a row just opened. Default: none."""
        return []

    def waiting(self, item) -> list:
        """Where the item waits for a decision now (notifications.Waiting: the org, the admin role, the queue's view,
        the reviewers' message), for a machine with `queues`; [] once it is decided."""
        return []

    def check(self, item, action: str, actor: Actor, *, follows: bool = False) -> Transition:
        transition = self.table.get((item.state, action))
        if transition is None:
            raise TransitionNotAllowed(_l("This action is not allowed in the item's current state."))
        if follows:  # a step of a use case that has checked its actor itself (see FOLLOWS)
            if FOLLOWS not in transition.allowed:
                raise PermissionDenied(_l("You do not have permission to do this."))
            return transition
        as_owner = APPLICANT in transition.allowed and self.is_owner(item, actor)
        as_role = actor.role in transition.allowed and self.may_act(item, transition, actor)
        if as_role and actor.on_behalf_of is not None:  # X9: a deputy acts only where the delegator could, today
            as_role = deputies.permits(actor, self.object_type) and self.may_act(item, transition,
                                                                                 actor.on_behalf_of)
        if not (as_owner or as_role):
            raise PermissionDenied(_l("You do not have permission to do this."))
        return transition

    def enter(self, item, action: str, actor: Actor | None, comment: str | None = None,
              values: dict | None = None, *, follows: bool = False, audit_as: str | bool = True) -> Transition:
        """Take one transition inside the caller's transaction (nothing is committed): look it up, check who acts
        (or, with `follows`, that it is a step other use cases take), take the machine's locks, change the state
        with `UPDATE … WHERE id = :id AND state = :from` (rowcount must be 1, else ConcurrentTransition), set the
        other `values`, run `on_enter` and write the audit row (`audit_as`: its action, or False when the use
        case's own audit row records the step)."""
        comment = (comment or "").strip() or None
        transition = self.check(item, action, actor, follows=follows)
        if action in self.reason_required and not comment:
            raise DomainError(_l("A reason is required to reject."), field="reason")
        if self.lock(item, action):
            reread(item)
            transition = self.check(item, action, actor, follows=follows)
        target_state, extra = self.resolve(item, transition)
        source, target = transition.source.value, target_state.value
        columns = {**extra, **self.decided_values(item, transition, actor, comment), **(values or {})}
        row = db.session.execute(
            update(self.model)
            .where(self.model.id == item.id, self.model.state == source)
            .values(state=target, **columns)
            .returning(*self.model.__table__.columns)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            raise ConcurrentTransition(HANDLED)
        reread(item, row)
        self.on_enter(item, transition, actor, comment)
        entry = None
        if audit_as:
            entry = audit_entry(actor, audit_as if isinstance(audit_as, str) else f"{self.object_type}.{action}",
                                object_type=self.object_type, object_id=item.id, from_state=source, to_state=target,
                                comment=comment)
            batch = db.session.info.get(_BATCH_AUDITS)
            if batch is not None:  # a batch writes its items' audit rows together, at its end (see `_batch`)
                batch.append(entry)
            else:
                db.session.add(entry)
        self._notify(item, transition, actor, entry)
        return transition

    def decided_values(self, item, transition: Transition, actor: Actor | None, comment: str | None) -> dict:
        """Other columns a transition sets (who decided, when, the reason), written by the state's own UPDATE."""
        return {}

    def _notify(self, item, transition: Transition, actor: Actor | None, audit_row: AuditLog | None) -> None:
        """X2, in the transition's transaction: the messages `notify` returns and, for a machine with `queues`, the
        reviewers of the queue the item now waits in (see app/workflows/notifications.py), written now or, in a
        batch, with the batch's others. The event's key is the transition's audit row (or the instant), so one
        transition never notifies a person twice."""
        if not self.queues and type(self).notify is StateMachine.notify:
            return
        key = None if audit_row is not None else f"{transition.action}@{datetime.datetime.now().isoformat()}"
        notifications.transitioned(notifications.Event(self, item, transition, actor, audit_row, key))

    def apply(self, item, action: str, actor: Actor, comment: str | None = None,
              values: dict | None = None) -> Any:
        """Run one transition in its own transaction; raise a DomainError if it may not happen."""
        with transaction():
            transition = self.enter(item, action, actor, comment, values)
        self.after_commit(item, transition)
        return item

    def decision_step(self, item, decision: str, actor: Actor) -> str:
        """The action a reviewer's "approve" / "reject" means for this item: the action itself, unless the machine
        has several deciding parties (the old and the new unit of a transfer, the old and new parent of an org
        change), each with a step of its own."""
        return decision

    def can_decide(self, item, actor: Actor | None) -> bool:
        """Whether `decide(item, "approve", actor)` would be allowed to start: the step "approve" means for this
        actor passes the same check `enter` runs before it writes (state, role, scope, own item). The one rule of
        who may decide; detail pages offer the decision panel on it. Writes nothing."""
        if actor is None:
            return False
        try:
            self.check(item, self.decision_step(item, "approve", actor), actor)
        except DomainError:
            return False
        return True

    def decide(self, item, decision: str, actor: Actor, reason: str | None = None):
        """A reviewer's approve / reject of one item, through the step it means for this item, in its own
        transaction."""
        with transaction():
            transition = self.enter_decision(item, decision, actor, reason)
        self.after_commit(item, transition)
        return item

    def enter_decision(self, item, decision: str, actor: Actor, reason: str | None = None) -> Transition:
        """`decide` inside the caller's transaction (one item of a batch)."""
        return self.enter(item, self.decision_step(item, decision, actor), actor, reason)

    def decide_many(self, ids: list[int], action: str, actor: Actor, reason: str | None = None):
        """A reviewer's batch approve / reject (reason required to reject); returns (done, [(id, error)]). See
        `_batch`: every item is checked and decided as `decide` would, an item refused leaves the others done."""
        if action not in ("approve", "reject"):
            raise DomainError(_l("Unknown action."))
        if action == "reject" and not (reason or "").strip():
            raise DomainError(_l("A reason is required to reject."), field="reason")
        return self._batch(ids, lambda item: self.enter_decision(item, action, actor, reason))

    def apply_many(self, ids: list[int], action: str, actor: Actor, comment: str | None = None,
                   loader: Callable[[int], Any] | None = None) -> tuple[int, list[tuple[int, str]]]:
        """Apply one action to many items (see `_batch`); return (done, [(id, error)])."""
        return self._batch(ids, lambda item: self.enter(item, action, actor, comment), loader)

    # The related rows `check`, `enter`, `notify` and `waiting` read, loaded with a batch's items (loader options).
    batch_load: tuple = ()

    def load_many(self, ids: Iterable[int]) -> dict[int, Any]:
        """The items of these ids (read afresh), with `batch_load`, in one query each; then `prepare_batch`."""
        ids = sorted({i for i in ids if isinstance(i, int) and 0 < i < 2 ** 31})
        if not ids:
            return {}
        items = list(db.session.scalars(select(self.model).where(self.model.id.in_(ids)).options(*self.batch_load)
                                        .execution_options(populate_existing=True)))
        loaded = Loaded((item.id, item) for item in items)
        related = [r.key for r in sa_inspect(self.model).relationships]
        loaded.kept = [value for item in items for key in related
                       if (value := sa_inspect(item).dict.get(key)) is not None]  # held while `enter` rereads items
        loaded.kept += self.prepare_batch(items) or []
        return loaded

    def prepare_batch(self, items: list) -> list:
        """Read ahead, in a few queries, what deciding these items will read row by row (a machine's hook); returns
        the rows read, which the batch keeps referenced (the session holds its rows weakly)."""
        return []

    def _batch(self, ids: list[int], step: Callable[[Any], Transition],
               loader: Callable[[int], Any] | None = None) -> tuple[int, list[tuple[int, str]]]:
        """Take `step` on each item in one transaction, each item in a savepoint of its own: an item that is refused
        (state, role, scope, own item: the checks `enter` makes) or loses a race is rolled back to its savepoint and
        listed with its message, and the others go on. Items are taken in id order (two batches lock rows in the
        same order); their audit rows are written with them and their notifications together at the end
        (`notifications.deferred`), all committed at once. Returns (done, [(id, error)]) in the order of `ids`."""
        order = list(dict.fromkeys(ids))
        done, failed, entered = 0, {}, []
        if _BATCH_AUDITS in db.session.info:
            raise RuntimeError("a batch inside a batch")
        with transaction():
            _begin_for_savepoints()
            items = ({i: loader(i) for i in order} if loader else self.load_many(order))
            audits = db.session.info[_BATCH_AUDITS] = []
            try:
                with notifications.deferred() as events:
                    for item_id in sorted(order):
                        item = items.get(item_id)
                        if item is None:
                            failed[item_id] = str(_l("Record not found."))
                            continue
                        transition, error = self._in_savepoint(item, step, events, audits)
                        if error is not None:
                            failed[item_id] = error
                        else:
                            entered.append((item, transition))
                            done += 1
                    _write_audits(audits)  # their ids key the notifications written next
            finally:
                db.session.info.pop(_BATCH_AUDITS, None)
        for item, transition in entered:
            self.after_commit(item, transition)
        return done, [(i, failed[i]) for i in order if i in failed]

    def _in_savepoint(self, item, step: Callable[[Any], Transition], events: list,
                      audits: list) -> tuple[Transition | None, str | None]:
        for attempt in (1, 2):
            marks = len(events), len(audits)
            try:
                with db.session.begin_nested():
                    return step(item), None
            except DomainError as exc:
                del events[marks[0]:], audits[marks[1]:]
                db.session.expire(item)  # the row is as it was before the savepoint, not as the refused step left it
                return None, str(exc.message)
            except DBAPIError as exc:
                del events[marks[0]:], audits[marks[1]:]
                db.session.expire(item)
                if isinstance(exc, IntegrityError):  # a row raced in against a unique index
                    return None, str(CLASHED)
                if getattr(exc.orig, "sqlstate", None) not in RETRY_SQLSTATES:
                    raise
                if attempt == 2:
                    return None, str(CLASHED)
        return None, str(CLASHED)  # pragma: no cover - the loop returns


AUDIT_CHUNK = 500  # rows per INSERT (15 values a row: within SQLite's and PostgreSQL's parameter limits)


def _write_audits(entries: list[AuditLog]) -> None:
    """Insert a batch's audit rows with one multi-row INSERT (per AUDIT_CHUNK rows) and give each entry its id. Rows
    come back matched on what they record (object, action): two entries alike in all of that may swap ids, which
    tells them apart all the same."""
    mapper = sa_inspect(AuditLog)
    columns = [(c.key, mapper.get_property_by_column(c).key) for c in AuditLog.__table__.columns if not c.primary_key]
    for start in range(0, len(entries), AUDIT_CHUNK):
        chunk = entries[start:start + AUDIT_CHUNK]
        rows = [{column: getattr(e, attribute) for column, attribute in columns} for e in chunk]
        returned = db.session.execute(insert(AuditLog).values(rows).returning(
            AuditLog.id, AuditLog.object_type, AuditLog.object_id, AuditLog.action)).all()
        ids: dict[tuple, list[int]] = {}
        for row in sorted(returned, key=lambda r: r.id):
            ids.setdefault((row.object_type, row.object_id, row.action), []).append(row.id)
        for e in chunk:
            e.id = ids[(e.object_type, e.object_id, e.action)].pop(0)


class Loaded(dict):
    """A batch's items by id, and the rows read ahead for them (`kept`)."""

    kept: list = []


def _begin_for_savepoints() -> None:
    """SQLite's driver opens a transaction only before a write, so a batch's first SAVEPOINT would open one of its
    own that its RELEASE commits: each item would commit alone, apart from the batch's notifications. Open the
    transaction first (PostgreSQL has one open already)."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
