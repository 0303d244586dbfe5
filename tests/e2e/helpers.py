"""Helpers shared by the browser tests: the Chromium binary, the demo accounts the journeys use, logging in and
out, the checks every page gets (Chinese text, no browser errors), pictures. Playwright is imported where it is used,
so a module can import this before it skips for a missing Chromium."""
from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from app.demo import DEMO_PASSWORD
from tests.helpers import CAPTCHA

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "screenshots"

UNIT = "济南市第一人民医院"
UNIT_ADMIN = ("370102197502020022", "李单位")
PROFESSIONAL = ("370102198001010015", "王专技")  # approved demo professional of UNIT

# English UI words that must not show in the Chinese interface (FAB's own labels among them).
ENGLISH_UI = re.compile(r"\b(Log ?in|Log ?out|Sign ?in|Sign ?out|List|Search|Home|Actions?|Records?|Show|Edit|"
                        r"Delete|Add|Save|Back|Filter|Previous|Next|Page|Role|User|Password|Welcome|Submit)\b")
CJK = re.compile(r"[\u4e00-\u9fff]")


def visible_text(page: Page) -> str:
    """What a person can read: the rendered text of <body> (hidden menus, <script> and the screen-reader-only
    labels of Bootstrap's .sr-only excluded)."""
    return page.evaluate("""() => {
        const hidden = [...document.querySelectorAll('.sr-only')];
        const before = hidden.map(e => e.style.display);
        hidden.forEach(e => { e.style.display = 'none'; });
        const text = document.body.innerText;
        hidden.forEach((e, i) => { e.style.display = before[i]; });
        return text; }""")


def assert_chinese(page: Page) -> None:
    text = visible_text(page)
    leaks = sorted(set(ENGLISH_UI.findall(text)))
    assert not leaks, f"English UI words on {page.url}: {leaks}\n---\n{text[:2000]}"
    assert len(CJK.findall(text)) > 20, f"hardly any Chinese on {page.url}:\n{text[:2000]}"


def assert_no_page_errors(page: Page) -> None:
    assert not page.errors, f"errors in the browser on {page.url}: {page.errors}"


def fill_captcha(page: Page) -> None:
    """The captcha answer is fixed in tests, but the picture must have been fetched: that sets the session."""
    from playwright.sync_api import expect

    expect(page.locator("img.captcha-img")).to_be_visible()
    page.wait_for_function("() => { const i = document.querySelector('img.captcha-img');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    page.fill("input.captcha-input", CAPTCHA)


def login(page: Page, id_number: str, role: str, password: str = DEMO_PASSWORD, *, shot=None) -> None:
    page.goto("/login/")
    page.select_option("#role", role)
    page.fill("#id_number", id_number)
    page.fill("#password", password)
    fill_captcha(page)
    if shot:
        shot(page, "02-login")
    page.click("#login-submit")
    page.wait_for_load_state()


def logout(page: Page) -> None:
    from playwright.sync_api import expect

    page.click("#user-menu")
    page.locator("form.navbar-logout button").click()
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.locator("#user-menu")).to_have_count(0)


def pick_org(page: Page, select_id: str, typed: str, choice: str, *, shot=None) -> None:
    """Use the select2 picker as a person does: open it, type part of the name, click the result."""
    from playwright.sync_api import expect

    page.locator(f"#{select_id} + .select2 .select2-selection").click()
    search = page.locator(".select2-container--open .select2-search__field")
    search.fill(typed)
    # select2 first lists everything, then (after its typing delay) only the matches.
    page.wait_for_function("""typed => {
        const opts = [...document.querySelectorAll('.select2-results__option')];
        return opts.length > 0 && opts.every(o => o.textContent.includes(typed)); }""", arg=typed)
    name = page.locator(".org-option-name", has_text=re.compile(rf"^{re.escape(choice)}$"))
    option = page.locator(".select2-results__option", has=name)
    expect(option).to_have_count(1)
    if shot:
        shot(page, "03a-unit-picker-open")
    option.click()
    expect(page.locator(f"#select2-{select_id}-container")).to_contain_text(choice)
    assert page.locator(f"#{select_id}").input_value(), "the picker did not set the hidden value"


def doc_shot(page, name: str) -> None:
    """A full-page PNG for the README, committed under docs/screenshots/."""
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)


def tiny_png(rgb: tuple[int, int, int] = (31, 95, 168)) -> bytes:
    """A valid 2x2 RGB PNG, built by hand (signature, IHDR, IDAT, IEND with their CRCs)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * 2  # filter byte + two pixels
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * 2)) + chunk(b"IEND", b""))


TRAINING_TITLE = "急诊急救能力提升培训班"


def declare_training(page: "Page") -> None:
    """The professional declares a 培训进修 of 12 hours with its certificate and submits it for review."""
    import datetime

    from playwright.sync_api import expect

    from app import clock

    today = clock.today()
    page.goto("/hours/declare")
    page.select_option("#subject", "professional")
    option = page.locator("#form_id option").filter(has_text=re.compile(r"(^|· )培训进修$"))
    page.select_option("#form_id", option.get_attribute("value"))
    page.select_option("#year", str(today.year))
    page.fill("#title", TRAINING_TITLE)
    page.fill("#hours", "12")
    for key, value in {"f_organiser": "济南市急救中心", "f_location": "济南",
                       "start_date": (today - datetime.timedelta(days=5)).isoformat(),
                       "end_date": (today - datetime.timedelta(days=3)).isoformat()}.items():
        page.fill(f"#{key}", value)
    page.set_input_files("#attachments", files=[{"name": "certificate.png", "mimeType": "image/png",
                                                 "buffer": tiny_png()}])
    page.click("#submit-declaration")
    expect(page).to_have_url(re.compile(r"/hours/\d+$"))


def assert_one_line_bar(page: Page) -> None:
    """At the desktop width the top bar holds the brand, every menu, the bell and the user menu on one line."""
    tops = page.evaluate("""() => [...document.querySelectorAll('.navbar-brand, .navbar-nav > li')]
        .filter(el => el.getBoundingClientRect().height > 0).map(el => Math.round(el.getBoundingClientRect().top))""")
    assert len(set(tops)) == 1, f"the top bar wraps: item tops {tops}"
