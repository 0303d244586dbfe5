"""Issue 10 in a real browser: the unit admin downloads the import template, fills it (good and bad rows), uploads
it, reads the preview with every row's problems, imports the valid rows, downloads the failed rows, and the
imported person logs in with the initial password and is asked to change it.

Screenshots: docs/screenshots/import-preview.png, import-done.png.
"""
from __future__ import annotations

import datetime
import io
import re

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from app.demo import make_id_number

from tests.e2e.helpers import UNIT_ADMIN, assert_chinese, assert_no_page_errors, doc_shot, login, logout

pytestmark = pytest.mark.e2e

GOOD = ("导入测试甲", make_id_number("370102", datetime.date(1990, 1, 1), 123))
GOOD2 = ("导入测试乙", make_id_number("370102", datetime.date(1990, 2, 2), 125))
BAD_CHECK_DIGIT = GOOD[1][:-1] + ("1" if GOOD[1][-1] != "1" else "2")


def _filled(template: bytes) -> bytes:
    """The downloaded template with two good rows and three bad ones, as an admin would fill it."""
    wb = openpyxl.load_workbook(io.BytesIO(template))
    sheet = wb.worksheets[0]
    headers = [c.value for c in sheet[1]]
    col = {h.rstrip("*"): i for i, h in enumerate(headers)}
    rows = [
        {"姓名": GOOD[0], "证件号码": GOOD[1], "最高学历": "大学本科", "职称系列": "卫生技术", "职称级别": "中级"},
        {"姓名": GOOD2[0], "证件号码": GOOD2[1], "手机号码": "13912345678", "毕业时间": "2012-07-01"},
        {"姓名": "校验位错", "证件号码": BAD_CHECK_DIGIT},
        {"姓名": "日期不对", "证件号码": make_id_number("370102", datetime.date(1990, 3, 3), 127), "毕业时间": "2012年7月"},
        {"姓名": "重复的人", "证件号码": GOOD[1]},
    ]
    sheet.delete_rows(2)  # the example row (it would be ignored anyway)
    for n, values in enumerate(rows, start=2):
        for name, value in values.items():
            sheet.cell(row=n, column=col[name] + 1, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_unit_admin_imports_staff_from_the_template(page: Page, tmp_path):
    login(page, UNIT_ADMIN[0], "UnitAdmin")
    page.click("text=管理")
    page.locator(".dropdown-menu a", has_text="批量导入").click()
    expect(page.locator("h2")).to_have_text("批量导入")
    assert_chinese(page)

    with page.expect_download() as download:
        page.click("#download-template")
    template = download.value.path().read_bytes()
    assert download.value.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(template))
    assert [ws.title for ws in book.worksheets] == ["人员信息", "选项", "填写说明"]
    assert book.worksheets[0].data_validations.dataValidation  # the dropdowns

    filled = tmp_path / "本单位人员.xlsx"
    filled.write_bytes(_filled(template))
    page.set_input_files("#file", str(filled))
    page.check("input[name=mode][value=valid]")
    page.click("text=上传并检查")

    # the preview: counts and every bad row with its reason, nothing written yet
    expect(page.locator(".import-state")).to_have_text("已检查，尚未导入")
    expect(page.locator(".import-total")).to_have_text("5")
    expect(page.locator(".import-valid")).to_have_text("2")
    expect(page.locator(".import-failed")).to_have_text("3")
    failures = page.locator("tr.import-failure")
    expect(failures).to_have_count(3)
    expect(failures.nth(0)).to_contain_text("证件号码")
    expect(failures.nth(1)).to_contain_text("不是 2020-07-01 这样的日期")
    expect(failures.nth(2)).to_contain_text("与第 2 行的证件号码相同")
    assert_chinese(page)
    doc_shot(page, "import-preview")

    page.click("#import-now")
    expect(page.locator(".import-state")).to_have_text("已导入")
    expect(page.locator(".import-created")).to_have_text("2")
    with page.expect_download() as failed:
        page.click("#download-failed")
    rows = list(openpyxl.load_workbook(io.BytesIO(failed.value.path().read_bytes())).worksheets[0].iter_rows(
        min_row=2, values_only=True))
    assert [r[-2] for r in rows] == [4, 5, 6] and all(r[-1] for r in rows)
    doc_shot(page, "import-done")

    page.click("text=返回导入记录")
    expect(page.locator("table.import-records")).to_contain_text("本单位人员.xlsx")
    assert_no_page_errors(page)
    logout(page)

    # the imported person logs in with the last 6 characters of the 证件号 and must choose a password
    login(page, GOOD[1], "Professional", password=GOOD[1][-6:])
    expect(page).to_have_url(re.compile(r"/password"))
