"""Online learning (P12, state machine 7): enrolment, progress by heartbeats, pop-up questions, section quizzes,
completion and the automatic credit of a completed class's hours."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import clock
from ..extensions import db
from ..models import ClassOrder, ClassState, Enrolment, EnrolmentState, OnlineClass, Person
from .base import FOLLOWS, Actor, DomainError, StateMachine, Transition

E = EnrolmentState


class EnrolmentMachine(StateMachine):
    """A learner's enrolment: studying → completed. Completion is a step of the learning use case (the last
    section passed), never an action of its own."""

    model = Enrolment
    object_type = "enrolment"
    initial = (E.STUDYING,)
    transitions = (Transition(E.STUDYING, "complete", E.COMPLETED, frozenset({FOLLOWS})),)

    def in_scope(self, item: Enrolment, actor: Actor) -> bool:
        return False

    def is_owner(self, item: Enrolment, actor: Actor) -> bool:
        return item.person.user_id == actor.user_id


enrolment_machine = EnrolmentMachine()


def check_open(online_class: OnlineClass) -> None:
    """A class takes enrolments (free) and orders (paid) while it is published and today lies in its window."""
    if online_class.state != ClassState.PUBLISHED.value:
        raise DomainError(_l("This class is not open for enrolment."))
    today = clock.today()
    if today < online_class.enrol_start:
        raise DomainError(_l("Enrolment for this class has not started yet."))
    if today > online_class.enrol_end:
        raise DomainError(_l("Enrolment for this class has closed."))


def enrolment_of(person_id: int, class_id: int) -> Enrolment | None:
    return db.session.scalar(select(Enrolment).where(Enrolment.person_id == person_id,
                                                     Enrolment.class_id == class_id))


def enrol(online_class: OnlineClass, person: Person, actor: Actor | None, *,
          order: ClassOrder | None = None) -> Enrolment:
    """Put a person in a class, inside the caller's transaction (nothing is committed). A free class is enrolled
    directly (the class must be open); a paid class only through its paid order (`order`), whose window was
    checked when it was placed. A person already enrolled keeps their enrolment (returned as is); the unique
    (class, person) index turns a racing second enrolment into an IntegrityError for the caller's transaction."""
    existing = enrolment_of(person.id, online_class.id)
    if existing is not None:
        return existing
    if order is None:
        if not online_class.free:
            raise DomainError(_l("This class must be paid for before you can study it."))
        check_open(online_class)
    item = Enrolment(class_id=online_class.id, person_id=person.id, order_id=order.id if order else None)
    return enrolment_machine.open(item, actor, action="enrol", commit=False)
