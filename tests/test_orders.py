"""Orders of paid classes and their payment (issue 11, P12): the order machine's grid, placing an order, the provider's
signed asynchronous callback (forged, replayed, changed amount, cancelled or unknown order: refused, nothing
enrolled; a paid order enrols exactly once, also when two notices race on PostgreSQL), cancel, expiry, refunds,
and the learner's scope over the pages."""
from __future__ import annotations

import datetime
import json
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from app import payments
from app.extensions import db
from app.models import (AuditLog, ClassCourse, ClassOrder, ClassSection, Enrolment, Lesson, LessonProgress, OrderState,
                        OrgKind, PaymentNotice, RoleName)
from app.workflows import orders as flow
from app.workflows.base import Actor, DomainError, PermissionDenied, TransitionNotAllowed, now
from tests import factories
from tests.helpers import log_in, make_person, page, person_of

R = RoleName
S = OrderState
NOTIFY = "/pay/notify/simulated"


@pytest.fixture()
def shop(fast_world):
    """A paid class of the world's base and a learner of the unit."""
    world = fast_world
    world.paid = factories.make_online_class(world.base, world.city)
    world.learner = make_person("购课学员", world.unit)
    world.learner_actor = factories.actor_for(world.learner, R.PROFESSIONAL, world.unit)
    return world


def order_of(world, account=None) -> ClassOrder:
    account = account or world.learner
    return flow.place_order(world.paid, factories.actor_for(account, R.PROFESSIONAL, world.unit))


def notice(order, **changes) -> tuple[bytes, dict]:
    """The simulated provider's signed notice for `order`, with fields changed and signed again."""
    sim = payments.SimulatedProvider()
    body, headers = sim.notice(order)
    if changes:
        fields = {**json.loads(body), **changes}
        body = json.dumps(fields).encode()
        headers = {**headers, sim.header: sim.sign(fields)}
    return body, headers


def post_notice(client, body, headers):
    return client.post(NOTIFY, data=body, headers=headers)


def order_row(order_id):
    return db.session.execute(select(ClassOrder.state, ClassOrder.provider_ref, ClassOrder.paid_at).where(
        ClassOrder.id == order_id)).one()


def enrolments(world) -> int:
    return db.session.scalar(select(func.count(Enrolment.id)).where(Enrolment.class_id == world.paid.id))


def outcomes() -> list[str]:
    return list(db.session.scalars(select(PaymentNotice.outcome).order_by(PaymentNotice.id)))


def refusals() -> list[str]:
    return list(db.session.scalars(select(AuditLog.comment).where(AuditLog.action == "payment.refused")
                                   .order_by(AuditLog.id)))


def set_state(order, state: S, **values) -> None:
    """A fixture writes the state the test starts from."""
    db.session.execute(update(ClassOrder).where(ClassOrder.id == order.id).values(
        {ClassOrder.state: state.value, **values}))
    db.session.commit()
    db.session.refresh(order)


# ---------------------------------------------------------------- the order machine: every state × every action

ALLOWED = {(S.PENDING, "pay"), (S.PENDING, "cancel"), (S.PENDING, "expire"), (S.PAID, "refund")}
TARGET = {"pay": S.PAID, "cancel": S.CANCELLED, "expire": S.CANCELLED, "refund": S.REFUNDED}


@pytest.mark.parametrize("state", list(S), ids=[s.value for s in S])
@pytest.mark.parametrize("action", ["pay", "cancel", "expire", "refund"])
def test_grid_of_states_and_actions(shop, state, action):
    order = order_of(shop)
    set_state(order, state, paid_at=now() if state != S.PENDING else None)
    base_admin = factories.actor_for(shop.base_admin, R.BASE_ADMIN, shop.base)
    before = len(list(db.session.scalars(select(AuditLog.id))))

    def run():
        if action == "pay":
            with flow.transaction():
                flow.machine.enter(order, "pay", None, follows=True)
        elif action == "expire":
            with flow.transaction():
                flow.machine.enter(order, "expire", None, follows=True)
        elif action == "cancel":
            flow.cancel(order, shop.learner_actor)
        else:
            flow.refund(order, base_admin, "学员申请退款")

    if (state, action) in ALLOWED:
        run()
        assert order_row(order.id).state == TARGET[action].value
        assert db.session.scalar(select(AuditLog.to_state).where(AuditLog.action == f"class_order.{action}")) \
            == TARGET[action].value
    else:
        with pytest.raises(TransitionNotAllowed):
            run()
        assert order_row(order.id).state == state.value
        assert len(list(db.session.scalars(select(AuditLog.id)))) == before


