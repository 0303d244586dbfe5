"""Browser tests: the real app served over HTTP, driven by headless Chromium (Debian's, never a download).

The app is the session-scoped `app` fixture of tests/conftest.py (FAB's appbuilder is one per process), served by
werkzeug on 127.0.0.1 with a free port in a background thread. Each e2e module starts from freshly seeded demo
data and leaves the tables empty again, so the other tests of the same (xdist) worker still start from nothing.
E2E tests never use the `db` fixture: it empties the tables after every test.

Accessibility: every page a test visits is checked with axe-core (node_modules/axe-core, installed by
scripts/setup.sh) against WCAG 2.0 / 2.1 A and AA (GB/T 37668-2019 follows WCAG). A document is checked once, as
it is before the test's first action on it (a Playwright locator handler, run before every click, fill, check …
and auto-waiting assertion), before `goto` / `reload` / `go_back` leave it, and at the end of the test; a test
whose pages had violations fails after its body with the list (rule, elements, URL).
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

import pytest

from tests.e2e.helpers import CHROMIUM, ROOT, doc_shot

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DEMO_PERSONS = 40
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_PAGES = pytest.StashKey[list]()  # the pages a test opened, for the accessibility check when it ends


def _compile_translations(app) -> None:
    """Compile translations/*/messages.po when its .mo is missing or older (a build artefact, not in git), then
    drop Flask-Babel's cache: an earlier test of this process may have cached the catalogue before it existed."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (ROOT / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog)
        os.replace(tmp, mo)  # atomic: another xdist worker may be compiling the same file
    app.extensions["babel"].instance.domain_instance.cache.clear()


@pytest.fixture(scope="session")
def _server(app):
    """Serve the test app on 127.0.0.1:<free port> in a daemon thread for the whole session."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):  # keep pytest's output readable
            pass

    _compile_translations(app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


def _reset_data(app, seed: bool) -> None:
    from app.demo import seed as seed_demo
    from app.extensions import db, limiter
    from tests.helpers import truncate

    with app.app_context():
        db.session.remove()
        truncate(db)
        if seed:
            assert seed_demo(persons=DEMO_PERSONS), "demo data was already there after emptying the tables"
        db.session.remove()
    limiter.reset()


@pytest.fixture(scope="module")
def live_server(_server, app):
    """Base URL of the running app, with the demo data loaded once for the module (and removed after it)."""
    _reset_data(app, seed=True)
    yield _server
    _reset_data(app, seed=False)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# Runs axe once per document (marked on <html>); returns null for a document that is not HTML.
_AXE_RUN = """async (tags) => {
    document.documentElement.setAttribute('data-a11y-checked', '');
    if (document.contentType !== 'text/html') { return null; }
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => n.target.join(' '))}));
}"""
UNCHECKED = "html:not([data-a11y-checked])"


class A11yCheck:
    """axe-core run on each document one page (tab) shows; the violations found, by URL, in `found`."""

    _source: str | None = None

    def __init__(self, pg):
        self.page = pg
        self.found: dict[str, list[dict]] = {}
        self.failures: list[str] = []  # axe could not run: no violation, but no silent pass either

    @classmethod
    def source(cls) -> str:
        if cls._source is None:
            if not AXE_JS.exists():
                pytest.fail(f"{AXE_JS.relative_to(ROOT)} is missing: run scripts/setup.sh (npm ci)")
            cls._source = AXE_JS.read_text(encoding="utf-8")
        return cls._source

    def attach(self) -> None:
        """Check each document before the test acts on it or leaves it."""
        pg = self.page
        pg.add_locator_handler(pg.locator(UNCHECKED), self.check, no_wait_after=True)
        for name in ("goto", "reload", "go_back"):
            setattr(pg, name, self._checked_first(getattr(pg, name)))

    def _checked_first(self, method):
        def leave(*args, **kwargs):
            self.check()
            return method(*args, **kwargs)
        return leave

    def check(self) -> None:
        """Check the document the page shows now, once it has loaded (its scripts have run), unless it was checked
        already. The page's CSP does not apply to what the test evaluates."""
        pg = self.page
        for attempt in range(3):
            if pg.is_closed() or not pg.url.startswith("http"):
                return
            try:
                pg.wait_for_load_state("load")
                url = pg.url
                if pg.locator(UNCHECKED).count() == 0:
                    return
                if not pg.evaluate("() => typeof window.axe === 'object'"):
                    pg.evaluate(self.source())
                violations = pg.evaluate(_AXE_RUN, AXE_TAGS)
            except Exception as exc:  # noqa: BLE001 - reported with the violations, at the end of the test
                if "context was destroyed" in str(exc) and attempt < 2:
                    continue  # the page went on to another document meanwhile (a script's navigation): check that
                self.failures.append(f"{pg.url}: axe did not run: {str(exc).splitlines()[0]}")
                return
            if violations:
                self.found.setdefault(url, []).extend(violations)
            return

    def report(self) -> str:
        lines = []
        for url, violations in self.found.items():
            lines.append(f"  {url}")
            seen = set()
            for v in violations:
                key = (v["id"], tuple(v["targets"]))
                if key in seen:
                    continue
                seen.add(key)
                more = f" (+{len(v['targets']) - 6} more)" if len(v["targets"]) > 6 else ""
                lines.append(f"    {v['id']} [{v['impact']}] {v['help']}: {' | '.join(v['targets'][:6])}{more}")
        lines.extend(f"  {f}" for f in self.failures)
        return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a test body that passed, check the pages still open, then fail on any accessibility violation."""
    result = yield
    checks = [pg.a11y for pg in item.stash.get(_PAGES, [])]
    for check in checks:
        check.check()
    report = "\n".join(r for r in (c.report() for c in checks) if r)
    if report:
        raise AssertionError(f"accessibility (axe-core, WCAG 2.1 A/AA) violations on the pages visited:\n{report}")
    return result


def _open_page(browser, base_url: str, node=None, **device):
    """A fresh browser context (no cookies) and a page in it. Page errors (JavaScript exceptions, resources
    blocked by the CSP, failed loads) are collected in `page.errors`; every document the page shows is checked
    with axe-core (`page.a11y`), and the test `node` fails at its end on any violation. `device`: context options
    replacing the 1280 × 900 desktop (viewport, is_mobile, has_touch …)."""
    context = browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  **{"viewport": {"width": 1280, "height": 900}, **device})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []

    def on_console(msg):
        # "Failed to load resource" repeats a bad response, which on_response reports with its URL.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"console {msg.type}: {msg.text}")

    def on_response(response):
        # No favicon is served (reported); Chromium asks for one by itself, so it is no error of the page.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            errors.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def on_request_failed(req):
        if "ERR_ABORTED" not in (req.failure or ""):  # aborted by leaving the page: not an error
            errors.append(f"request failed: {req.url} {req.failure}")

    pg.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    pg.on("console", on_console)
    pg.on("response", on_response)
    pg.on("requestfailed", on_request_failed)
    pg.errors = errors
    A11yCheck.source()
    pg.a11y = A11yCheck(pg)
    pg.a11y.attach()
    if node is not None:
        node.stash.setdefault(_PAGES, []).append(pg)
    return context, pg


@pytest.fixture()
def page(browser, live_server, request):
    """A fresh browser context (no cookies) per test. Page errors (JavaScript exceptions, resources blocked by
    the CSP, failed loads) are collected and fail the test; on failure a screenshot is saved."""
    context, pg = _open_page(browser, live_server, request.node)
    yield pg
    report = getattr(request.node, "rep_call", None)
    safe_name = re.sub(r"[^\w.-]+", "_", request.node.name)
    failed_shot = SCREENSHOTS / f"FAILED-{safe_name}.png"
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            pg.screenshot(path=str(failed_shot), full_page=True)
        except Exception:  # noqa: BLE001 - the page may be gone; the test already failed
            pass
    else:
        failed_shot.unlink(missing_ok=True)  # no stale failure picture from an earlier run
    context.close()


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}


@pytest.fixture()
def phone(browser, live_server, request):
    """Like `page`, on a phone: 390 × 844 portrait, touch, a mobile browser (issue 12)."""
    context, pg = _open_page(browser, live_server, request.node, **PHONE)
    yield pg
    context.close()


# Journey screenshots that the README shows as well: journey name -> docs/screenshots/<name>.png
README_SHOTS = {
    "02-login": "login",
    "07-review-queue": "unit-registration-queue",
    "20-declare-form": "professional-declare",
    "23-review-queue": "declaration-review-queue",
    "24-annual-completion": "professional-annual-completion",
    "42-personnel-review": "unit-personnel-review",
    "47-transfer-accept": "unit-transfer-accept",
    "90-class-editor": "base-class-editor",
    "91-class-review-detail": "hr-class-review",
    "91-class-page-preview": "professional-class-page",
    "92-learning-centre": "professional-learning-centre",
    "80-pay-page": "professional-pay-page",
    "82-my-orders": "professional-my-orders",
    "hr-base-plans": "hr-base-plans",
    "60-bell": "notifications-bell",
}


@pytest.fixture()
def shot():
    """shot(page, name): full-page PNG in test-artifacts/screenshots/ (git-ignored); the README's own pictures
    (README_SHOTS) are also written to docs/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(pg, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        if name in README_SHOTS:
            doc_shot(pg, README_SHOTS[name])
        return path

    return take


@pytest.fixture()
def new_page(browser, live_server, request):
    """new_page(): one more page in its own fresh context (no cookies: a visitor who is not logged in), with
    the same error collection as `page`; closed after the test."""
    contexts = []

    def open_one():
        context, pg = _open_page(browser, live_server, request.node)
        contexts.append(context)
        return pg

    yield open_one
    for context in contexts:
        context.close()
