"""End-to-end journeys in a real browser (headless Chromium against the app served over HTTP).

1. A professional registers on the public page, picking the unit in the searchable picker; the unit admin sees
   the pending count, approves the registration in the review queue; the professional logs in and sees a
   Chinese home page.
2. A person who holds the unit admin role in two units picks the unit to act for after login.
3. The admin screens render in Chinese for the roles that own them.

Every page visited is saved as a full-page screenshot in test-artifacts/screenshots/ for a human to look at.
"""
from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import Page, expect

from app.demo import make_id_number

from tests.e2e.helpers import (ENGLISH_UI, PROFESSIONAL, UNIT, UNIT_ADMIN, assert_chinese,
                               assert_no_page_errors, fill_captcha, login, logout, pick_org, visible_text)

pytestmark = pytest.mark.e2e

MULTI_ROLE = ("370102198210100017", "陈双岗")
AUDITOR = ("370102198109090010", "郑审计")
SUPPORT = ("370102199007070013", "周客服")


# ------------------------------------------------------------------ helpers

def assert_menus_chinese(page: Page) -> None:
    """The navigation menus, closed drop-downs included (their text is in the page, shown on click)."""
    menus = page.locator(".navbar").first.text_content()
    leaks = sorted(set(ENGLISH_UI.findall(menus)))
    assert not leaks, f"English words in the menus on {page.url}: {leaks}\n{' '.join(menus.split())}"


def home_pending(page: Page) -> int:
    return int(page.locator("#pending-card .stat-number").inner_text())


# ------------------------------------------------------------------ journeys

