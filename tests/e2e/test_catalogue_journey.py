"""Issue 8 in a real browser: the city HR admin adds a learning form by ticking the fields its declarations ask
for, changes them, and each time lands back on the list as it left it (sorted by a column); a professional's
declaration form then asks for exactly the ticked fields.

Screenshot of the form: docs/screenshots/hr-learning-form.png (the README shows it).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import doc_shot

from tests.e2e.helpers import (PROFESSIONAL, assert_chinese, assert_no_page_errors, login, logout,
                               visible_text)

pytestmark = pytest.mark.e2e

HR_ADMIN = ("370102196804040024", "赵人社")
NAME = "专题讲座"
TICKED = ["主办单位", "地点", "起止日期"]


def row_of(page: Page, name: str):
    return page.locator("table tr").filter(has=page.get_by_text(name, exact=True))


def test_hr_admin_adds_a_learning_form_by_ticking_fields(page: Page, shot):
    login(page, HR_ADMIN[0], "HRAdmin")
    page.click("text=管理")
    page.locator(".dropdown-menu a", has_text="学习形式").click()
    expect(page).to_have_url(re.compile(r"/learning-forms/list/"))
    # the list sorted by the maximum hours: the list the admin must come back to
    page.locator("th a", has_text="单次申报学时上限").click()
    expect(page).to_have_url(re.compile(r"_oc_LearningFormModelView=max_hours"))
    page.wait_for_load_state()
    sorted_list = page.url
    assert "training" not in visible_text(page) and '["' not in visible_text(page)

    page.locator('a[href^="/learning-forms/add"]').first.click()
    expect(page).to_have_url(re.compile(r"/learning-forms/add"))
    page.wait_for_load_state()
    assert_chinese(page)
    page.fill("#name", NAME)
    page.select_option("#group", label="培训类")
    page.fill("#code", "lecture")
    for label in TICKED:
        page.get_by_label(label, exact=True).check()
    page.fill("#max_hours", "8")
    page.fill("#year_cap", "24")
    page.fill("#hour_rule", "每半天计4学时")
    doc_shot(page, "hr-learning-form")
    page.click("#save-learning-form")

    expect(page).to_have_url(sorted_list)
    row = row_of(page, NAME)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("、".join(TICKED))
    expect(row).to_contain_text("培训类")
    page.wait_for_load_state()
    assert_chinese(page)
    shot(page, "catalogue-list")

    # the fields changed: 地点 no longer asked, 会议级别 asked; back on the same sorted list
    row.locator('a[href*="/learning-forms/edit/"]').click()
    expect(page.get_by_label("地点", exact=True)).to_be_checked()
    page.get_by_label("地点", exact=True).uncheck()
    page.get_by_label("会议级别", exact=True).check()
    page.click("#save-learning-form")
    expect(page).to_have_url(sorted_list)
    expect(row_of(page, NAME)).to_contain_text("主办单位、起止日期、会议级别")

    # nothing ticked: refused in Chinese, the form stays with its way back
    row_of(page, NAME).locator('a[href*="/learning-forms/edit/"]').click()
    for label in ("主办单位", "会议级别", "起止日期"):
        page.get_by_label(label, exact=True).uncheck()
    page.click("#save-learning-form")
    expect(page.locator("#group-fields_json .field-error")).to_have_text("请至少勾选一个申报需填写的字段。")
    shot(page, "catalogue-refused")
    page.click("#back-to-list")
    expect(page).to_have_url(sorted_list)
    assert_no_page_errors(page)
    logout(page)

    # a professional declaring hours of the new form is asked for exactly its fields
    login(page, PROFESSIONAL[0], "Professional")
    page.goto("/hours/declare")
    page.select_option("#form_id", label=f"培训类 · {NAME}")
    shown = [label.inner_text().replace("*", "").strip()
             for label in page.locator("#detail-fields .form-field:visible label").all()]
    assert shown == ["开始日期", "结束日期", "主办单位", "会议级别"] or \
        sorted(shown) == sorted(["开始日期", "结束日期", "主办单位", "会议级别"]), shown
    assert_no_page_errors(page)