@pytest.mark.parametrize("action", ["pay", "expire"])
def test_steps_of_other_use_cases_are_nobodys_action(shop, action):
    """pay and expire are taken only as steps (the callback, the timeout): no role takes them by itself."""
    order = order_of(shop)
    for actor in (shop.learner_actor, factories.actor_for(shop.base_admin, R.BASE_ADMIN, shop.base),
                  factories.actor_for(shop.city_admin, R.HR_ADMIN, shop.city)):
        with pytest.raises(PermissionDenied):
            flow.machine.apply(order, action, actor)
    assert order_row(order.id).state == S.PENDING.value


# ---------------------------------------------------------------- placing an order

def test_order_takes_the_price_of_the_moment_and_is_reused_while_pending(shop):
    order = order_of(shop)
    assert order.state == S.PENDING.value and order.amount == Decimal("128.00") and order.provider == "simulated"
    assert len(order.number) == 24 and order.number.isdigit()
    shop.paid.price = Decimal("150.00")
    db.session.commit()
    again = order_of(shop)
    assert again.id == order.id and again.amount == Decimal("128.00")  # one pending order per person and class
    other = order_of(shop, make_person("另一位学员", shop.unit))
    assert other.id != order.id and other.amount == Decimal("150.00") and other.number != order.number


@pytest.mark.parametrize("case", ["free", "draft", "closed", "window over", "enrolled"])
def test_an_order_is_refused_when_the_class_cannot_be_bought(shop, case):
    if case == "free":
        shop.paid.price = Decimal("0")
    elif case in ("draft", "closed"):
        db.session.execute(update(type(shop.paid)).where(type(shop.paid).id == shop.paid.id).values(
            {type(shop.paid).state: case}))
    elif case == "window over":
        shop.paid.enrol_end = shop.paid.enrol_start
    else:
        order = order_of(shop)
        assert flow.handle_callback("simulated", *notice(order)).outcome == "paid"
    db.session.commit()
    db.session.refresh(shop.paid)
    before = db.session.scalar(select(func.count(ClassOrder.id)))
    with pytest.raises(DomainError):
        order_of(shop)
    assert db.session.scalar(select(func.count(ClassOrder.id))) == before


def test_only_a_professional_places_orders(shop):
    with pytest.raises(PermissionDenied):
        flow.place_order(shop.paid, factories.actor_for(shop.base_admin, R.BASE_ADMIN, shop.base))
    assert db.session.scalar(select(func.count(ClassOrder.id))) == 0


# ---------------------------------------------------------------- the provider's callback

def test_a_paid_notice_pays_the_order_and_enrols_the_learner_once(client, shop):
    order = order_of(shop)
    body, headers = notice(order)
    response = post_notice(client, body, headers)
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    row = order_row(order.id)
    assert row.state == S.PAID.value and row.provider_ref == f"SIM{order.number}" and row.paid_at is not None
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.order_id == order.id))
    assert enrolment.person_id == person_of(shop.learner).id and enrolments(shop) == 1
    # the provider sends its notice again (a new nonce, the same transaction): acknowledged, nothing more happens
    assert post_notice(client, *notice(order)).get_data(as_text=True) == "success"
    assert enrolments(shop) == 1 and outcomes() == ["paid", "duplicate"]
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "class_order.pay")) == 1


