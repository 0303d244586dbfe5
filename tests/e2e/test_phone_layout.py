"""Issue 12 item 2: the professional's pages and the reviewers' queues on a phone (390 × 844, portrait, touch).

Every page is opened in a phone context (the `phone` fixture of tests/e2e/conftest.py: is_mobile, has_touch,
device_scale_factor 3) and checked for:

- no sideways scrolling: the document's width (documentElement.scrollWidth) is not wider than the visual viewport
  (a phone browser widens the layout viewport to fit an overflowing table, so window.innerWidth would hide it);
- tap targets: every visible a, button, select, checkbox / radio and [role=button] in <main> is at least 44 × 44 px.
  Exceptions, by rule: a link inside running text (a <p>, <li> or <dd> that holds other text than the link, the
  way WCAG 2.5.5 exempts inline targets) and the skip link (off screen until focused);
- no Chinese word squeezed over lines (不通过 stacked one character a line): a table cell, badge, figure or any
  element whose whole text is a word of 2–8 CJK characters shows it on one line;
- at 1280 wide mobile.css moves nothing: every box of the same pages is where it is without it.

The manifest (/manifest.webmanifest) is served as application/manifest+json, parses, starts on the login page in
standalone display, and its 192 and 512 icons are PNGs of those sizes; the base layout links it with an
apple-touch-icon. Screenshots: docs/screenshots/phone-home.png, phone-review-queue.png, phone-class.png.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from app import clock
from tests.e2e.helpers import PROFESSIONAL, UNIT, UNIT_ADMIN, assert_no_page_errors, doc_shot, login, logout

pytestmark = pytest.mark.e2e

MIN_TARGET = 44

# What a page measures: overflow, small tap targets (outside the exceptions above) and squeezed CJK cells.
_MEASURE = """(minTarget) => {
    const vv = window.visualViewport;
    const out = {scrollWidth: document.documentElement.scrollWidth, viewport: vv ? vv.width : window.innerWidth,
                 small: [], squeezed: [], wide: []};
    const visible = el => {
        const r = el.getBoundingClientRect(), s = getComputedStyle(el);
        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
    const inRunningText = a => {
        const block = a.closest('p, li, dd, .help-block, .alert, td');
        if (!block || a.classList.contains('btn')) { return false; }
        const own = block.innerText.replace(a.innerText, '').replace(/\\s+/g, '');
        return own.length > 0 && getComputedStyle(a).display.startsWith('inline') && block.tagName !== 'TD'; };
    const main = document.getElementById('main-content') || document.body;
    const sel = 'a[href], button, select, input[type=checkbox], input[type=radio], [role=button], input[type=submit]';
    for (const el of main.querySelectorAll(sel)) {
        if (!visible(el) || el.classList.contains('skip-link')) { continue; }
        if (el.tagName === 'A' && inRunningText(el)) { continue; }
        const r = el.getBoundingClientRect();
        if (r.width < minTarget - 0.5 || r.height < minTarget - 0.5) {
            out.small.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')}` +
                           ` "${(el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 20)}"` +
                           ` ${Math.round(r.width)}x${Math.round(r.height)}`); }
    }
    {
        for (const node of main.querySelectorAll('*')) {
            const text = node.innerText.trim();
            if (!/^[\\u4e00-\\u9fff]{2,8}$/.test(text) || !visible(node)) { continue; }
            const s = getComputedStyle(node);
            const lh = parseFloat(s.lineHeight) || parseFloat(s.fontSize) * 1.43;
            // the line boxes of its text (not the boxes of the elements around it)
            const lines = new Set(), walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
            for (let t = walker.nextNode(); t; t = walker.nextNode()) {
                if (!t.nodeValue.trim()) { continue; }
                const range = document.createRange(); range.selectNodeContents(t);
                for (const r of range.getClientRects()) { if (r.width > 0) { lines.add(Math.round(r.top / 4)); } }
            }
            if (lines.size > 1 && !out.squeezed.includes(`${text} (${lines.size} lines)`)) {
                out.squeezed.push(`${text} (${lines.size} lines)`); }
        }
    }
    for (const el of main.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.right > out.viewport + 1 && visible(el) && out.wide.length < 8) {
            out.wide.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')} ` +
                          `right=${Math.round(r.right)}`); }
    }
    return out;
}"""


def measure(page: Page) -> dict:
    page.wait_for_load_state("load")
    return page.evaluate(_MEASURE, MIN_TARGET)


def problems(page: Page, path: str) -> list[str]:
    """What is wrong with the page now shown (opened at `path`) on the phone."""
    m = measure(page)
    found = []
    if m["scrollWidth"] > m["viewport"] + 1:
        found.append(f"{path}: document {m['scrollWidth']} px wide in a {m['viewport']} px viewport; "
                     f"too wide: {m['wide']}")
    if m["small"]:
        found.append(f"{path}: tap targets under {MIN_TARGET} px: {m['small']}")
    if m["squeezed"]:
        found.append(f"{path}: Chinese cell text broken over lines: {m['squeezed']}")
    return found


def first_href(page: Page, pattern: str) -> str:
    """The first link on the page whose href matches `pattern` (a regular expression)."""
    hrefs = page.eval_on_selector_all("#main-content a[href]", "els => els.map(e => e.getAttribute('href'))")
    matching = [h for h in hrefs if re.search(pattern, h)]
    assert matching, f"no link matching {pattern} on {page.url}: {hrefs[:40]}"
    return matching[0]


def visit(page: Page, path: str, found: list[str]) -> None:
    response = page.goto(path)
    assert response.status == 200, f"{path}: HTTP {response.status}"
    found.extend(problems(page, path))


def professional_paths(page: Page) -> list[str]:
    """The professional's pages, the learning ones found by following the links a learner would."""
    paths = ["/home/", "/hours/declare", "/hours/", "/hours/annual", "/hours/standards", "/profile/",
             "/profile/title", "/notifications/", "/learning/classes", "/learning/centre", "/learning/exams",
             "/learning/orders"]
    page.goto("/learning/classes")
    paths.append(first_href(page, r"^/learning/classes/\d+$"))
    page.goto("/learning/centre")
    my_class = first_href(page, r"^/learning/class/\d+$")
    paths.append(my_class)
    page.goto(my_class)
    paths.append(first_href(page, r"^/learning/study/\d+/\d+$"))
    page.goto("/hours/")
    paths.append(first_href(page, r"^/hours/\d+$"))
    page.goto("/hours/annual")
    paths.append(first_href(page, r"^/hours/annual/\d+$"))
    return paths


