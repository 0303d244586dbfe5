"""Issue 8 in a real browser: a reviewer approves a registration only after seeing it.

1. A professional registers on the public page; the unit admin (李单位) opens the registration from the queue,
   reads everything entered (the ID number masked, no birth date beside it) and approves it on the detail page.
2. A unit registers with the scan of its business licence; the competent department's admin (张主管) sees the scan
   on the detail page and rejects the registration there, with a reason.

Screenshots of the detail pages go to docs/screenshots/ (the README shows them).
"""
from __future__ import annotations

import datetime
import re

import pytest
from playwright.sync_api import Page, expect

from app.demo import make_credit_code, make_id_number
from tests.e2e.helpers import doc_shot

from tests.e2e.helpers import (UNIT, UNIT_ADMIN, assert_chinese, assert_no_page_errors, fill_captcha,
                               login, logout, pick_org, visible_text)

pytestmark = pytest.mark.e2e

DEPT_ADMIN = ("370102197003030015", "张主管")
DEPT = "济南市卫生健康委员会"


def value_of(page: Page, key: str) -> str:
    return page.locator(f'td[data-field="{key}"]').first.inner_text().strip()


def fill_captcha_if_asked(page: Page) -> None:
    if page.locator("input.captcha-input").count():
        fill_captcha(page)


def png_scan(org_name: str, credit_code: str) -> bytes:
    """A made-up licence picture, the same kind the demo registrations carry."""
    from app.demo import demo_licence

    return demo_licence(org_name, credit_code)


def test_unit_admin_reads_a_registration_and_approves_it_there(page: Page, shot):
    id_number = make_id_number("370102", datetime.date(1987, 9, 21), 931)
    name, password = "韩详审", "Han@2026xs"
    entered = {"#department": "检验科", "#school": "山东第一医科大学", "#major": "医学检验技术",
               "#native_place": "山东泰安", "#admin_post": "科室主任", "#title_name": "主管检验师",
               "#title_cert_no": "JY-2020-0815", "#vocational_qualifications": "临床检验技师",
               "#academic_titles": "市级技术能手"}

    page.goto("/public/register/person")
    page.select_option("#id_type", "resident_id")
    page.fill("#id_number", id_number)
    page.fill("#password", password)
    page.fill("#confirm", password)
    page.fill("#mobile", "13912345601")
    page.fill("#email", "han.xiangshen@example.cn")
    pick_org(page, "unit_id", "第一人民", UNIT)
    page.fill("#name", name)
    page.check("#gender-1")
    page.select_option("#ethnicity", "汉族")
    page.select_option("#education", "大学本科")
    page.select_option("#degree", "学士")
    page.fill("#graduation_date", "2009-07-01")
    page.check("#postdoc")
    page.select_option("#title_series", "卫生技术")
    page.select_option("#title_level", "中级")
    page.fill("#title_date", "2020-12-01")
    for selector, value in entered.items():
        page.fill(selector, value)
    page.check("#commitment")
    fill_captcha_if_asked(page)
    page.click("#register-submit")
    expect(page.locator(".register-done")).to_contain_text("注册信息已提交审核")

    # The unit admin opens the queue and the row's detail page.
    login(page, UNIT_ADMIN[0], "UnitAdmin")
    page.goto("/review/registrations/")
    row = page.locator(".queue-table tbody tr", has_text=name)
    expect(row).to_have_count(1)
    row.locator("a.detail-link").click()
    expect(page).to_have_url(re.compile(r"/review/registrations/\d+$"))
    expect(page.locator("h2")).to_contain_text(name)
    expect(page.locator("#registration-state")).to_have_text("待审核")

    text = visible_text(page)
    for value in list(entered.values()) + [name, UNIT, "女", "汉族", "大学本科", "学士", "卫生技术", "中级",
                                            "2009-07-01", "2020-12-01", "13912345601", "han.xiangshen@example.cn"]:
        assert value in text, f"{value!r} is not on the detail page"
    assert value_of(page, "id_number") == id_number[:6] + "********" + id_number[-4:]
    assert id_number not in text and "1987-09-21" not in text, "the full ID number or its birth date is shown"
    assert value_of(page, "birth_date") == "已包含在证件号码中（不显示）"
    assert_chinese(page)
    doc_shot(page, "unit-registration-detail")

    # Approve on the detail page: back to the queue, the row is gone, its page shows the decision.
    detail_url = page.url
    page.click("#approve-btn")
    expect(page.locator(".alert-success")).to_contain_text(name)
    expect(page).to_have_url(re.compile(r"/review/registrations/$"))
    expect(page.locator(".queue-table tbody tr", has_text=name)).to_have_count(0)
    page.goto(detail_url)
    expect(page.locator("#registration-state")).to_have_text("审核通过")
    expect(page.locator('td[data-field="decided_by"]')).to_have_text(UNIT_ADMIN[1])
    expect(page.locator("#decide-form")).to_have_count(0)
    shot(page, "issue8-registration-approved")
    logout(page)

    # The professional can now log in.
    login(page, id_number, "Professional", password)
    expect(page).to_have_url(re.compile(r"/home/"))
    assert_no_page_errors(page)