def test_a_forged_signature_is_refused(client, shop):
    order = order_of(shop)
    body, headers = notice(order)
    forged = {**headers, "X-Sim-Signature": "0" * 64}
    assert post_notice(client, body, forged).get_data(as_text=True) == "fail"
    # a notice signed with another key
    other = json.loads(body)
    import hashlib
    import hmac
    bad = hmac.new(b"guessed-secret", payments.canonical(other), hashlib.sha256).hexdigest()
    assert post_notice(client, body, {**headers, "X-Sim-Signature": bad}).get_data(as_text=True) == "fail"
    assert post_notice(client, body, {"Content-Type": "application/json"}).get_data(as_text=True) == "fail"
    assert order_row(order.id).state == S.PENDING.value and enrolments(shop) == 0
    assert outcomes() == ["forged", "forged", "forged"] and len(refusals()) == 3
    # the forged notices did not take the nonce: the provider's real notice with it still pays
    assert post_notice(client, body, headers).get_data(as_text=True) == "success"
    assert enrolments(shop) == 1


def test_a_replayed_notice_is_refused(client, shop):
    order = order_of(shop)
    body, headers = notice(order)
    assert post_notice(client, body, headers).get_data(as_text=True) == "success"
    for _ in range(2):
        assert post_notice(client, body, headers).get_data(as_text=True) == "fail"
    assert outcomes() == ["paid", "replayed", "replayed"] and enrolments(shop) == 1
    # replayed after a refund: the order stays refunded and nobody is enrolled again
    flow.refund(order, factories.actor_for(shop.base_admin, R.BASE_ADMIN, shop.base), "学员申请退款")
    assert post_notice(client, body, headers).get_data(as_text=True) == "fail"
    assert order_row(order.id).state == S.REFUNDED.value and enrolments(shop) == 0


def test_a_changed_amount_is_refused(client, shop):
    order = order_of(shop)
    body, headers = notice(order)
    tampered = body.replace(b'"128.00"', b'"0.01"')
    assert tampered != body
    assert post_notice(client, tampered, headers).get_data(as_text=True) == "fail"  # the signature no longer fits
    # signed by the provider, but for another amount than the order's
    assert post_notice(client, *notice(order, amount="0.01")).get_data(as_text=True) == "fail"
    assert post_notice(client, *notice(order, amount="128.01")).get_data(as_text=True) == "fail"
    assert outcomes() == ["forged", "amount_mismatch", "amount_mismatch"]
    assert order_row(order.id).state == S.PENDING.value and enrolments(shop) == 0
    assert all(c.startswith(("forged", "amount_mismatch")) for c in refusals())


def test_the_amount_is_the_orders_not_the_current_price(client, shop):
    order = order_of(shop)
    shop.paid.price = Decimal("99.00")
    db.session.commit()
    assert post_notice(client, *notice(order, amount="99.00")).get_data(as_text=True) == "fail"
    assert post_notice(client, *notice(order)).get_data(as_text=True) == "success"


@pytest.mark.parametrize("state,outcome", [(S.CANCELLED, "order_cancelled"), (S.REFUNDED, "order_refunded")])
def test_a_notice_for_a_cancelled_or_refunded_order_is_refused(client, shop, state, outcome):
    order = order_of(shop)
    set_state(order, state)
    assert post_notice(client, *notice(order)).get_data(as_text=True) == "fail"
    assert order_row(order.id).state == state.value and enrolments(shop) == 0
    assert outcomes() == [outcome]


def test_a_notice_for_an_unknown_order_or_provider_is_refused(client, shop):
    order = order_of(shop)
    assert post_notice(client, *notice(order, order_number="202612010000001234567890")).get_data(
        as_text=True) == "fail"
    assert outcomes() == ["unknown_order"]
    assert client.post("/pay/notify/alipay", data=notice(order)[0]).status_code == 404
    for junk in (b"", b"not json", b"[]", json.dumps({"order_number": order.number}).encode(), b"\xff\xfe" * 10):
        assert post_notice(client, junk, {"Content-Type": "application/json"}).get_data(as_text=True) == "fail"
    assert outcomes()[1:] == ["malformed"] * 5
    assert order_row(order.id).state == S.PENDING.value and enrolments(shop) == 0


def test_a_notice_that_is_not_a_success_changes_nothing(client, shop):
    order = order_of(shop)
    assert post_notice(client, *notice(order, status="CLOSED")).get_data(as_text=True) == "success"
    assert order_row(order.id).state == S.PENDING.value and enrolments(shop) == 0
    assert outcomes() == ["not_paid"]