def test_register_approve_then_login_in_chinese(page: Page, shot):
    id_number = make_id_number("370102", datetime.date(1990, 5, 17), 901)  # 17th digit odd: male
    name, password = "林晓峰", "Lin@2026xf"

    # The public home page, in Chinese, before anyone logs in.
    page.goto("/")
    expect(page.locator(".hero h1")).to_be_visible()
    assert_chinese(page)
    shot(page, "01-home")

    # Unit registration form renders (screenshot only: the journey is the professional's).
    page.click("#reg-unit")
    expect(page.locator("#parent_id + .select2")).to_be_visible()
    assert_chinese(page)
    shot(page, "04-register-unit")

    # P1: the professional fills the form and picks the unit by typing part of its name.
    page.goto("/")
    page.click("#reg-person")
    expect(page).to_have_url(re.compile(r"/public/register/person$"))
    page.select_option("#id_type", "resident_id")
    page.fill("#id_number", id_number)
    page.fill("#password", password)
    page.fill("#confirm", password)
    page.fill("#mobile", "13912345678")
    page.fill("#email", "lin.xiaofeng@example.cn")
    pick_org(page, "unit_id", "第一人民", UNIT, shot=shot)
    page.fill("#department", "心内科")
    page.fill("#name", name)
    page.check("#gender-0")
    page.select_option("#ethnicity", "汉族")
    page.select_option("#education", "硕士研究生")
    page.fill("#school", "山东大学")
    page.fill("#major", "临床医学")
    page.select_option("#degree", "硕士")
    page.select_option("#title_series", "卫生技术")
    page.select_option("#title_level", "中级")
    page.fill("#title_name", "主治医师")
    page.check("#commitment")
    fill_captcha(page)
    shot(page, "03-register-person-filled")
    page.click("#register-submit")
    done = page.locator(".register-done")
    expect(done).to_contain_text("注册信息已提交审核")
    expect(done).to_contain_text(UNIT)
    assert id_number not in visible_text(page), "the full ID number is shown after registering"
    assert_chinese(page)
    shot(page, "03b-register-person-done")

    # P2: the progress lookup shows the registration waiting.
    page.click("a[href$='/public/progress']")
    page.fill("#id_number", id_number)
    fill_captcha(page)
    page.locator("form button[type=submit]").first.click()
    row = page.locator(".progress-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(UNIT)
    expect(row.locator(".state-pending")).to_be_visible()
    assert_chinese(page)
    shot(page, "05-progress")

    # The unit admin logs in, sees the pending count and opens the queue.
    login(page, UNIT_ADMIN[0], "UnitAdmin", shot=shot)
    expect(page.locator("h2.home-title")).to_contain_text(UNIT_ADMIN[1])
    expect(page.locator("#user-menu")).to_contain_text(UNIT)
    pending = home_pending(page)
    assert pending >= 1
    assert_chinese(page)
    assert_menus_chinese(page)
    shot(page, "06-unit-admin-home")
    page.click("#pending-card")
    expect(page).to_have_url(re.compile(r"/review/registrations/"))
    row = page.locator(".queue-table tbody tr", has_text=name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(UNIT)
    assert id_number not in visible_text(page), "the review queue shows the full ID number"
    row.locator("input[name=ids]").check()
    assert_chinese(page)
    shot(page, "07-review-queue")
    page.click("#approve-btn")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator(".queue-table tbody tr", has_text=name)).to_have_count(0)
    page.goto("/home/")
    assert home_pending(page) == pending - 1
    logout(page)

    # The professional logs in and lands on a Chinese home page with their own data.
    login(page, id_number, "Professional", password)
    expect(page).to_have_url(re.compile(r"/home/"))
    expect(page.locator("h2.home-title")).to_have_text(f"欢迎您，{name}")
    body = visible_text(page)
    for expected in (UNIT, "卫生技术", "中级", "硕士研究生", "临床医学", "专业技术人员"):
        assert expected in body, f"{expected!r} missing on the professional's home page:\n{body}"
    assert id_number not in body
    assert_chinese(page)
    assert_menus_chinese(page)
    shot(page, "08-professional-home")
    assert_no_page_errors(page)


def test_person_with_two_units_picks_the_unit_to_act_for(page: Page, shot):
    login(page, MULTI_ROLE[0], "UnitAdmin")
    expect(page).to_have_url(re.compile(r"/login/role"))
    choices = page.locator("form.role-choice")
    expect(choices).to_have_count(2)
    expect(choices.filter(has_text="济南第一中学")).to_have_count(1)
    target = choices.filter(has_text="济南外国语学校")
    expect(target).to_have_count(1)
    assert_chinese(page)
    shot(page, "09-pick-role")
    target.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/home/"))
    expect(page.locator("h2.home-title")).to_contain_text(MULTI_ROLE[1])
    expect(page.locator("#user-menu")).to_contain_text("济南外国语学校")
    expect(page.locator("#user-menu")).not_to_contain_text("济南第一中学")
    expect(page.locator("#pending-card")).to_be_visible()
    assert_chinese(page)
    assert_no_page_errors(page)


def test_admin_screens_in_chinese(page: Page, shot):
    # Unit admin: the staff list holds the unit's people only.
    login(page, UNIT_ADMIN[0], "UnitAdmin")
    page.goto("/staff/list/")
    table = page.locator("table.table-bordered")
    expect(table).to_contain_text(PROFESSIONAL[1])
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert "所在单位" in headers, headers
    column = headers.index("所在单位") + 1
    units = {u.strip() for u in table.locator(f"tbody tr td:nth-child({column})").all_inner_texts()}
    assert_chinese(page)
    shot(page, "10-staff-list-unit-admin")
    assert PROFESSIONAL[0] not in visible_text(page), "the staff list shows a full ID number"
    assert units and all(u.startswith(UNIT) for u in units), f"staff of other units listed: {units}"
    logout(page)

    # Auditor: the audit trail, with the logins just made.
    login(page, AUDITOR[0], "Auditor")
    page.goto("/audit/list/")
    expect(page.locator("table.table-bordered")).to_contain_text(AUDITOR[1])
    assert_menus_chinese(page)
    shot(page, "11-audit-list-auditor")
    logout(page)

    # Support: find an account by its ID number (posted, not in the URL) and open it.
    login(page, SUPPORT[0], "Support")
    page.goto("/support/accounts")
    page.fill("#id_number", PROFESSIONAL[0])
    page.locator("form button[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/support/accounts/\d+$"))
    expect(page.locator("h2")).to_contain_text(PROFESSIONAL[1])
    expect(page.locator("table").first).to_contain_text(UNIT)
    assert_chinese(page)
    assert_menus_chinese(page)
    shot(page, "12-support-account")
    assert_no_page_errors(page)
