"""Every list of the platform, as every admin role of the bench database, with and without each filter it offers.

    python bench/lists.py [--reps 5] [--target 50] [--only SUBSTRING]

The pages are not a hand list: every parameterless GET route of the URL map that answers 200 with an HTML page for
the role is opened (lists, queues, home pages, forms). Each page's own filters are read from the page itself: every
option of every <select> and a rare and a common term for every text box of its GET forms, every tab link
(`?state=…`, `?tab=…`), a search of the generated lists by each search column, and the "next page" link (keyset
`after=`, or FAB's last page inside the capped count). Each variant is timed (server time of the WSGI call, median
of --reps after one warm-up) and its SQL statements counted; the table lists the worst variant per page and role,
and every variant over the target. For a generated list, the worst variant is timed once more with FAB's own data
interface (plain SQLAInterface: exact count, OFFSET paging, a query per related row) in place of the view's, the
baseline of the same run. Needs the database made by bench/generate.py (1,000,000 persons, 10,000,000
hour records).
"""
from __future__ import annotations

import argparse
import html
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # first: bench/run.py, not the project's run.py
from common import ADMIN_ACCOUNTS, DB_URL, app_overrides, bench_state, id_number_of  # noqa: E402
from measure import instrumented_app, measure  # noqa: E402
from run import login  # noqa: E402

RARE, COMMON = "簟", "张"
SKIP = {"AuthView.logout", "AuthView.captcha", "AuthView.login", "AuthView.pick_role", "AuthView.forgot",
        "static", "appbuilder.static", "LocaleView.index", "AccountView.role", "AccountView.password"}


class GetForms(HTMLParser):
    """The filters a page offers: fields of its GET forms, and links back to the same path with a query."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.forms: list[dict] = []
        self.links: set[str] = set()
        self._form = None
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "get":
            self._form = {"action": a.get("action") or self.path, "text": [], "select": {}, "hidden": {}}
            self.forms.append(self._form)
        elif self._form is not None and tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("text", "search"):
                self._form["text"].append(a["name"])
            elif kind == "hidden":
                self._form["hidden"][a["name"]] = a.get("value") or ""
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select = self._form["select"].setdefault(a["name"], [])
        elif self._select is not None and tag == "option":
            self._select.append(a.get("value") or "")
        elif tag == "a" and a.get("href"):
            href = html.unescape(a["href"])
            parts = urlsplit(href)
            if parts.path == self.path and parts.query and not parts.netloc:
                self.links.add(href)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def search_terms(model, column: str) -> tuple[str, ...]:
    """A rare and a common value of the column's type (a word in a number column is refused with a 400)."""
    if model.is_relation(column):
        return ("1",)
    if model.is_integer(column) or model.is_numeric(column) or model.is_float(column):
        return ("30", "2024")
    if model.is_date(column) or model.is_datetime(column):
        return ("2024-01-01",)
    if model.is_boolean(column):
        return ("y",)
    return (RARE, COMMON)


def variants(path: str, body: str, view) -> list[tuple[str, str]]:
    """(label, url) of every filter of the page, one at a time, and its next page."""
    found = GetForms(path)
    found.feed(body)
    out: list[tuple[str, str]] = []
    for form in found.forms:
        action = urlsplit(form["action"]).path or path
        if action != path:
            continue
        for name in form["text"]:
            for term in (RARE, COMMON):
                out.append((f"{name}={term}", f"{path}?{urlencode({**form['hidden'], name: term})}"))
        for name, options in form["select"].items():
            for value in options:
                if value:
                    out.append((f"{name}={value}", f"{path}?{urlencode({**form['hidden'], name: value})}"))
    for href in sorted(found.links):
        query = dict(parse_qsl(urlsplit(href).query))
        if "after" in query or any(k.startswith(("page_", "_oc_", "_od_", "psize_")) for k in query):
            out.append(("next page" if "after" in query or any(k.startswith("page_") for k in query)
                        else "order " + ",".join(f"{k}={v}" for k, v in query.items()), href))
        elif not any(k.startswith("_flt_") for k in query):
            out.append(("tab " + ",".join(f"{k}={v}" for k, v in query.items()), href))
    # The generated lists: a search by each search column (FAB's first filter of the column's type).
    search = getattr(view, "search_columns", None) or []
    name = type(view).__name__
    for column in search:
        for term in search_terms(view.datamodel, column):
            out.append((f"search {column}={term}", f"{path}?_flt_0_{column}={term}"))
    if hasattr(view, "datamodel") and getattr(view, "list_columns", None):
        from app.views.admin import RowInterface

        last = RowInterface.COUNT_CAP // (view.page_size or 20) - 1
        out.append(("page inside the cap, last", f"{path}?page_{name}={last}"))
    seen, unique = set(), []
    for label, url in out:
        if url not in seen:
            seen.add(url)
            unique.append((label, url))
    return unique


