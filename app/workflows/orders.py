"""Orders of paid classes (P12): 待支付 → 已支付 / 已取消 / 已退款, paid through a payment provider (app/payments.py).

The order machine:

    pending --pay-->    paid        a step of the provider's callback (FOLLOWS): the learner is enrolled in the
                                    same transaction, exactly once
    pending --cancel--> cancelled   the learner
    pending --expire--> cancelled   ORDER_TIMEOUT_MINUTES after the order was placed (FOLLOWS: a step of any use
                                    case that finds the order overdue)
    paid    --refund--> refunded    the admin of the class's base or an HR admin covering it, with a reason, only
                                    while the learner has not started: the enrolment row is then deleted in the same
                                    transaction (audited as enrolment.withdraw) — the enrolment machine has no
                                    state for "ended", and a learner with no progress has nothing to keep

Every callback is kept as a PaymentNotice with its outcome, accepted or refused; a refusal changes no order and no
enrolment and is audited (payment.refused). The provider is answered "success" when the notice was taken (paid, a
repeat of a payment already recorded, a notice that reports no payment) and "fail" otherwise.

Expiry is applied when the order is next looked at (我的订单, the pay page, the provider's page, a new order of the
same class) and by `expire_overdue()` for all (for a periodic job). A notice for an order still pending pays it even
past the timeout: the provider takes money only while its QR code is valid, and its notice may come late. A notice
for an order already cancelled is refused (recorded as order_cancelled, with the provider's transaction id in the
stored body): that money is to be returned by hand.
"""
from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import payments
from ..extensions import db
from ..models import (ClassOrder, Enrolment, LessonProgress, OnlineClass, OrderState, Org, PaymentNotice, Person,
                      RoleName, SectionProgress)
from .base import (APPLICANT, FOLLOWS, Actor, ConcurrentTransition, DomainError, PermissionDenied, StateMachine,
                   Transition, audit, now, transaction)
from .learning import check_open, enrol, enrolment_of
from .pending import lock_person

S = OrderState
ORDER_ADMINS = frozenset({RoleName.BASE_ADMIN, RoleName.HR_ADMIN})


def covers_base(base: Org, actor: Actor) -> bool:
    """Whether the actor answers for a class of this base: the base's admin, or an HR admin whose subtree holds it."""
    if actor.role == RoleName.BASE_ADMIN:
        return actor.org_id is not None and actor.org_id == base.id
    return actor.role == RoleName.HR_ADMIN and actor.covers(base.path)


class OrderMachine(StateMachine):
    model = ClassOrder
    object_type = "class_order"
    initial = (S.PENDING,)
    transitions = (
        Transition(S.PENDING, "pay", S.PAID, frozenset({FOLLOWS})),
        Transition(S.PENDING, "cancel", S.CANCELLED, frozenset({APPLICANT})),
        Transition(S.PENDING, "expire", S.CANCELLED, frozenset({FOLLOWS})),
        Transition(S.PAID, "refund", S.REFUNDED, ORDER_ADMINS),
    )
    reason_required = frozenset({"refund"})

    def in_scope(self, item: ClassOrder, actor: Actor) -> bool:
        return covers_base(item.online_class.base, actor)

    def is_owner(self, item: ClassOrder, actor: Actor) -> bool:
        return (actor.user_id is not None and actor.role == RoleName.PROFESSIONAL
                and item.person.user_id == actor.user_id)

    def lock(self, item: ClassOrder, action: str) -> bool:
        """A refund ends the enrolment: lock it first, so a heartbeat's first progress row (whose foreign key
        takes a share lock on the enrolment) either committed before the check or waits until the refund is done."""
        if action != "refund":
            return False
        db.session.execute(select(Enrolment.id).where(Enrolment.order_id == item.id).with_for_update())
        return True

    def on_enter(self, item: ClassOrder, transition: Transition, actor: Actor, comment: str | None) -> None:
        if transition.action in ("cancel", "expire", "refund"):
            item.reason = comment


machine = OrderMachine()


# ---------------------------------------------------------------- the learner

def _person_of(actor: Actor) -> Person:
    person = db.session.scalar(select(Person).where(Person.user_id == actor.user_id)) if actor.user_id else None
    if person is None or actor.role != RoleName.PROFESSIONAL:
        raise PermissionDenied(_l("You do not have permission to do this."))
    return person