REVIEW_QUEUES = [("/review/registrations/", r"^/review/registrations/\d+$"),
                 ("/review/declarations/", r"^/review/declarations/\d+$"),
                 ("/review/personnel/", r"^/review/personnel/\d+$"),
                 ("/review/transfers/?tab=in", r"^/review/transfers/\d+$"),
                 ("/review/transfers/?tab=out", r"^/review/transfers/\d+$")]


def reviewer_paths(page: Page) -> list[str]:
    paths = []
    for queue, detail in REVIEW_QUEUES:
        page.goto(queue)
        paths += [queue, first_href(page, detail)]
    return paths + ["/review/registrations/?state=rejected", "/review/personnel/?state=approved",
                    "/review/transfers/?tab=history"]


def check_pages(page: Page, paths: list[str], shots: dict[str, str]) -> None:
    """Open each page on the phone; all problems found, page by page, in one failure. `shots`: path pattern ->
    docs/screenshots name of the picture taken of it."""
    found: list[str] = []
    for path in paths:
        visit(page, path, found)
        for pattern, name in shots.items():
            if re.fullmatch(pattern, path):
                doc_shot(page, name)
    assert not found, "\n".join(found)
    assert_no_page_errors(page)


def test_professional_pages_fit_a_phone(phone: Page):
    login(phone, PROFESSIONAL[0], "Professional")
    expect(phone).to_have_url(re.compile(r"/home/"))
    check_pages(phone, professional_paths(phone), {"/home/": "phone-home", r"/learning/classes/\d+": "phone-class"})


def test_review_queues_fit_a_phone(phone: Page, queued_changes):
    login(phone, UNIT_ADMIN[0], "UnitAdmin")
    expect(phone).to_have_url(re.compile(r"/home/"))
    check_pages(phone, reviewer_paths(phone), {})
    phone.goto("/review/declarations/")
    rows = phone.locator(".queue-table tbody tr")
    assert rows.count() > 0, "the demo's declaration queue is empty"
    # a card: the state and the details link on screen, each with its column's name; select-all above the cards
    first = rows.first
    expect(first.locator("td[data-label='状态']")).to_be_in_viewport()
    expect(first.locator("a", has_text="详细")).to_be_in_viewport()
    expect(phone.locator(".queue-table thead")).to_be_visible()
    select_all = phone.locator(".queue-table thead th").first
    assert select_all.evaluate("th => getComputedStyle(th, '::after').content") == '"全选"'
    phone.locator(".queue-table .select-all").check()
    expect(first.locator("input.row-check")).to_be_checked()
    assert measure(phone)["small"] == []
    doc_shot(phone, "phone-review-queue")