def test_the_simulated_phone_pays_through_the_asynchronous_notice(client, shop):
    """The provider's page, its button (the phone): the signed notice arrives through the task queue as a request
    of its own, pays the order and enrols the learner; the learner's pay page then goes to the class."""
    order = order_of(shop)
    visitor = shop_client = client  # the provider's page needs no login
    html = page(visitor.get(f"/pay/sim/{order.number}"))
    assert "128.00" in html and "<svg" in html and 'id="sim-scan"' in html
    from tests.helpers import csrf_from
    response = visitor.post(f"/pay/sim/{order.number}", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 302
    assert order_row(order.id).state == S.PAID.value and enrolments(shop) == 1
    assert outcomes() == ["paid"]
    assert 'id="sim-scan"' not in page(shop_client.get(f"/pay/sim/{order.number}"))  # paid: no button any more
    assert visitor.get("/pay/sim/202612010000001234567890").status_code == 404
    assert visitor.get("/pay/sim/..%2Fx").status_code == 404


@pytest.mark.skipif(not __import__("os").environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_two_racing_notices_make_one_payment_and_one_enrolment(app, shop):
    order = order_of(shop)
    order_id = order.id
    notices = [notice(order) for _ in range(4)]  # the provider's retries: new nonces, the same transaction
    db.session.commit()
    barrier = threading.Barrier(len(notices))
    answers = []

    def send(body, headers):
        client = app.test_client()
        barrier.wait()
        answers.append(client.post(NOTIFY, data=body, headers=headers).get_data(as_text=True))

    threads = [threading.Thread(target=send, args=n) for n in notices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    assert answers == ["success"] * len(notices)
    assert order_row(order_id).state == S.PAID.value and enrolments(shop) == 1
    assert sorted(outcomes()) == ["duplicate"] * (len(notices) - 1) + ["paid"]
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "class_order.pay")) == 1


@pytest.mark.skipif(not __import__("os").environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_a_notice_racing_a_cancel_leaves_one_outcome(app, shop):
    """The learner cancels as the provider's notice arrives: either paid and enrolled, or cancelled and nobody
    enrolled — never a cancelled order with an enrolment."""
    for round_ in range(3):
        order = order_of(shop, make_person(f"赛跑学员{round_}", shop.unit))
        order_id, owner_id = order.id, order.person.user_id
        body, headers = notice(order)
        db.session.commit()
        barrier = threading.Barrier(2)
        answers = {}

        def pay():
            client = app.test_client()
            barrier.wait()
            answers["notice"] = client.post(NOTIFY, data=body, headers=headers).get_data(as_text=True)

        def cancel():
            with app.app_context():
                mine = db.session.get(ClassOrder, order_id)
                actor = Actor(owner_id, "学员", R.PROFESSIONAL, shop.unit.id, shop.unit.path)
                barrier.wait()
                try:
                    flow.cancel(mine, actor)
                    answers["cancel"] = "ok"
                except DomainError:
                    answers["cancel"] = "refused"
                db.session.remove()

        threads = [threading.Thread(target=pay), threading.Thread(target=cancel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        db.session.expire_all()
        state = order_row(order_id).state
        enrolled = db.session.scalar(select(func.count(Enrolment.id)).where(Enrolment.order_id == order_id))
        if state == S.PAID.value:
            assert answers == {"notice": "success", "cancel": "refused"} and enrolled == 1
        else:
            assert state == S.CANCELLED.value and answers == {"notice": "fail", "cancel": "ok"} and enrolled == 0


# ---------------------------------------------------------------- cancel and expiry

def test_the_learner_cancels_a_pending_order(client, shop):
    order = order_of(shop)
    token = log_in(client, shop.learner.username, R.PROFESSIONAL.value)
    assert client.post(f"/learning/order/{order.id}/cancel", data={"csrf_token": token}).status_code == 302
    assert order_row(order.id).state == S.CANCELLED.value
    assert post_notice(client, *notice(order)).get_data(as_text=True) == "fail"  # paid after cancelling: refused
    assert enrolments(shop) == 0
    # a new order can be placed after the cancelled one
    assert order_of(shop).id != order.id


def test_an_overdue_order_expires(client, shop, app):
    order = order_of(shop)
    late = order.created_at - datetime.timedelta(minutes=app.config["ORDER_TIMEOUT_MINUTES"] + 1)
    db.session.execute(update(ClassOrder).where(ClassOrder.id == order.id).values(created_at=late))
    db.session.commit()
    token = log_in(client, shop.learner.username, R.PROFESSIONAL.value)
    html = page(client.get("/learning/orders"))
    assert order_row(order.id).state == S.CANCELLED.value and order.number in html
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.object_type == "class_order",
                                                           AuditLog.to_state == "cancelled")) == "class_order.expire"
    assert 'id="sim-scan"' not in page(client.get(f"/pay/sim/{order.number}"))
    assert client.post(f"/learning/order/{order.id}/cancel", data={"csrf_token": token}).status_code == 302
    assert order_row(order.id).state == S.CANCELLED.value
    fresh = order_of(shop)
    assert fresh.id != order.id and fresh.state == S.PENDING.value


def test_expire_overdue_skips_orders_in_time(shop, app):
    order, other = order_of(shop), order_of(shop, make_person("另一位学员", shop.unit))
    at = now() + datetime.timedelta(minutes=app.config["ORDER_TIMEOUT_MINUTES"] - 1)
    assert flow.expire_overdue(at=at) == 0
    at = now() + datetime.timedelta(minutes=app.config["ORDER_TIMEOUT_MINUTES"] + 1)
    assert flow.expire_overdue(person_id=person_of(shop.learner).id, at=at) == 1
    assert order_row(order.id).state == S.CANCELLED.value and order_row(other.id).state == S.PENDING.value


# ---------------------------------------------------------------- refunds

def paid_order(shop) -> ClassOrder:
    order = order_of(shop)
    assert flow.handle_callback("simulated", *notice(order)).outcome == "paid"
    return order


def test_the_base_refunds_before_the_learner_starts(shop):
    order = paid_order(shop)
    enrolment_id = db.session.scalar(select(Enrolment.id).where(Enrolment.order_id == order.id))
    admin = factories.actor_for(shop.base_admin, R.BASE_ADMIN, shop.base)
    assert flow.can_refund(order, admin)
    with pytest.raises(DomainError):
        flow.refund(order, admin, "  ")  # a reason is required
    assert order_row(order.id).state == S.PAID.value and enrolments(shop) == 1
    flow.refund(order, admin, "学员申请退款")
    assert order_row(order.id).state == S.REFUNDED.value and enrolments(shop) == 0
    withdrawn = db.session.scalar(select(AuditLog).where(AuditLog.action == "enrolment.withdraw"))
    assert withdrawn.object_id == enrolment_id and withdrawn.from_state == "studying"
    assert db.session.scalar(select(ClassOrder.reason).where(ClassOrder.id == order.id)) == "学员申请退款"
    # the learner may buy the class again
    assert order_of(shop).state == S.PENDING.value


def test_an_hr_admin_covering_the_base_refunds_others_do_not(shop):
    order = paid_order(shop)
    other_base = factories.make_org(OrgKind.BASE, "乙区培训基地", shop.other_district)
    other_base_admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, other_base)])
    for actor in (factories.actor_for(other_base_admin, R.BASE_ADMIN, other_base),
                  factories.actor_for(shop.other_district_admin, R.HR_ADMIN, shop.other_district),
                  factories.actor_for(shop.unit_admin, R.UNIT_ADMIN, shop.unit),
                  shop.learner_actor):
        assert not flow.can_refund(order, actor)
        with pytest.raises(PermissionDenied):
            flow.refund(order, actor, "越权退款")
        assert order_row(order.id).state == S.PAID.value and enrolments(shop) == 1
    flow.refund(order, factories.actor_for(shop.city_admin, R.HR_ADMIN, shop.city), "基地停办")
    assert order_row(order.id).state == S.REFUNDED.value and enrolments(shop) == 0