def fab_default(view, client, timer, recorder, label: str, url: str):
    """The same page and variant served by FAB's default data interface (the class swapped for one call)."""
    from flask_appbuilder.models.sqla.interface import SQLAInterface

    model = view.datamodel
    own = type(model)
    model.__class__ = SQLAInterface
    try:
        return measure(client, timer, recorder, f"FAB default {label}", url, 1, 0)
    finally:
        model.__class__ = own


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--target", type=float, default=50.0, help="ms of server time per list page")
    parser.add_argument("--only", default="", help="only pages whose path contains this")
    args = parser.parse_args(argv)
    if bench_state(args.db_url) is None:
        print("no bench database: run bench/generate.py first", file=sys.stderr)
        return 2

    from app.extensions import appbuilder

    app, recorder, timer = instrumented_app(app_overrides(args.db_url))
    views = {}
    for view in appbuilder.baseviews:
        views[type(view).__name__] = view
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint in SKIP:
            continue
        if rule.endpoint.split(".")[0] in ("PublicView", "VerifyView", "HomeIndexView") or "api" in rule.rule:
            continue
        if "/export" in rule.rule or rule.rule.startswith("/statistics"):
            continue  # not lists: measured by bench/export.py and bench/completion_stats.py, with their own targets
        if args.only and args.only not in rule.rule:
            continue
        pages.append((rule.rule, views.get(rule.endpoint.split(".")[0])))
    pages.sort()

    rows, over = [], []
    started = time.time()
    from app.views.admin import RowInterface

    for key, (_region, _seq, name, role) in ADMIN_ACCOUNTS.items():
        client = app.test_client()
        login(client, id_number_of(key), role)
        for path, view in pages:
            first = client.get(path)
            if first.status_code != 200 or "text/html" not in first.content_type:
                continue
            body = first.get_data(as_text=True)
            worst = None
            tried = [("first page", path)] + variants(path, body, view)
            for label, url in tried:
                try:
                    r = measure(client, timer, recorder, f"{role} {label}", url, args.reps, 1)
                except Exception as exc:  # noqa: BLE001 - a page that fails is reported, the walk goes on
                    over.append((key, path, label, f"error: {str(exc).splitlines()[0]}"))
                    continue
                if r.median > args.target:
                    over.append((key, path, label, f"{r.median:.1f} ms, {r.statements} stmt"))
                if worst is None or r.median > worst[1].median:
                    worst = (label, r, url)
            if worst:
                label, r, url = worst
                fab = ""
                if isinstance(getattr(view, "datamodel", None), RowInterface):
                    try:
                        base = fab_default(view, client, timer, recorder, label, url)
                        fab = f"{base.median:.1f} ms, {base.statements} stmt"
                    except Exception as exc:  # noqa: BLE001 - FAB's own interface fails on some searches
                        fab = f"fails: {type(exc).__name__}"
                rows.append((key, path, len(tried), label, r.median, r.statements, fab))
                print(f"  {key:<14} {path:<40} {len(tried):3d} variants  worst {r.median:7.1f} ms "
                      f"{r.statements:3d} stmt  ({label}){'  FAB default ' + fab if fab else ''}", flush=True)
    print()
    print("| account | page | variants | worst variant | server time | SQL statements | FAB default, same variant |")
    print("|---|---|---:|---|---:|---:|---:|")
    for key, path, n, label, ms, stmts, fab in rows:
        print(f"| {key} | `{path}` | {n} | {label} | {ms:.1f} ms | {stmts} | {fab or '—'} |")
    print()
    print(f"{len(over)} variants over {args.target:.0f} ms (or failing):")
    for role, path, label, what in over:
        print(f"  {role} {path} [{label}]: {what}")
    print(f"({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