# Where every box of the main content is, and the document's size: equal with and without mobile.css at 1280 px.
_LAYOUT = """() => {
    const boxes = [...document.querySelectorAll('#main-content *')].map(el => {
        const r = el.getBoundingClientRect();
        return [r.x, r.y, r.width, r.height].map(Math.round).join(','); });
    const d = document.documentElement;
    return [d.scrollWidth, d.scrollHeight, ...boxes].join(';');
}"""


def desktop_unchanged(page: Page, path: str) -> str | None:
    page.goto(path)
    page.wait_for_load_state("load")
    # a video's box takes its size from the file's metadata, which may arrive between the two measures
    page.wait_for_function("() => [...document.querySelectorAll('video')].every(v => v.readyState >= 1)")
    # and a transition started by the page's script (the player's progress bar growing to its credited width)
    page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running'"
                           " || a.effect.getTiming().iterations === Infinity)")
    with_css = page.evaluate(_LAYOUT)
    page.evaluate("() => { document.querySelector('link[href$=\"mobile.css\"]').disabled = true; }")
    without = page.evaluate(_LAYOUT)
    page.evaluate("() => { document.querySelector('link[href$=\"mobile.css\"]').disabled = false; }")
    return None if with_css == without else path


def test_desktop_unchanged(page: Page, queued_changes):
    """At 1280 wide mobile.css changes nothing: every box of every page is where it is without it; the queues are
    tables (header row shown, cells side by side)."""
    login(page, PROFESSIONAL[0], "Professional")
    changed = [desktop_unchanged(page, path) for path in professional_paths(page)]
    logout(page)
    login(page, UNIT_ADMIN[0], "UnitAdmin")
    changed += [desktop_unchanged(page, path) for path in reviewer_paths(page)]
    assert not [c for c in changed if c], f"mobile.css moves things at 1280 px on {[c for c in changed if c]}"
    page.goto("/review/declarations/")
    expect(page.locator(".queue-table thead")).to_be_visible()
    cells = page.locator(".queue-table tbody tr").first.locator("td")
    first, second = cells.nth(0).bounding_box(), cells.nth(1).bounding_box()
    assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"], (first, second)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    assert_no_page_errors(page)


def test_login_page_fits_a_phone(phone: Page):
    found: list[str] = []
    visit(phone, "/login/", found)
    assert not found, "\n".join(found)


def test_manifest_and_icons(page: Page, live_server):
    from PIL import Image

    page.goto("/login/")
    href = page.get_attribute("link[rel=manifest]", "href")
    assert href == "/manifest.webmanifest"
    assert page.locator("link[rel=apple-touch-icon]").count() == 1
    assert page.locator("meta[name=theme-color]").count() == 1
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text())
    assert manifest["name"] == "专技继续教育平台"
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/login/"
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["theme_color"])
    sizes = {}
    for icon in manifest["icons"]:
        got = page.request.get(icon["src"])
        assert got.status == 200 and got.headers["content-type"] == "image/png", icon
        image = Image.open(io.BytesIO(got.body()))
        assert image.format == "PNG"
        assert f"{image.width}x{image.height}" == icon["sizes"], icon
        sizes[icon["sizes"]] = icon
    assert {"192x192", "512x512"} <= set(sizes)
    touch = page.request.get(page.get_attribute("link[rel=apple-touch-icon]", "href"))
    assert touch.status == 200 and Image.open(io.BytesIO(touch.body())).format == "PNG"


