"""Issue 11 in a real browser: a professional buys a paid class. 立即购买 on the class page places the order and opens
the pay page (QR code, amount, waiting for the payment); the simulated provider's page, opened as the phone would
(another browser, not logged in), pays; its signed notice reaches the platform through the task queue, the pay page
sees the order paid and goes to the class; 我的订单 shows it as 已支付.

Then the base's admin refunds it (the learner has not started) and the learner sees it 已退款.

Screenshots: test-artifacts/screenshots/80-pay-page.png, 81-sim-provider.png, 82-my-orders.png,
83-class-orders.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PROFESSIONAL, assert_chinese, assert_no_page_errors, login, logout

pytestmark = pytest.mark.e2e

TITLE = "专业科目：临床诊疗新进展"
BASE = "济南市专业技术人员继续教育基地"
BASE_ADMIN = ("370102198506060026", "孙基地")


@pytest.fixture()
def paid_class(app, live_server):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Org, OrgKind
    from tests import factories

    with app.app_context():
        base = db.session.scalar(select(Org).where(Org.kind == OrgKind.BASE.value, Org.name == BASE))
        item = factories.make_online_class(base, base.parent, TITLE, price="168.00")
        class_id = item.id
        db.session.remove()
    return class_id


def test_a_professional_buys_a_class_and_sees_it_paid(page: Page, new_page, shot, paid_class):
    login(page, PROFESSIONAL[0], "Professional")
    page.goto(f"/learning/classes/{paid_class}")
    page.click("#buy-btn")
    expect(page).to_have_url(re.compile(r"/learning/order/\d+/pay$"))
    expect(page.locator("#pay-qr svg")).to_be_visible()
    expect(page.locator("#order-state")).to_have_text("待支付")
    assert "168.00" in page.inner_text("body")
    assert_chinese(page)
    shot(page, "80-pay-page")

    provider_url = page.get_attribute("#provider-page", "href")
    phone = new_page()
    phone.goto(provider_url)
    expect(phone.locator("#sim-amount")).to_contain_text("168.00")
    shot(phone, "81-sim-provider")
    phone.click("#sim-scan")
    expect(phone.locator("#sim-state")).to_have_text("已支付")
    assert_no_page_errors(phone)

    # the pay page polls the order: paid, it goes to the class
    expect(page).to_have_url(re.compile(rf"/learning/classes/{paid_class}$"), timeout=15_000)
    page.goto("/learning/orders")
    row = page.locator("tr.order-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(TITLE)
    expect(row.locator(".order-state")).to_have_text("已支付")
    assert_chinese(page)
    shot(page, "82-my-orders")
    assert_no_page_errors(page)

    # the base refunds the order: the learner has not started the class
    logout(page)
    login(page, BASE_ADMIN[0], "BaseAdmin")
    page.goto(f"/base/class-orders/{paid_class}")
    row = page.locator("tr.order-row")
    expect(row.locator(".order-state")).to_have_text("已支付")
    assert_chinese(page)
    row.locator("input[name=reason]").fill("学员申请退款")
    shot(page, "83-class-orders")
    row.locator("button.order-refund").click()
    expect(page.locator("tr.order-row .order-state")).to_have_text("已退款")
    assert_no_page_errors(page)
    logout(page)
    login(page, PROFESSIONAL[0], "Professional")
    page.goto("/learning/orders")
    expect(page.locator("tr.order-row .order-state")).to_have_text("已退款")