def timeout() -> datetime.timedelta:
    return datetime.timedelta(minutes=current_app.config["ORDER_TIMEOUT_MINUTES"])


def overdue(order: ClassOrder, at: datetime.datetime | None = None) -> bool:
    return order.state == S.PENDING.value and order.created_at + timeout() <= (at or now())


def expires_at(order: ClassOrder) -> datetime.datetime:
    return order.created_at + timeout()


def new_number() -> str:
    """A merchant order number: the time it was placed and 10 random digits (not guessable from another's)."""
    return f"{now():%Y%m%d%H%M%S}{secrets.randbelow(10 ** 10):010d}"


def place_order(online_class: OnlineClass, actor: Actor) -> ClassOrder:
    """Order a paid class: it must be open, the learner not enrolled yet; a pending order of the same learner and
    class is reused (one at a time, under the person's lock). The amount is the class's price now."""
    person = _person_of(actor)
    with transaction():
        lock_person(person.id)
        check_open(online_class)
        if online_class.free:
            raise DomainError(_l("This class is free: enrol in it directly."))
        if enrolment_of(person.id, online_class.id) is not None:
            raise DomainError(_l("You are already enrolled in this class."))
        pending = db.session.scalars(select(ClassOrder).where(
            ClassOrder.person_id == person.id, ClassOrder.class_id == online_class.id,
            ClassOrder.state == S.PENDING.value).order_by(ClassOrder.id)).all()
        for order in pending:
            if overdue(order):
                machine.enter(order, "expire", actor, follows=True)
            else:
                return order
        order = ClassOrder(number=new_number(), person_id=person.id, class_id=online_class.id,
                           amount=Decimal(online_class.price), provider=payments.provider().name)
        machine.open(order, actor, action="place", commit=False)
    return order


def cancel(order: ClassOrder, actor: Actor) -> ClassOrder:
    return machine.apply(order, "cancel", actor)


def expire_overdue(person_id: int | None = None, at: datetime.datetime | None = None) -> int:
    """Cancel the pending orders placed more than ORDER_TIMEOUT_MINUTES ago (of one person, or all); each its own
    transaction, a racing payment or cancel simply wins. Returns how many expired."""
    limit = (at or now()) - timeout()
    stmt = select(ClassOrder).where(ClassOrder.state == S.PENDING.value, ClassOrder.created_at <= limit)
    if person_id is not None:
        stmt = stmt.where(ClassOrder.person_id == person_id)
    done = 0
    system = Actor(None, "system")
    for order in db.session.scalars(stmt.order_by(ClassOrder.id).limit(1000)).all():
        try:
            with transaction():
                machine.enter(order, "expire", system, follows=True)
            done += 1
        except ConcurrentTransition:
            continue
    return done


def mine(actor: Actor) -> list[ClassOrder]:
    """我的订单: the learner's orders, newest first (overdue pending orders expire first)."""
    person = _person_of(actor)
    expire_overdue(person.id)
    return list(db.session.scalars(select(ClassOrder).options(selectinload(ClassOrder.online_class)).where(
        ClassOrder.person_id == person.id).order_by(ClassOrder.id.desc()).limit(500)))


def own_order(order_id: int, actor: Actor) -> ClassOrder | None:
    """The learner's own order `order_id` (None for another's: the page is then not found)."""
    order = db.session.get(ClassOrder, order_id)
    if order is None or not machine.is_owner(order, actor):
        return None
    if overdue(order):
        expire_overdue(order.person_id)
        db.session.refresh(order)
    return order


def payment_request(order: ClassOrder) -> payments.PaymentRequest:
    return payments.provider(order.provider).create_payment(order)


def order_by_number(number: str) -> ClassOrder | None:
    if not payments.ORDER_NUMBER_RE.match(number or ""):
        return None
    return db.session.scalar(select(ClassOrder).where(ClassOrder.number == number))


# ---------------------------------------------------------------- the provider's callback

PAID, DUPLICATE = "paid", "duplicate"
REFUSED = {"replayed", "malformed", "forged", "unknown_order", "amount_mismatch", "order_cancelled",
           "order_refunded", "not_paid", "transaction_reused"}