@pytest.fixture()
def queued_changes(app, live_server):
    """A title change and transfers out of and into 李单位's unit waiting in the queues. The demo makes them from
    staff with nothing pending, of whom the e2e's smaller demo (40 persons) may have none; made here through the
    workflows as the demo does: 刘调转 (free by design) moves out, someone free elsewhere moves in."""
    from sqlalchemy import func, select

    from app.demo import _org_admin
    from app.extensions import db
    from app.models import Account, Membership, MembershipState, Org, Person, RoleName
    from app.models.changes import TitleChange, Transfer
    from app.workflows import title_change, transfer
    from app.workflows.base import Actor
    from app.workflows.pending import pending_for_person

    png = (Path(__file__).resolve().parents[2] / "app" / "static" / "icons" / "icon-192.png").read_bytes()
    with app.app_context():
        def actor_of(account, role, org):
            return Actor(account.id, account.first_name, role, org.id, org.path)

        def count(model, *where):
            return db.session.scalar(select(func.count()).select_from(model).where(*where))

        unit = db.session.scalar(select(Org).where(Org.name == UNIT))
        staff = select(Person).join(Membership, Membership.user_id == Person.user_id).join(
            Org, Person.unit_id == Org.id).where(Membership.role == RoleName.PROFESSIONAL.value,
                                                 Membership.state == MembershipState.ACTIVE.value).order_by(Person.id)
        if not count(TitleChange, TitleChange.unit_id == unit.id, TitleChange.state == "pending"):
            person = next(p for p in db.session.scalars(staff.where(Org.path.startswith(unit.path)))
                          if p.user.username != PROFESSIONAL[0]
                          and not count(TitleChange, TitleChange.person_id == p.id, TitleChange.state == "pending"))
            title_change.submit(actor_of(person.user, RoleName.PROFESSIONAL, person.unit),
                                {"title_series": "卫生技术", "title_level": "中级", "title_name": "主治医师",
                                 "title_date": clock.today().replace(month=1, day=1),
                                 "title_cert_no": f"ZC{person.id:06d}"}, [("职称证书.png", png)])
        other = db.session.scalar(select(Org).where(Org.name == "济南市中心医院"))
        if not count(Transfer, Transfer.from_unit_id == unit.id, Transfer.state == "pending_out"):
            mover = db.session.scalar(staff.join(Account, Person.user_id == Account.id).where(
                Account.username == "370102198811110122"))  # 刘调转
            transfer.submit(actor_of(mover.user, RoleName.PROFESSIONAL, mover.unit), other.id, "工作调动")
        if not count(Transfer, Transfer.to_unit_id == unit.id, Transfer.state == "pending_in"):
            person = next(p for p in db.session.scalars(staff.where(~Org.path.startswith(unit.path),
                                                                     Org.kind == "unit"))
                          if not pending_for_person(p))
            item = transfer.submit(actor_of(person.user, RoleName.PROFESSIONAL, person.unit), unit.id, "夫妻团聚")
            admin = _org_admin(person.unit, "37010219800101999X", "调出审核")
            transfer.release(item, actor_of(admin, RoleName.UNIT_ADMIN, person.unit))
        db.session.remove()


_SMALL_IN_BAR = """(min) => [...document.querySelectorAll('.navbar a, .navbar button')]
    .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; })
    .map(el => [el.id || el.innerText.trim().slice(0, 12), el.getBoundingClientRect()])
    .filter(([, r]) => r.width < min - 0.5 || r.height < min - 0.5)
    .map(([t, r]) => `${t} ${Math.round(r.width)}x${Math.round(r.height)}`)"""


def test_menu_fits_a_phone(phone: Page):
    """The collapsed top bar: the brand, the menu button and, once opened, each menu, the bell and the user menu
    with its items (switch role, password, log out) are 44 px targets; the opened menus do not widen the page."""
    login(phone, UNIT_ADMIN[0], "UnitAdmin")
    assert phone.evaluate(_SMALL_IN_BAR, MIN_TARGET) == []
    expect(phone.locator(".navbar-toggle")).to_have_attribute("aria-expanded", "false")
    phone.locator(".navbar-toggle").click()
    expect(phone.locator(".navbar-collapse")).to_be_visible()
    phone.wait_for_timeout(500)  # the collapse animation
    assert phone.evaluate(_SMALL_IN_BAR, MIN_TARGET) == []
    phone.locator("#user-menu").click()
    expect(phone.locator("form.navbar-logout button")).to_be_visible()
    assert phone.evaluate(_SMALL_IN_BAR, MIN_TARGET) == []
    # the opened menu's items on the bar's blue: text contrast checked with axe-core as they are now
    contrast = phone.evaluate("""async () => (await axe.run('.navbar-collapse',
        {runOnly: {type: 'rule', values: ['color-contrast']}})).violations.map(v => v.nodes.map(n => n.target))""")
    assert contrast == [], contrast
    # and every other axe rule on the opened bar (Bootstrap's aria-expanded on the panel is taken off)
    opened = phone.evaluate("""async () => (await axe.run('header.top')).violations
        .map(v => v.id + ': ' + v.nodes.map(n => n.target).join(' '))""")
    assert opened == [], opened
    expect(phone.locator(".navbar-toggle")).to_have_attribute("aria-expanded", "true")
    m = measure(phone)
    assert m["scrollWidth"] <= m["viewport"] + 1, m
    phone.locator("form.navbar-logout button").click()
    expect(phone).to_have_url(re.compile(r"/login/"))
