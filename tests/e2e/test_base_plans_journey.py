"""Issue 11, B1 / B2 in a real browser: the demo base files its annual training plan and reports trainees' hours
by uploading an .xlsx; its home page shows the year at a glance; the city HR admin rejects the plan with a reason
from the queue (ticked, batch bar); the base sees the reason and files the plan again.

Screenshots (test-artifacts/screenshots/): base-home, base-plan-form, hr-base-plans."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PROFESSIONAL, assert_chinese, login, logout, visible_text

pytestmark = pytest.mark.e2e

BASE_ADMIN = ("370102198506060026", "孙基地")
HR_ADMIN = ("370102196804040024", "赵人社")
TITLE = "年度继续教育培训计划"


def _fill_plan(page: Page, title: str) -> None:
    page.fill("#title", title)
    page.fill("#classes", "12")
    page.fill("#trainees", "800")
    page.fill("#hours", "24")
    page.fill("#content", "全年计划举办公需科目培训班6期、专业科目培训班6期，覆盖卫生、教育、工程技术等专业。")


def _trainee_sheet(tmp_path) -> str:
    wb = openpyxl.Workbook()
    wb.active.append(["证件号码", "姓名", "学时"])
    wb.active.append([PROFESSIONAL[0], PROFESSIONAL[1], 12])
    path = tmp_path / "学员名单.xlsx"
    out = io.BytesIO()
    wb.save(out)
    path.write_bytes(out.getvalue())
    return str(path)


def test_a_base_files_its_plan_and_hours_and_the_hr_bureau_reviews_the_plan(page: Page, shot, tmp_path):
    login(page, BASE_ADMIN[0], "BaseAdmin")
    page.goto("/base/plans/")
    expect(page.locator("#this-year-plan")).to_contain_text("尚未提交")
    page.click("#new-plan")
    expect(page).to_have_url(re.compile(r"/base/plans/new/plan"))
    _fill_plan(page, TITLE)
    assert_chinese(page)
    shot(page, "base-plan-form")
    page.click("#submit-filing")
    expect(page.locator("h2")).to_contain_text("待审核")

    # B2 by a spreadsheet
    page.goto("/base/reports/new")
    page.click("#upload-tab")
    page.fill("#title", "公需科目集中培训班")
    page.select_option("#form_id", index=1)
    page.set_input_files("#file", _trainee_sheet(tmp_path))
    page.click("#submit-report")
    expect(page.locator(".alert-success")).to_contain_text("1")
    assert PROFESSIONAL[1] in visible_text(page)

    page.goto("/base/reports/")
    pending = page.locator("span.state-pending").count()  # the demo base's reports, this one among them
    page.goto("/home/")
    expect(page.locator("#base-plan")).to_contain_text("待审核")
    expect(page.locator("#base-report")).to_contain_text("未提交")
    expect(page.locator("#base-pending .stat-number")).to_have_text(str(pending))
    expect(page.locator("#base-classes-published .stat-number")).to_have_text("2")  # the demo's two classes
    assert_chinese(page)
    shot(page, "base-home")
    logout(page)

    login(page, HR_ADMIN[0], "HRAdmin")
    page.goto("/review/base-plans/")
    row = page.locator("tr.filing-row").filter(has_text=TITLE)
    expect(row).to_have_count(1)
    assert_chinese(page)
    shot(page, "hr-base-plans")
    row.locator("input.row-check").check()
    page.fill("#reason", "缺少师资安排")
    page.click("#reject-btn")
    expect(page.locator(".alert-success")).to_contain_text("1")
    page.select_option("#f-state", "rejected")
    page.click("#filters button")
    expect(page.locator("tr.filing-row").filter(has_text=TITLE)).to_contain_text("缺少师资安排")
    logout(page)

    login(page, BASE_ADMIN[0], "BaseAdmin")
    page.goto("/base/plans/")
    expect(page.locator("#this-year-plan")).to_contain_text("缺少师资安排")
    page.click("#new-plan")
    _fill_plan(page, TITLE + "（修改）")
    page.click("#submit-filing")
    expect(page.locator("h2")).to_contain_text("待审核")