def test_no_refund_once_the_learner_has_started(shop):
    order = paid_order(shop)
    course = ClassCourse(class_id=shop.paid.id, title="第一课")
    db.session.add(course)
    db.session.flush()
    section = ClassSection(course_id=course.id, title="第一节")
    db.session.add(section)
    db.session.flush()
    lesson = Lesson(section_id=section.id, title="视频一", duration=60)
    db.session.add(lesson)
    db.session.flush()
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.order_id == order.id))
    db.session.add(LessonProgress(enrolment_id=enrolment.id, lesson_id=lesson.id, watched=5))
    db.session.commit()
    admin = factories.actor_for(shop.base_admin, R.BASE_ADMIN, shop.base)
    assert not flow.can_refund(order, admin)
    with pytest.raises(DomainError):
        flow.refund(order, admin, "学员申请退款")
    assert order_row(order.id).state == S.PAID.value and enrolments(shop) == 1
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action.in_(
        ["class_order.refund", "enrolment.withdraw", "payment.refund"]))) == 0


# ---------------------------------------------------------------- the pages and their scope

def test_my_orders_and_the_pay_page(client, shop):
    token = log_in(client, shop.learner.username, R.PROFESSIONAL.value)
    response = client.post(f"/learning/order/{shop.paid.id}", data={"csrf_token": token})
    order = db.session.scalar(select(ClassOrder))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/learning/order/{order.id}/pay")
    html = page(client.get(f"/learning/order/{order.id}/pay"))
    assert "128.00" in html and "<svg" in html and f"/pay/sim/{order.number}" in html and "待支付" in html
    assert client.get(f"/learning/order/{order.id}/status").get_json()["state"] == "pending"
    html = page(client.get("/learning/orders"))
    assert order.number in html and shop.paid.title in html and "待支付" in html
    flow.handle_callback("simulated", *notice(order))
    status = client.get(f"/learning/order/{order.id}/status").get_json()
    assert status["state"] == "paid" and status["label"] == "已支付" and status["next"]
    assert client.get(f"/learning/order/{order.id}/pay").status_code == 302  # paid: to the class
    assert "已支付" in page(client.get("/learning/orders"))
    # ordering again: already enrolled
    client.post(f"/learning/order/{shop.paid.id}", data={"csrf_token": token})
    assert db.session.scalar(select(func.count(ClassOrder.id))) == 1


