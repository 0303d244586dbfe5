"""End-to-end, X2: the unit admin's bell count rises when a declaration arrives; the admin opens it from the
notification and approves it; the applicant's bell shows the decision, and their list links to the declaration.

Screenshots: test-artifacts/screenshots/6x-*.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app import clock
from tests.e2e.helpers import (PROFESSIONAL, TRAINING_TITLE as TITLE, UNIT_ADMIN, assert_chinese,
                              assert_no_page_errors, declare_training as declare, login)

pytestmark = pytest.mark.e2e


def bell(page: Page) -> int:
    page.goto("/home/")
    count = page.locator("#bell-count")
    return int(count.inner_text()) if count.count() else 0


def test_bell_rises_opens_the_item_and_tells_the_decision(page: Page, new_page, shot):
    admin = page
    login(admin, UNIT_ADMIN[0], "UnitAdmin")
    before = bell(admin)

    applicant = new_page()
    login(applicant, PROFESSIONAL[0], "Professional")
    mine_before = bell(applicant)
    declare(applicant)

    assert bell(admin) == before + 1
    expect(admin.locator("#bell")).to_have_attribute("aria-label", re.compile(r"通知"))
    shot(admin, "60-bell")
    admin.click("#bell")
    expect(admin).to_have_url(re.compile(r"/notifications/$"))
    newest = admin.locator(".notification-list .notification").first
    expect(newest).to_contain_text(TITLE)
    expect(newest).to_have_class(re.compile(r"\bunread\b"))
    assert_chinese(admin)
    shot(admin, "61-notification-list")
    newest.locator(".notification-title").click()
    expect(admin).to_have_url(re.compile(r"/review/declarations/\d+$"))
    expect(admin.locator("h2")).to_contain_text(TITLE)
    admin.locator(".decide-panel button[value=approve]").click()
    expect(admin.locator(".alert-success")).to_be_visible()
    assert bell(admin) == before  # the one it opened is read
    assert_no_page_errors(admin)

    assert bell(applicant) == mine_before + 1
    applicant.click("#bell")
    decision = applicant.locator(".notification-list .notification").first
    expect(decision).to_contain_text("您的学时申报")
    expect(decision).to_contain_text(TITLE)
    assert_chinese(applicant)
    shot(applicant, "62-decision-notification")
    decision.locator(".notification-title").click()
    expect(applicant).to_have_url(re.compile(r"/hours/\d+$"))
    expect(applicant.locator("h2")).to_contain_text(TITLE)
    assert_no_page_errors(applicant)


def test_the_city_hr_bureau_sets_the_reminders(page: Page, shot):
    login(page, "370102196804040024", "HRAdmin")  # 赵人社, 济南市人力资源和社会保障局
    page.goto("/reminders/")
    page.fill("input[name=remind_unit]", "3")
    page.fill("input[name=escalate_unit]", "7")
    page.click("#save-reminders")
    expect(page.locator(".alert-success")).to_contain_text("提醒设置已保存")
    expect(page.locator("input[name=remind_unit]")).to_have_value("3")
    page.fill("#completion-date input[name=remind_on]", f"{clock.today().year}-12-01")
    page.click("#completion-date button[type=submit]")
    expect(page.locator("#reminder-settings table").nth(1)).to_contain_text(f"{clock.today().year}-12-01")
    assert_chinese(page)
    shot(page, "63-reminder-settings")
    assert_no_page_errors(page)