@dataclass
class CallbackResult:
    outcome: str
    order: ClassOrder | None = None

    @property
    def ok(self) -> bool:
        """Whether the provider is told "success" (the notice was taken and need not be sent again)."""
        return self.outcome in (PAID, DUPLICATE, "not_paid")


def _printable(body: bytes) -> str:
    """The body as stored: decoded, invisible characters escaped, capped (whatever a stranger sent)."""
    text = body[:payments.MAX_BODY].decode("utf-8", "replace")
    return "".join(c if c.isprintable() or c == " " else f"\\u{ord(c):04x}" for c in text)


def _record(provider_name: str, nonce: str | None, order_number: str | None, body: bytes, outcome: str,
            actor: Actor, order: ClassOrder | None = None) -> None:
    """Keep the notice (in the caller's transaction). Only an authentic notice keeps its nonce as the unique key:
    another gets a key of its own (with ':'), so a forged notice cannot take a nonce the provider will use."""
    key = nonce if nonce and outcome not in ("replayed", "malformed", "forged") else \
        f"{outcome[:8]}:{secrets.token_hex(16)}"
    db.session.add(PaymentNotice(provider=provider_name[:20], nonce=key, order_number=(order_number or "")[:32] or None,
                                 body=_printable(body), outcome=outcome))
    if outcome in REFUSED:
        audit(actor, "payment.refused", object_type="class_order", object_id=order.id if order else None,
              comment=f"{outcome} {order_number or ''}".strip(), result="refused")


def _refuse(provider_name, nonce, number, body, outcome, actor, order=None) -> CallbackResult:
    db.session.rollback()
    with transaction():
        _record(provider_name, nonce, number, body, outcome, actor, order)
    return CallbackResult(outcome, order)


def handle_callback(provider_name: str, body: bytes, headers) -> CallbackResult:
    """The provider's notice that an order was paid. In order: a replayed nonce is refused before anything else;
    then a body that is not a notice, a forged signature, an unknown order, a cancelled or refunded order, an
    amount other than the order's. An authentic notice for a pending order pays it and enrols the learner in the
    same transaction; two racing notices make one payment and one enrolment (the conditional update of the order's
    state, the unique enrolment per class and person). Every notice is kept with its outcome."""
    actor = Actor(None, f"payment:{provider_name}"[:60])
    provider = payments.provider_named(provider_name)
    if provider is None:
        return CallbackResult("unknown_provider")
    nonce = provider.nonce_of(body, headers)
    if nonce and db.session.scalar(select(exists().where(PaymentNotice.nonce == nonce))):
        return _refuse(provider.name, None, None, body, "replayed", actor)
    try:
        notice = provider.parse_callback(body, headers)
    except payments.MalformedCallback:
        return _refuse(provider.name, None, None, body, "malformed", actor)
    if not provider.verify_callback(body, headers):
        return _refuse(provider.name, None, notice.order_number, body, "forged", actor)
    number = notice.order_number
    try:
        with transaction():
            order = db.session.scalar(select(ClassOrder).where(ClassOrder.number == number).with_for_update()
                                     .execution_options(populate_existing=True))
            outcome = _check(order, notice, provider.name)
            if outcome == PAID:
                machine.enter(order, "pay", actor, follows=True,
                              values={"provider_ref": notice.transaction_id, "paid_at": now()})
                enrol(order.online_class, order.person, actor, order=order)
            if outcome not in REFUSED:
                _record(provider.name, notice.nonce, number, body, outcome, actor, order)
        if outcome in REFUSED:
            return _refuse(provider.name, notice.nonce, number, body, outcome, actor, order)
        return CallbackResult(outcome, order)
    except ConcurrentTransition:  # a racing notice paid it, or the learner cancelled it, a moment ago
        order = order_by_number(number)
        outcome = _check(order, notice, provider.name)
        if outcome == DUPLICATE:
            with transaction():
                _record(provider.name, notice.nonce, number, body, DUPLICATE, actor, order)
            return CallbackResult(DUPLICATE, order)
        return _refuse(provider.name, notice.nonce, number, body,
                       outcome if outcome in REFUSED else "transaction_reused", actor, order)
    except IntegrityError:  # the same nonce raced in, or the transaction id belongs to another order
        db.session.rollback()
        if db.session.scalar(select(exists().where(PaymentNotice.nonce == notice.nonce))):
            return _refuse(provider.name, None, number, body, "replayed", actor)
        return _refuse(provider.name, notice.nonce, number, body, "transaction_reused", actor)


