"""The shared transition mechanism: declared transitions, role + scope re-check, conditional update, audit."""
from __future__ import annotations

import datetime
import enum
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

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


@dataclass(frozen=True)
class Transition:
    source: enum.Enum
    action: str
    target: enum.Enum
    allowed: frozenset = field(default_factory=frozenset)  # RoleName values and/or APPLICANT


def now() -> datetime.datetime:
    return datetime.datetime.now().replace(microsecond=0)


def audit(actor: Actor | None, action: str, *, object_type: str | None = None, object_id: int | None = None,
          from_state: str | None = None, to_state: str | None = None, comment: str | None = None,
          result: str = "ok") -> AuditLog:
    """Add one audit row to the current transaction (the caller commits)."""
    row = AuditLog(
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
    db.session.add(row)
    return row


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
            db.session.refresh(item)
            transition = self.check(item, action, actor, follows=follows)
        target_state, extra = self.resolve(item, transition)
        source, target = transition.source.value, target_state.value
        result = db.session.execute(
            update(self.model)
            .where(self.model.id == item.id, self.model.state == source)
            .values(state=target, **extra, **(values or {}))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise ConcurrentTransition(HANDLED)
        db.session.refresh(item)
        self.on_enter(item, transition, actor, comment)
        row = None
        if audit_as:
            row = audit(actor, audit_as if isinstance(audit_as, str) else f"{self.object_type}.{action}",
                        object_type=self.object_type, object_id=item.id, from_state=source, to_state=target,
                        comment=comment)
        self._notify(item, transition, actor, row)
        return transition

    def _notify(self, item, transition: Transition, actor: Actor | None, audit_row: AuditLog | None) -> None:
        """X2, in the transition's transaction: the messages `notify` returns and, for a machine with `queues`, the
        reviewers of the queue the item now waits in (see app/workflows/notifications.py). The event's key is the
        transition's audit row (or the instant), so one transition never notifies a person twice."""
        if not self.queues and type(self).notify is StateMachine.notify:
            return
        if audit_row is not None:
            db.session.flush()
            key = f"a{audit_row.id}"
        else:
            key = f"{transition.action}@{datetime.datetime.now().isoformat()}"
        notifications.record(self, item, transition, actor, key)

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
        """A reviewer's approve / reject of one item, through the step it means for this item."""
        return self.apply(item, self.decision_step(item, decision, actor), actor, reason)

    def decide_many(self, ids: list[int], action: str, actor: Actor, reason: str | None = None):
        """A reviewer's batch approve / reject (reason required to reject); returns (done, [(id, error)])."""
        if action not in ("approve", "reject"):
            raise DomainError(_l("Unknown action."))
        if action == "reject" and not (reason or "").strip():
            raise DomainError(_l("A reason is required to reject."), field="reason")
        return self._each(ids, lambda item: self.decide(item, action, actor, reason))

    def apply_many(self, ids: list[int], action: str, actor: Actor, comment: str | None = None,
                   loader: Callable[[int], Any] | None = None) -> tuple[int, list[tuple[int, str]]]:
        """Apply one action to many items, each in its own transaction; return (done, [(id, error)])."""
        return self._each(ids, lambda item: self.apply(item, action, actor, comment), loader)

    def _each(self, ids: list[int], act: Callable[[Any], Any],
              loader: Callable[[int], Any] | None = None) -> tuple[int, list[tuple[int, str]]]:
        done, failed = 0, []
        for item_id in ids:
            item = loader(item_id) if loader else (db.session.get(self.model, item_id) if 0 < item_id < 2 ** 31
                                                   else None)
            if item is None:
                failed.append((item_id, str(_l("Record not found."))))
                continue
            try:
                act(item)
                done += 1
            except DomainError as exc:
                failed.append((item_id, str(exc.message)))
        return done, failed
