"""Keyboard use and accessibility of every role's pages (GB/T 37668-2019, WCAG 2.1 A/AA).

1. Logged out and as each demo role: Tab from the top of the page runs through the top bar and reaches every
   top-level menu link, each showing a visible focus (its outline or box shadow changes when focused); Enter opens
   a drop-down menu and Tab moves into it, with a visible focus there too.
2. Every page the menus lead to, for every role, is opened, with the pages one step below (the first row's show,
   edit and detail pages, the add forms): the axe-core check of tests/e2e/conftest.py runs on each of them
   (0 violations of WCAG 2.1 A/AA), and none of them answers with an error.
3. The captcha picture is renewed from the keyboard: Tab from the answer box to the picture's button, Enter, a new
   picture is fetched and shown, and the login with it goes through.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from app.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from tests.e2e.helpers import assert_no_page_errors, assert_one_line_bar, doc_shot, fill_captcha, login

pytestmark = pytest.mark.e2e

# One demo account per role (the README's list).
ROLES = list({role.value: id_number for id_number, _name, role, _org in reversed(DEMO_ACCOUNTS)}.items())

TOP_LINKS = ".navbar .navbar-brand a, .navbar .nav > li > a"

# What the focused element looks like (computed), to compare with the same element unfocused.
FOCUS_LOOK = """el => { const s = getComputedStyle(el);
    return {outline: s.outlineStyle === 'none' || parseFloat(s.outlineWidth) === 0 ? 'none'
                     : `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
            shadow: s.boxShadow}; }"""

ACTIVE = """() => { const el = document.activeElement;
    return el && el !== document.body ? {key: el.dataset.kbd || null, inNavbar: !!el.closest('.navbar'),
        inMenu: !!el.closest('.dropdown-menu'), text: (el.innerText || el.getAttribute('aria-label') || '').trim(),
        look: (""" + FOCUS_LOOK + """)(el)} : null; }"""


def visible_focus(focused: dict, unfocused: dict) -> bool:
    """A focus a sighted keyboard user sees: an outline or a box shadow that the element has only when focused."""
    return focused != unfocused and (focused["outline"] != "none" or focused["shadow"] != unfocused["shadow"])


def mark_top_links(page: Page) -> dict[str, str]:
    """Number the visible top-level links of the top bar (brand, menus, language, user); key -> text."""
    return page.evaluate("""sel => Object.fromEntries([...document.querySelectorAll(sel)]
        .filter(a => a.offsetParent !== null)
        .map((a, i) => { a.dataset.kbd = String(i); return [String(i), a.innerText.trim()]; }))""", TOP_LINKS)


def tab_through_top_bar(page: Page) -> dict[str, dict]:
    """Press Tab from the top of the page until the focus has passed the top bar; the top-level links met on the
    way, each with the look it had while focused."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    met: dict[str, dict] = {}
    entered = False
    for _ in range(80):
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE)
        if active is None:
            continue
        if active["inNavbar"]:
            entered = True
            if active["key"] is not None:
                met[active["key"]] = active
        elif entered:
            break
    return met


def assert_top_bar_keyboard(page: Page) -> None:
    links = mark_top_links(page)
    assert len(links) >= 2, f"no top bar links found on {page.url}"
    met = tab_through_top_bar(page)
    missed = [text for key, text in links.items() if key not in met]
    assert not missed, f"top bar links Tab never reaches on {page.url}: {missed}"
    unseen = []
    for key, active in met.items():
        unfocused = page.locator(f"[data-kbd='{key}']").evaluate(FOCUS_LOOK)
        if not visible_focus(active["look"], unfocused):
            unseen.append(f"{links[key]!r}: focused {active['look']} / unfocused {unfocused}")
    assert not unseen, f"top bar links without a visible focus on {page.url}:\n" + "\n".join(unseen)

    # A drop-down menu opens with Enter; Tab then moves through its items, each with a visible focus.
    toggles = page.locator(".navbar .nav > li.dropdown > a.dropdown-toggle")
    if toggles.count():
        toggle = toggles.first
        toggle.focus()
        page.keyboard.press("Enter")
        expect(page.locator(".navbar .nav > li.dropdown.open")).to_have_count(1)
        expect(toggle).to_have_attribute("aria-expanded", "true")
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE)
        assert active and active["inMenu"], f"Tab after opening a menu left it on {page.url}: {active}"
        # The same item, still shown, once the focus has left it.
        unfocused = page.evaluate(f"() => {{ const el = document.activeElement; el.blur();"
                                  f" return ({FOCUS_LOOK})(el); }}")
        assert visible_focus(active["look"], unfocused), \
            f"menu item {active['text']!r} shows no focus on {page.url}: {active['look']} / {unfocused}"
        toggle.focus()
        page.keyboard.press("Escape")
        expect(page.locator(".navbar .nav > li.dropdown.open")).to_have_count(0)


def menu_targets(page: Page) -> list[str]:
    """The pages the top bar's menus lead to (paths on this site; no language switch, no '#')."""
    hrefs = page.eval_on_selector_all(".navbar a[href]", "els => els.map(a => a.href)")
    here = urlsplit(page.url)
    paths = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.netloc != here.netloc or parts.path in ("", "/lang/") or "/lang/" in parts.path:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if path not in paths:
            paths.append(path)
    return paths


# Links never followed by the walk: files, and anything that is not a plain page to look at.
NOT_A_PAGE = re.compile(r"download|export|attachment|/file|\.pdf|\.xlsx|print|delete|logout|withdraw|approve|"
                        r"reject|action|/lang/|captcha", re.I)

# One level below a menu page: its first row's links (show, edit, detail pages) and its add form.
ROW_LINKS = """() => [...document.querySelectorAll(
        'main table tbody tr:first-child a[href], main a[href$="/add"], main a[href*="/add?"]')]
    .map(a => a.href)"""


def visit_all(page: Page, paths: list[str], *, below: bool = False) -> list[str]:
    """Open each page (the conftest's axe check runs on each before the next is opened); with `below`, also the
    first row's links and the add form of each. Returns the paths opened."""
    queue, opened = list(paths), []
    while queue:
        path = queue.pop(0)
        if path in opened:
            continue
        response = page.goto(path)
        assert response is not None and response.status < 400, f"{path}: HTTP {response and response.status}"
        assert page.locator("header .navbar").count() == 1, f"{path} lost the top bar"
        opened.append(path)
        if below and path in paths:
            here = urlsplit(page.url).netloc
            for href in page.evaluate(ROW_LINKS):
                parts = urlsplit(href)
                link = parts.path + (f"?{parts.query}" if parts.query else "")
                if parts.netloc == here and not NOT_A_PAGE.search(link) and link not in queue + opened:
                    queue.append(link)
    assert_no_page_errors(page)
    return opened


# ------------------------------------------------------------------ tests

def test_top_bar_by_keyboard_and_public_pages_logged_out(page: Page, shot):
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert_top_bar_keyboard(page)
    page.reload()
    page.keyboard.press("Tab")
    expect(page.locator("a.skip-link")).to_be_focused()  # the first stop: straight to the content
    shot(page, "a11y-01-skip-link")
    # The public pages a visitor reaches from the home page and the top bar.
    links = page.eval_on_selector_all("main a[href], .navbar a[href], footer a[href]", "els => els.map(a => a.href)")
    paths = sorted({urlsplit(h).path for h in links if urlsplit(h).netloc == urlsplit(page.url).netloc
                    and "/lang/" not in urlsplit(h).path and urlsplit(h).path not in ("", "/")})
    assert any("register" in p for p in paths) and any("login" in p for p in paths), paths
    visit_all(page, paths + ["/password/forgot", "/public/progress"])

    # The error page a mistyped address shows, and the page in English: its <html lang> follows the language.
    assert page.goto("/no-such-page").status == 404
    expect(page.locator("main")).to_be_visible()
    page.goto("/login/")
    page.click("#locale-menu")
    page.locator(".navbar .dropdown-menu a", has_text="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("main")).to_contain_text("Log in")


@pytest.mark.parametrize("role,id_number", ROLES, ids=[r for r, _ in ROLES])
def test_every_role_top_bar_by_keyboard_and_menu_pages(page: Page, role: str, id_number: str, shot):
    login(page, id_number, role)
    expect(page).not_to_have_url(re.compile(r"/login/"))
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    doc_shot(page, f"home-{role}")  # the README shows each role's home page
    assert_one_line_bar(page)
    assert_top_bar_keyboard(page)
    if role == "UnitAdmin":  # how the keyboard focus looks in the top bar and in an open menu
        page.locator(".navbar .nav > li > a").nth(1).focus()
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        shot(page, "a11y-02-menu-focus")
        page.keyboard.press("Escape")
    paths = menu_targets(page)
    assert len(paths) >= 3, f"{role}: hardly any menu pages: {paths}"
    opened = visit_all(page, paths, below=True)
    assert len(opened) > len(paths) or role == "Professional", f"{role}: no page below the menus: {opened}"


def test_captcha_renewed_with_enter(page: Page, shot):
    page.goto("/login/")
    fill_captcha(page)
    img = page.locator("img.captcha-img")
    before = img.get_attribute("src")
    page.focus("input.captcha-input")
    page.keyboard.press("Tab")
    refresh = page.locator("button.captcha-refresh")
    expect(refresh).to_be_focused()
    assert refresh.get_attribute("aria-label"), "the captcha button has no name"
    focused = refresh.evaluate(FOCUS_LOOK)
    shot(page, "a11y-03-captcha-focus")

    with page.expect_response(lambda r: "/captcha" in r.url) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 200 and answer.value.header_value("content-type").startswith("image/")
    expect(img).not_to_have_attribute("src", before)
    page.wait_for_function("() => { const i = document.querySelector('img.captcha-img');"
                           " return i.complete && i.naturalWidth > 0; }")
    page.focus("input.captcha-input")
    assert visible_focus(focused, refresh.evaluate(FOCUS_LOOK)), "the captcha button shows no focus"

    # The renewed picture is the one the server now expects: logging in with it goes through.
    role, id_number = ROLES[0]
    page.select_option("#role", role)
    page.fill("#id_number", id_number)
    page.fill("#password", DEMO_PASSWORD)
    fill_captcha(page)
    page.click("#login-submit")
    expect(page).not_to_have_url(re.compile(r"/login/"))
    assert_no_page_errors(page)