def test_a_learner_cannot_see_pay_or_cancel_anothers_order(client, shop):
    order = order_of(shop)
    intruder = make_person("别人的学员", shop.unit)
    token = log_in(client, intruder.username, R.PROFESSIONAL.value)
    for url in (f"/learning/order/{order.id}/pay", f"/learning/order/{order.id}/status"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/learning/order/{order.id}/cancel", data={"csrf_token": token}).status_code == 404
    assert order.number not in page(client.get("/learning/orders"))
    assert order_row(order.id).state == S.PENDING.value
    with pytest.raises(PermissionDenied):
        flow.cancel(order, factories.actor_for(intruder, R.PROFESSIONAL, shop.unit))
    assert order_row(order.id).state == S.PENDING.value


def test_a_class_that_does_not_exist_cannot_be_ordered(client, shop):
    token = log_in(client, shop.learner.username, R.PROFESSIONAL.value)
    assert client.post("/learning/order/999999", data={"csrf_token": token}).status_code == 404
    free = factories.make_online_class(shop.base, shop.city, "公需科目：免费课", price="0")
    response = client.post(f"/learning/order/{free.id}", data={"csrf_token": token})
    assert response.status_code == 302 and db.session.scalar(select(func.count(ClassOrder.id))) == 0


# ---------------------------------------------------------------- a class's orders: the base and the HR bureau

def test_the_base_refunds_from_the_class_orders_page(client, shop):
    order = paid_order(shop)
    token = log_in(client, shop.base_admin.username, R.BASE_ADMIN.value)
    html = page(client.get(f"/base/class-orders/{shop.paid.id}"))
    assert order.number in html and "购课学员" in html and "已支付" in html and 'class="btn btn-xs btn-danger' in html
    assert person_of(shop.learner).id_number not in html  # the ID number is masked
    # no reason: refused at the form, nothing changes
    client.post(f"/base/class-orders/refund/{order.id}", data={"csrf_token": token, "reason": ""})
    assert order_row(order.id).state == S.PAID.value and enrolments(shop) == 1
    response = client.post(f"/base/class-orders/refund/{order.id}", data={"csrf_token": token, "reason": "学员申请"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/base/class-orders/{shop.paid.id}")
    assert order_row(order.id).state == S.REFUNDED.value and enrolments(shop) == 0
    assert "已退款" in page(client.get(f"/base/class-orders/{shop.paid.id}"))


def test_another_base_and_another_district_do_not_reach_a_class_orders(client, shop):
    order = paid_order(shop)
    other_base = factories.make_org(OrgKind.BASE, "乙区培训基地", shop.other_district)
    other_admin = factories.make_account("乙区基地管理员", [(R.BASE_ADMIN, other_base)])
    from tests.helpers import cheap_passwords
    cheap_passwords()
    token = log_in(client, other_admin.username, R.BASE_ADMIN.value)
    assert client.get(f"/base/class-orders/{shop.paid.id}").status_code == 404
    assert client.post(f"/base/class-orders/refund/{order.id}",
                       data={"csrf_token": token, "reason": "越权退款"}).status_code == 404
    hr = factories.make_account("乙区人社审核员", [(R.HR_ADMIN, shop.other_district)])
    cheap_passwords()
    other = client.application.test_client()
    token = log_in(other, hr.username, R.HR_ADMIN.value)
    assert other.get(f"/review/class-orders/{shop.paid.id}").status_code == 404
    assert other.post(f"/review/class-orders/refund/{order.id}",
                      data={"csrf_token": token, "reason": "越权退款"}).status_code == 404
    assert order_row(order.id).state == S.PAID.value and enrolments(shop) == 1
    # the city HR bureau covers the base
    city = client.application.test_client()
    token = log_in(city, shop.city_admin.username, R.HR_ADMIN.value)
    assert order.number in page(city.get(f"/review/class-orders/{shop.paid.id}"))
    city.post(f"/review/class-orders/refund/{order.id}", data={"csrf_token": token, "reason": "基地停办"})
    assert order_row(order.id).state == S.REFUNDED.value and enrolments(shop) == 0


# ---------------------------------------------------------------- the notice through the real task queue

QUEUE_REDIS = "redis://127.0.0.1:6379/14"


@pytest.fixture()
def payment_queue(app, monkeypatch):
    """The app with a real RQ queue of its own on the machine's Redis (jobs wait for a worker)."""
    import uuid

    import redis

    try:
        redis.Redis.from_url(QUEUE_REDIS).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    name = f"test-pay-{uuid.uuid4().hex[:8]}"
    for key, value in {"TASKS_INLINE": False, "REDIS_URL": QUEUE_REDIS, "TASK_QUEUE": name}.items():
        monkeypatch.setitem(app.config, key, value)
    yield name
    connection = redis.Redis.from_url(QUEUE_REDIS)
    for key in connection.scan_iter(f"*{name}*"):
        connection.delete(key)


def test_the_phone_returns_before_the_notice_which_a_worker_delivers(client, shop, app, payment_queue):
    """Asynchronous like a real provider's notify_url: the phone's page answers at once with the order still
    pending; a `flask worker` process (another process, its own transaction) sends the signed notice, which pays."""
    from tests.helpers import csrf_from, run_worker_burst

    order = order_of(shop)
    html = page(client.get(f"/pay/sim/{order.number}"))
    assert client.post(f"/pay/sim/{order.number}", data={"csrf_token": csrf_from(html)}).status_code == 302
    assert order_row(order.id).state == S.PENDING.value and outcomes() == []  # queued, not delivered yet
    run_worker_burst(app, PAYMENT_SECRET=app.config["PAYMENT_SECRET"])
    db.session.expire_all()
    assert order_row(order.id).state == S.PAID.value and enrolments(shop) == 1 and outcomes() == ["paid"]
