"""End-to-end, X9: the unit admin delegates their review rights to another admin of the unit for a week on the
代理审核 page; the deputy switches to acting for them, approves a declaration from its detail page, and the item's
timeline shows "A 代 B".

Screenshots: docs/screenshots/delegation.png, docs/screenshots/delegation-timeline.png.
"""
from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import Page, expect

from app import clock
from tests.e2e.helpers import (PROFESSIONAL, TRAINING_TITLE as TITLE, UNIT, UNIT_ADMIN, assert_chinese,
                              assert_no_page_errors, declare_training as declare, doc_shot, login)

pytestmark = pytest.mark.e2e
DEPUTY = "赵代理"


@pytest.fixture()
def deputy(app, live_server):
    """A second admin of the demo unit (the deputy), with the tests' password."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Org, RoleName
    from tests import factories

    with app.app_context():
        unit = db.session.scalar(select(Org).where(Org.name == UNIT))
        account = factories.make_account(DEPUTY, [(RoleName.UNIT_ADMIN, unit)])
        return account.username


def test_delegate_act_for_and_the_timeline_says_so(page: Page, new_page, deputy, shot):
    from tests.factories import PASSWORD

    boss = page
    login(boss, UNIT_ADMIN[0], "UnitAdmin")
    boss.goto("/delegations/")
    boss.select_option("#deputy_id", label=DEPUTY)
    boss.fill("#end_date", (clock.today() + datetime.timedelta(days=7)).isoformat())
    boss.fill("#note", "外出培训一周")
    boss.click("#save-delegation")
    expect(boss.locator(".alert-success")).to_contain_text("代理授权已保存")
    expect(boss.locator("#given")).to_contain_text(DEPUTY)
    expect(boss.locator("#given")).to_contain_text("生效中")
    assert_chinese(boss)
    assert_no_page_errors(boss)
    doc_shot(boss, "delegation")

    applicant = new_page()
    login(applicant, PROFESSIONAL[0], "Professional")
    declare(applicant)

    helper = new_page()
    login(helper, deputy, "UnitAdmin", PASSWORD)
    helper.goto("/delegations/")
    expect(helper.locator("#received")).to_contain_text(UNIT_ADMIN[1])
    helper.click("#received .act-btn")
    expect(helper.locator("#acting-banner")).to_contain_text(f"您正在代 {UNIT_ADMIN[1]}")
    shot(helper, "delegation-acting")
    helper.goto("/review/declarations/")
    helper.locator("tr", has_text=TITLE).locator("a").first.click()
    expect(helper).to_have_url(re.compile(r"/review/declarations/\d+$"))
    detail = helper.url
    helper.click(".decide-panel button[value=approve]")
    expect(helper.locator(".alert-success")).to_be_visible()
    helper.goto(detail)
    timeline = helper.locator("table.timeline")
    expect(timeline).to_contain_text(re.compile(rf"{DEPUTY}\(.*\) 代 {UNIT_ADMIN[1]}\("))
    assert_chinese(helper)
    assert_no_page_errors(helper)
    doc_shot(helper, "delegation-timeline")

    boss.reload()
    boss.click("#given .revoke-btn")
    expect(boss.locator("#given")).to_contain_text("已撤销")
    helper.goto("/delegations/")
    expect(helper.locator("#acting-banner")).to_have_count(0)