def test_department_sees_the_licence_scan_and_rejects_with_a_reason(page: Page, shot):
    org_name = "济南市详审口腔诊所"
    credit_code = make_credit_code("370102", 880031)
    page.goto("/public/register/unit")
    page.fill("#org_name", org_name)
    pick_org(page, "parent_id", "卫生健康", DEPT)
    page.fill("#credit_code", credit_code)
    page.select_option("#nature", "民营企业")
    page.select_option("#industry", "卫生健康")
    page.fill("#phone", "0531-86001234")
    page.fill("#address", "历下区泉城路8号")
    page.set_input_files("#licence", files=[{"name": "营业执照.png", "mimeType": "image/png", "buffer": png_scan(org_name, credit_code)}])
    page.fill("#name", "冯诊所")
    page.select_option("#id_type", "resident_id")
    page.fill("#id_number", make_id_number("370102", datetime.date(1979, 4, 2), 932))
    page.fill("#password", "Feng@2026zs")
    page.fill("#confirm", "Feng@2026zs")
    page.fill("#mobile", "13912345602")
    page.fill("#email", "feng.clinic@example.cn")
    page.check("#commitment")
    fill_captcha_if_asked(page)
    page.click("#register-submit")
    expect(page.locator(".register-done")).to_contain_text("注册信息已提交审核")

    login(page, DEPT_ADMIN[0], "DeptAdmin")
    page.goto("/review/registrations/")
    page.locator(".queue-table tbody tr", has_text=org_name).locator("a.detail-link").click()
    expect(page.locator("h2")).to_contain_text(org_name)
    for key, value in (("org_name", org_name), ("parent", DEPT), ("nature", "民营企业"), ("industry", "卫生健康"),
                       ("address", "历下区泉城路8号"), ("phone", "0531-86001234"), ("name", "冯诊所")):
        assert value_of(page, key) == value, key
    scan = page.locator("#licence img.licence-scan")
    expect(scan).to_be_visible()
    page.wait_for_function("() => { const i = document.querySelector('#licence img');"
                           " return i && i.complete && i.naturalWidth === 640; }")
    assert_chinese(page)
    doc_shot(page, "department-org-registration-detail")

    page.click("#reject-btn")  # no reason: refused, still pending
    expect(page.locator(".alert-danger")).to_contain_text("必须填写原因")
    expect(page.locator("#registration-state")).to_have_text("待审核")
    page.fill("#reason", "营业执照扫描件不清晰，请重新上传")
    page.click("#reject-btn")
    expect(page.locator(".alert-success")).to_contain_text(org_name)
    page.goto("/review/registrations/?state=rejected")
    row = page.locator(".queue-table tbody tr", has_text=org_name)
    expect(row).to_contain_text("营业执照扫描件不清晰")
    shot(page, "issue8-org-registration-rejected")
    assert_no_page_errors(page)
