"""Issue 10 in a real browser: the city HR admin opens 查询统计 → 职称统计 and 机构人员统计, sees each table and its
ECharts chart (served by the platform, no CDN), follows a figure to the people behind it, and drills down.

Screenshots: docs/screenshots/statistics-titles.png, statistics-orgs.png.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import assert_chinese, assert_no_page_errors, doc_shot, login

pytestmark = pytest.mark.e2e

HR_ADMIN = ("370102196804040024", "赵人社")  # the demo city HR admin


def _chart_drawn(page: Page) -> None:
    chart = page.locator("#distribution-chart")
    expect(chart).to_have_attribute("data-drawn", "1")
    box = chart.locator("canvas").bounding_box()
    assert box and box["width"] > 600 and box["height"] > 300


def test_hr_admin_reads_the_title_and_org_statistics(page: Page):
    login(page, HR_ADMIN[0], "HRAdmin")
    page.click("text=查询统计")
    page.locator(".dropdown-menu a", has_text="职称统计").click()
    expect(page).to_have_url(re.compile(r"/statistics/titles"))
    expect(page.locator("thead")).to_contain_text("初级")
    expect(page.locator("thead")).to_contain_text("高级")
    total = page.locator("tr.distribution-total")
    expect(total).to_have_count(1)
    _chart_drawn(page)
    assert_chinese(page)
    doc_shot(page, "statistics-titles")

    # a figure opens the staff list of exactly those people
    link = page.locator("tr.distribution-row td.num a").first
    expected = int(link.inner_text())
    assert expected > 0
    link.click()
    expect(page).to_have_url(re.compile(r"/staff/list/"))
    rows = page.locator("table.table-bordered tbody tr")
    expect(rows).to_have_count(min(expected, 25))  # the figure's people, nobody else
    expect(page.locator("body")).to_contain_text(f"记录数: {expected}")
    assert_chinese(page)

    page.goto("/statistics/orgs")
    expect(page.locator("h2")).to_have_text("机构人员统计")
    _chart_drawn(page)
    drill = page.locator("table a[href*='/statistics/orgs?org=']").first
    name = drill.inner_text()
    drill.click()
    expect(page.locator(".statistics-crumbs li.active")).to_have_text(name)
    assert_chinese(page)
    page.goto("/statistics/orgs")
    doc_shot(page, "statistics-orgs")
    assert_no_page_errors(page)
