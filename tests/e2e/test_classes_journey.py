"""Issue 11 (B3, state machine 6) in a real browser: the demo base's admin builds a class (information with a cover,
a course, a section, a real MP4 lesson, a quiz question and a pop-up question) and submits it; the city's HR admin
opens it from the review queue, plays the lesson's video and publishes it.

Screenshots: test-artifacts/screenshots/90-class-editor.png, 91-class-review-detail.png, 92-classes-in-region.png.
"""
from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app import clock
from tests.e2e.helpers import assert_chinese, assert_no_page_errors, login, tiny_png

pytestmark = pytest.mark.e2e

BASE_ADMIN = "370102198506060026"  # 孙基地, 济南市专业技术人员继续教育基地
CITY_HR = "370102196804040024"  # 赵人社, the city's HR bureau (the base's parent)
VIDEO = Path(__file__).resolve().parents[1] / "data" / "lesson.mp4"
TITLE = "2026年度公需科目：数字经济与创新发展"


def test_a_base_builds_a_class_and_the_hr_bureau_publishes_it(page: Page, shot, tmp_path):
    login(page, BASE_ADMIN, "BaseAdmin")
    page.goto("/base/classes/")
    page.click("#new-class")
    page.fill("#title", TITLE)
    page.select_option("#track", "public")
    page.fill("#hours", "12")
    page.fill("#price", "0")
    today = clock.today()
    page.fill("#enrol_start", today.isoformat())
    page.fill("#enrol_end", (today + datetime.timedelta(days=90)).isoformat())
    page.fill("#intro", "围绕数字经济的内涵、发展趋势与创新驱动，帮助专业技术人员更新知识。")
    cover = tmp_path / "cover.png"
    cover.write_bytes(tiny_png())
    page.set_input_files("#cover", str(cover))
    page.click("#save-class")
    expect(page.locator("h2")).to_contain_text(TITLE)
    expect(page.locator("h2 .state")).to_have_text("草稿")

    page.fill("input[name='course-title']", "数字经济概论")
    page.click("#add-course")
    page.fill("input[name='section-title']", "第一节 数字经济的内涵")
    page.locator("form.add-section button").click()
    page.locator("details.add-lesson summary").click()
    page.fill("input[name='lesson-title']", "第一讲 什么是数字经济")
    page.set_input_files("input[name='lesson-video']", str(VIDEO))
    page.locator("details.add-lesson button[type=submit]").click()
    expect(page.locator(".lesson-table tbody tr")).to_have_count(1)
    expect(page.locator(".lesson-table")).to_contain_text("0:02")

    page.locator("details.add-question summary").click()
    form = page.locator("details.add-question form")
    form.locator("select").select_option("single")
    form.locator("textarea").fill("数字经济的关键生产要素是什么？")
    for i, text in enumerate(["土地", "数据", "劳动力"]):
        form.locator(f"input[name='question-options-{i}']").fill(text)
    form.locator("input[name='question-correct'][value='1']").check()
    form.locator("button[type=submit]").click()
    expect(page.locator(".quiz .class-question")).to_have_count(1)

    page.locator("details.add-popup summary").click()
    popup = page.locator("details.add-popup form")
    popup.locator("select").select_option("true_false")
    popup.locator("input[name='popup-at_second']").fill("1")
    popup.locator("textarea").fill("数字经济以数据为关键要素，对吗？")
    popup.locator("input[name='popup-correct'][value='0']").check()
    popup.locator("button[type=submit]").click()
    expect(page.locator(".lesson-table .class-question")).to_have_count(1)
    assert_chinese(page)
    shot(page, "90-class-editor")
    page.click("#submit-class")
    expect(page.locator("h2 .state")).to_have_text("待人社部门审核")
    assert_no_page_errors(page)

    page.click("#user-menu")
    page.locator("form.navbar-logout button").click()
    login(page, CITY_HR, "HRAdmin")
    page.goto("/review/classes/")
    page.locator("a", has_text="详细").first.click()
    expect(page.locator("h2")).to_contain_text(TITLE)
    video = page.locator("video.review-video")
    expect(video).to_have_count(1)
    page.wait_for_function("() => document.querySelector('video.review-video').readyState >= 1")
    duration = page.evaluate("() => document.querySelector('video.review-video').duration")
    assert 1.5 < duration < 2.5, duration  # the browser reads the video through the media route
    assert_chinese(page)
    shot(page, "91-class-review-detail")
    page.click("#approve-class")
    expect(page).to_have_url(re.compile(r"/review/classes/$"))
    page.goto("/review/classes/all")
    expect(page.locator(".region-classes")).to_contain_text(TITLE)
    expect(page.locator(".region-classes")).to_contain_text("已发布")
    shot(page, "92-classes-in-region")
    assert_no_page_errors(page)
