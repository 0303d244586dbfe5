"""Issue 13 in a real browser: a unit admin exports the staff list; past EXPORT_INLINE_ROWS rows the export goes to
the task queue, the page shows it being written, a real `flask worker` writes it, the page notices by itself and
offers the file, which downloads; 导出记录 in the user menu lists it.

A unit admin prints the year's 年度结业证书 of everyone who passed as one .zip, made by the worker in the same way.

Screenshots: docs/screenshots/export-writing.png, export-done.png, certificates-writing.png.
"""
from __future__ import annotations

import io
import uuid

import openpyxl
import pytest
import redis
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PROFESSIONAL, UNIT_ADMIN, assert_chinese, assert_no_page_errors, doc_shot, login
from tests.helpers import QUEUE_REDIS_URL, run_worker_burst

pytestmark = pytest.mark.e2e


@pytest.fixture()
def on_the_queue(app, monkeypatch):
    try:
        redis.Redis.from_url(QUEUE_REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    name = f"test-e2e-{uuid.uuid4().hex[:8]}"
    for key, value in {"TASKS_INLINE": False, "REDIS_URL": QUEUE_REDIS_URL, "TASK_QUEUE": name,
                       "EXPORT_INLINE_ROWS": 2}.items():
        monkeypatch.setitem(app.config, key, value)
    yield app
    connection = redis.Redis.from_url(QUEUE_REDIS_URL)
    for key in connection.scan_iter(f"*{name}*"):
        connection.delete(key)


def test_a_big_export_is_written_by_the_worker_and_downloaded(page: Page, on_the_queue):
    login(page, UNIT_ADMIN[0], "UnitAdmin")
    page.goto("/staff/list/")
    page.locator("a", has_text="导出 Excel").first.click()
    page.wait_for_url("**/exports/*")
    expect(page.locator("h2")).to_contain_text("人员")
    expect(page.locator(".export-state")).to_have_text("正在导出")
    expect(page.locator(".alert-info, .alert")).not_to_have_count(0)
    assert_chinese(page)
    doc_shot(page, "export-writing")

    run_worker_burst(on_the_queue)
    expect(page.locator("#download-export")).to_be_visible(timeout=15_000)  # the page polled and reloaded itself
    expect(page.locator(".export-state")).to_have_text("可以下载")
    assert_chinese(page)
    doc_shot(page, "export-done")
    with page.expect_download() as download:
        page.click("#download-export")
    assert download.value.suggested_filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).worksheets[0]
    assert sheet.max_row > 3 and sheet.cell(1, 1).value == "姓名"

    page.click("#user-menu")
    page.click("#export-records")
    expect(page.locator("h2")).to_have_text("导出记录")
    expect(page.locator(".export-record")).to_have_count(1)
    assert_chinese(page)
    assert_no_page_errors(page)


def test_a_batch_of_certificates_is_made_by_the_worker_and_downloaded(page: Page, on_the_queue, monkeypatch):
    import datetime
    import zipfile

    year = datetime.date.today().year - 2  # the demo professional passed that year
    login(page, UNIT_ADMIN[0], "UnitAdmin")
    page.goto(f"/statistics/completion?year={year}")
    button = page.locator("a.statistics-certificates")
    expect(button).to_contain_text("名合格人员的年度结业证书")
    passed = int(page.locator(".completion-total .passed").inner_text())
    assert passed >= 1
    monkeypatch.setitem(on_the_queue.config, "CERTIFICATE_INLINE", passed - 1)  # this batch is "big"
    button.click()
    page.wait_for_url("**/exports/*")
    expect(page.locator("h2")).to_contain_text(f"{year}年度结业证书")
    expect(page.locator(".export-progress")).to_contain_text("已生成证书")
    assert_chinese(page)
    doc_shot(page, "certificates-writing")

    run_worker_burst(on_the_queue)
    expect(page.locator("#download-export")).to_be_visible(timeout=15_000)
    expect(page.locator("#download-export")).to_have_text("下载文件（.zip）")
    expect(page.locator(".export-rows")).to_have_text(str(passed))
    assert_chinese(page)
    with page.expect_download() as download:
        page.click("#download-export")
    assert download.value.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(download.value.path()) as archive:
        names = archive.namelist()
        assert len(names) == passed and any(n.startswith(f"{PROFESSIONAL[1]}-JX{year}") for n in names)
        assert all(archive.read(n)[:5] == b"%PDF-" for n in names)
    page.goto("/exports/")
    expect(page.locator(".export-record").first).to_contain_text(f"{passed} 份证书")
    assert_chinese(page)
    assert_no_page_errors(page)