def _check(order: ClassOrder | None, notice: payments.CallbackNotice, provider_name: str) -> str:
    if order is None or order.provider != provider_name:
        return "unknown_order"
    if not notice.succeeded:
        return "not_paid"
    if order.state == S.PAID.value:
        return DUPLICATE if order.provider_ref == notice.transaction_id else "transaction_reused"
    if order.state == S.CANCELLED.value:
        return "order_cancelled"
    if order.state == S.REFUNDED.value:
        return "order_refunded"
    if notice.amount != Decimal(order.amount).quantize(Decimal("0.01")):
        return "amount_mismatch"
    return PAID


# ---------------------------------------------------------------- refunds (the base, the HR bureau)

def started(order: ClassOrder) -> bool:
    """Whether the learner has begun the class the order paid for: any lesson or section progress."""
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.order_id == order.id))
    if enrolment is None:
        return False
    return bool(db.session.scalar(select(exists().where(LessonProgress.enrolment_id == enrolment.id)))
                or db.session.scalar(select(exists().where(SectionProgress.enrolment_id == enrolment.id))))


def refund(order: ClassOrder, actor: Actor, reason: str | None) -> ClassOrder:
    """Give the money back and end the enrolment: only before the learner has started (no progress at all), with a
    reason. The enrolment row is deleted in the same transaction (audited), then the provider refunds; a refused
    refund at the provider rolls everything back."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_l("A reason is required to refund."), field="reason")
    with transaction():
        machine.enter(order, "refund", actor, reason)
        if started(order):
            raise DomainError(_l("The learner has already started this class: it can no longer be refunded."))
        enrolment = db.session.scalar(select(Enrolment).where(Enrolment.order_id == order.id))
        if enrolment is not None:
            audit(actor, "enrolment.withdraw", object_type="enrolment", object_id=enrolment.id,
                  from_state=enrolment.state, comment=f"refund {order.number}")
            db.session.delete(enrolment)
        try:
            ref = payments.provider(order.provider).refund(order, reason)
        except payments.RefundFailed as exc:
            raise DomainError(_l("The payment provider refused the refund. Please try again later.")) from exc
        audit(actor, "payment.refund", object_type="class_order", object_id=order.id, comment=ref[:200])
    return order


def can_refund(order: ClassOrder, actor: Actor) -> bool:
    return order.id in refundable([order], actor)


def refundable(orders: list[ClassOrder], actor: Actor) -> set[int]:
    """The ids of the orders this actor may refund now (can_refund for a list: one query for whether their
    learners have started, not three per order)."""
    allowed = []
    for order in orders:
        try:
            machine.check(order, "refund", actor)
        except DomainError:
            continue
        allowed.append(order.id)
    if not allowed:
        return set()
    begun = set(db.session.scalars(select(Enrolment.order_id).where(
        Enrolment.order_id.in_(allowed),
        exists().where(LessonProgress.enrolment_id == Enrolment.id)
        | exists().where(SectionProgress.enrolment_id == Enrolment.id))))
    return set(allowed) - begun


def class_in_scope(class_id: int, actor: Actor) -> OnlineClass | None:
    """The class, if its orders are this actor's to see: the admin of its base, or an HR admin covering the base."""
    online_class = db.session.get(OnlineClass, class_id)
    if online_class is None or not covers_base(db.session.get(Org, online_class.base_id), actor):
        return None
    return online_class


def order_in_scope(order_id: int, actor: Actor) -> ClassOrder | None:
    order = db.session.get(ClassOrder, order_id)
    return order if order is not None and class_in_scope(order.class_id, actor) is not None else None


def of_class(online_class: OnlineClass) -> list[ClassOrder]:
    """The orders of a class, newest first (the caller has checked the scope with `class_in_scope`)."""
    return list(db.session.scalars(select(ClassOrder).options(selectinload(ClassOrder.person)).where(
        ClassOrder.class_id == online_class.id).order_by(ClassOrder.id.desc()).limit(1000)))
