"""End-to-end: a form left open until its token expired. The professional 王专技 fills in a declaration whose CSRF
token is no longer valid (as after an hour away, or after logging in again in another tab) and sends it: the answer
is the site's own page, in Chinese, saying the page expired and nothing was saved, showing back what was typed, with
a way back to the form; not a server error. The page passes the axe-core check like every other.

Screenshot: test-artifacts/screenshots/90-expired-form.png."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import PROFESSIONAL, assert_chinese, login

pytestmark = pytest.mark.e2e

TITLE = "放了一小时才提交的培训班名称"


def test_an_expired_form_says_so_in_chinese_and_keeps_the_typed_text(page: Page, shot):
    login(page, PROFESSIONAL[0], "Professional")
    expect(page).to_have_url(re.compile(r"/home/"))
    page.goto("/hours/declare")
    page.fill("#title", TITLE)
    page.fill("#hours", "12")
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        page.evaluate("""() => {
            const form = document.querySelector('#title').form;
            form.querySelector('input[name=csrf_token]').value = 'expired';
            form.submit();
        }""")
    assert sent.value.status == 400  # refused, not a server error
    page.wait_for_load_state()
    expect(page.locator(".error-panel")).to_contain_text("页面已过期，请刷新后重试")
    expect(page.locator(".error-panel")).to_contain_text("您填写的内容未保存")
    expect(page.locator("#kept-input")).to_have_value(re.compile(TITLE))
    expect(page.locator("#user-menu")).to_contain_text(PROFESSIONAL[1])  # still logged in, in the site's layout
    assert_chinese(page)
    shot(page, "90-expired-form")
    page.get_by_role("link", name="返回原页面并刷新").click()
    expect(page).to_have_url(re.compile(r"/hours/declare$"))
    expect(page.locator("#title")).to_be_visible()
    page.errors[:] = [e for e in page.errors if not e.startswith("HTTP 400: POST")]  # the refusal itself
    assert page.errors == []
