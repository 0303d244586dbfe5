"""Speed figures on the 1,000,000-person bench database (foundation pages, and with the hours of issue 3:
年度完成情况, the reviewers' declaration queues first page and page 1,000, one certificate PDF), and the FAB 5.3
default baseline on the same tables.

    python bench/run.py                       # needs the database made by bench/generate.py
    python bench/run.py --generate            # generate what is missing first (the whole database, or the hours)
    python bench/run.py --no-slow-baseline    # skip FAB's list pages whose search form lists 1,000,000 rows
    python bench/run.py --no-hours            # the foundation pages only
    python bench/run.py --follow-links        # also reach page 1,000 of each queue through 999 next links

Page 1,000 of a queue (20 rows a page, newest first, keyset `?after=<id>`) starts after the 19,980th row of the
queue: the bench looks that id up with one untimed SQL statement, checks that the app's own first three "next"
links lead to exactly the rows that statement orders, and times `GET /review/declarations/?after=<id>`.

Times are server times: the application's WSGI call measured by a timer around app.wsgi_app (request parsed,
view run, template rendered, body produced), through Flask's test client, after warm-up; median of --reps.
SQL statements are counted with a SQLAlchemy `before_cursor_execute` listener; a statement counts as
authentication + permissions when the security manager issued it (its load_user / has_access / role and
permission methods are wrapped while measuring).

The FAB baseline (bench/fab_baseline.py) runs in a subprocess: FAB's appbuilder is a singleton in the project,
the baseline needs an AppBuilder and a plain SecurityManager of its own.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import CAPTCHA, DB_URL, PASSWORD, app_overrides, bench_state, has_hours, id_number_of  # noqa: E402
from measure import SqlRecorder, WsgiTimer, csrf_from, instrument_security_manager, measure  # noqa: E402

PICKER_FRAGMENTS = ["医院", "中学", "科技", "历下区", "泉城", "华信德润", "济南市", "人民医院", "济", "zzz"]
TARGET_MS = 50.0
TARGET_AUTH = 5
# issue 3 (hours): server-time targets
TARGET_ANNUAL_MS = 50.0
TARGET_QUEUE_MS = 100.0
TARGET_PDF_MS = 300.0
QUEUE_STATE = {"UnitAdmin": "pending_unit", "DeptAdmin": "pending_dept", "HRAdmin": "pending_hr"}
PAGE = 20  # rows per queue page (app.views.hours.DeclarationReviewView.index)
DEEP_PAGE = 1000
ROW_RE = re.compile(r'name="ids" value="(\d+)"')
NEXT_RE = re.compile(r'<li class="next"><a href="[^"]*[?&;]after=(\d+)')


def log(msg: str = "") -> None:
    print(msg, flush=True)


def login(client, id_number: str, role: str) -> None:
    """Through the real form: GET the page (CSRF token), draw the captcha (fixed in TESTING), POST."""
    token = csrf_from(client.get("/login/").get_data(as_text=True))
    client.get("/captcha.png")
    response = client.post("/login/", data={"csrf_token": token, "role": role, "id_number": id_number,
                                            "password": PASSWORD, "captcha": CAPTCHA})
    if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
        raise RuntimeError(f"login {role} failed: {response.status_code} {response.get_data(as_text=True)[:1500]}")


def run_ours(url: str, reps: int, warmup: int, hours: bool = False, follow_links: bool = False) -> dict:
    from app import create_app
    from app.extensions import appbuilder, db

    app = create_app(**app_overrides(url))
    with app.app_context():
        engine = db.engine
        professional = db.session.execute(db.text(
            "SELECT u.username FROM ab_user u JOIN membership m ON m.user_id = u.id "
            "WHERE m.role = 'Professional' AND m.state = 'active' ORDER BY u.id LIMIT 1")).scalar()
        admin_orgs = dict(db.session.execute(db.text(
            "SELECT u.username, o.name || ' (' || (SELECT count(*) FROM registration r JOIN org x "
            "ON x.id = r.reviewer_org_id WHERE r.state = 'pending' AND x.path LIKE o.path || '%') || ' pending)' "
            "FROM ab_user u JOIN membership m ON m.user_id = u.id JOIN org o ON o.id = m.org_id "
            "WHERE m.role <> 'Professional'")).all())
    recorder = SqlRecorder()
    recorder.attach(engine)
    instrument_security_manager(appbuilder.sm, recorder)
    timer = WsgiTimer(app)
    results: dict = {"picker": [], "queue": [], "pages": [], "accounts": {}}

    anon = app.test_client()
    for fragment in PICKER_FRAGMENTS:
        r = measure(anon, timer, recorder, f"picker q={fragment}", f"/public/orgs?q={fragment}&kind=unit", reps, warmup)
        r.matches = len(anon.get(f"/public/orgs?q={fragment}&kind=unit").get_json()["results"])
        results["picker"].append(r)
        log(f"  {r.label:<28} median {r.median:7.2f} ms  p90 {r.p90:7.2f}  sql {r.sql_ms:6.2f} ms  "
            f"{r.size:6d} B  {r.statements} stmt")

    accounts = [("unit_admin", "UnitAdmin"), ("dept_admin", "DeptAdmin"), ("city_admin", "HRAdmin")]
    for key, role in accounts:
        client = app.test_client()
        id_number = id_number_of(key)
        results["accounts"][key] = admin_orgs.get(id_number, "?")
        login(client, id_number, role)
        for label, page in (("queue first page", "/review/registrations/"), ("home", "/home/"),
                            ("approved tab", "/review/registrations/?state=approved")):
            r = measure(client, timer, recorder, f"{label} {role}", page, reps, warmup)
            (results["queue"] if label.startswith("queue") else results["pages"]).append(r)
            log(f"  {r.label:<28} median {r.median:7.2f} ms  p90 {r.p90:7.2f}  sql {r.sql_ms:6.2f} ms  "
                f"{r.size:6d} B  {r.statements} stmt ({r.auth_statements} auth)")
    client = app.test_client()
    login(client, professional, "Professional")
    r = measure(client, timer, recorder, "home Professional", "/home/", reps, warmup)
    results["pages"].append(r)
    log(f"  {r.label:<28} median {r.median:7.2f} ms  p90 {r.p90:7.2f}  sql {r.sql_ms:6.2f} ms  "
        f"{r.size:6d} B  {r.statements} stmt ({r.auth_statements} auth)")
    if hours:
        results["hours"], results["hours_info"] = run_hours(app, timer, recorder, reps, warmup, follow_links)
    results["plans"] = explain_pages(engine, results["queue"] + results["pages"] + results.get("hours", []))
    with app.app_context():
        db.engine.dispose()
    return results


def hours_setup(app) -> dict:
    """Untimed look-ups: the professional whose hours are shown, each admin's queue size and the ids where its
    pages start (the queue is ordered by id descending, so page p starts after the (p-1)*20-th row)."""
    from app.extensions import db

    year = datetime.date.today().year - 1
    info: dict = {"year": year, "queues": {}}
    with app.app_context():
        row = db.session.execute(db.text(
            "SELECT u.username, p.id, p.name, (SELECT count(*) FROM hour_record h WHERE h.person_id = p.id) "
            "FROM year_summary s JOIN annual_standard st ON st.year = s.year AND st.region_id IS NULL "
            "JOIN person p ON p.id = s.person_id JOIN ab_user u ON u.id = p.user_id "
            "JOIN membership m ON m.user_id = u.id AND m.role = 'Professional' AND m.state = 'active' "
            "WHERE s.year = :year AND s.public_hours >= st.public_min AND s.professional_hours >= st.professional_min "
            "AND s.public_hours + s.professional_hours >= st.total_min "
            "AND (SELECT count(*) FROM year_summary x WHERE x.person_id = p.id) = 5 "
            "AND (SELECT count(*) FROM hour_record h WHERE h.person_id = p.id) BETWEEN 10 AND 14 "
            "ORDER BY p.id LIMIT 1"), {"year": year}).one()
        info["professional"] = {"username": row[0], "person_id": row[1], "name": row[2], "records": row[3]}
        info["year_records"] = db.session.execute(db.text(
            "SELECT count(*) FROM hour_record WHERE person_id = :p AND year = :y"), {"p": row[1], "y": year}).scalar()
        for role, state in QUEUE_STATE.items():
            org = db.session.execute(db.text(
                "SELECT o.id, o.name, o.path FROM membership m JOIN org o ON o.id = m.org_id "
                "WHERE m.role = :role AND m.state = 'active' ORDER BY m.id LIMIT 1"), {"role": role}).one()
            scoped = ("FROM declaration WHERE state = :state AND reviewer_org_id IN "
                      "(SELECT id FROM org WHERE path LIKE :prefix)")
            params = {"state": state, "prefix": org.path + "%"}
            total = db.session.execute(db.text("SELECT count(*) " + scoped), params).scalar()
            first = db.session.execute(db.text(f"SELECT id {scoped} ORDER BY id DESC LIMIT {4 * PAGE}"),
                                       params).scalars().all()
            deep = db.session.execute(db.text(f"SELECT id {scoped} ORDER BY id DESC "
                                              f"OFFSET {(DEEP_PAGE - 1) * PAGE - 1} LIMIT 2"), params).scalars().all()
            info["queues"][role] = {"org": org.name, "state": state, "pending": total, "first_ids": first,
                                    "deep_after": deep[0] if len(deep) == 2 else None,
                                    "deep_first": deep[1] if len(deep) == 2 else None}
    return info


def run_hours(app, timer, recorder, reps: int, warmup: int, follow_links: bool) -> tuple[list, dict]:
    """Issue 3: the professional's 年度完成情况, each reviewer's declaration queue (first page and page 1,000),
    one certificate PDF."""
    info = hours_setup(app)
    out = []

    def show(r):
        out.append(r)
        verdict = "" if not r.target else ("  ok" if r.median <= r.target else f"  MISSED (target {r.target:.0f} ms)")
        log(f"  {r.label:<52} median {r.median:7.2f} ms  p90 {r.p90:7.2f}  sql {r.sql_ms:6.2f} ms  "
            f"{r.size:8,d} B  {r.statements} stmt ({r.auth_statements} auth){verdict}")

    accounts = [("unit_admin", "UnitAdmin"), ("dept_admin", "DeptAdmin"), ("city_admin", "HRAdmin")]
    for key, role in accounts:
        q = info["queues"][role]
        client = app.test_client()
        login(client, id_number_of(key), role)

        def rows_of(response, n=PAGE):
            ids = [int(x) for x in ROW_RE.findall(response.get_data(as_text=True))]
            if len(ids) != n:
                raise RuntimeError(f"expected {n} rows on the queue page, got {len(ids)}")
            return ids

        # the pagination the bench computes is the app's: follow the first next links and compare
        page = client.get("/review/declarations/")
        for p in range(1, 4):
            ids = rows_of(page)
            if ids != q["first_ids"][(p - 1) * PAGE: p * PAGE]:
                raise RuntimeError(f"{role}: page {p} rows differ from the computed queue order")
            after = int(NEXT_RE.search(page.get_data(as_text=True)).group(1))
            page = client.get(f"/review/declarations/?after={after}")
        if follow_links:
            t0 = time.perf_counter()
            page = client.get("/review/declarations/")
            for _ in range(DEEP_PAGE - 1):
                after = int(NEXT_RE.search(page.get_data(as_text=True)).group(1))
                page = client.get(f"/review/declarations/?after={after}")
            if after != q["deep_after"] or rows_of(page)[0] != q["deep_first"]:
                raise RuntimeError(f"{role}: following {DEEP_PAGE - 1} next links ended at after={after}, "
                                   f"computed {q['deep_after']}")
            q["followed"] = f"{DEEP_PAGE - 1} next links followed in {time.perf_counter() - t0:.1f} s, same page"

        r = measure(client, timer, recorder, f"declaration queue first page {role} ({q['pending']:,} pending)",
                    "/review/declarations/", reps, warmup, check=rows_of)
        r.target = TARGET_QUEUE_MS
        show(r)
        if q["deep_after"] is None:
            log(f"  {role}: fewer than {DEEP_PAGE} pages ({q['pending']:,} pending); page {DEEP_PAGE} not measured")
            continue

        def deep_check(response, first=q["deep_first"]):
            if rows_of(response)[0] != first:
                raise RuntimeError(f"page {DEEP_PAGE:,} does not start where computed")

        r = measure(client, timer, recorder, f"declaration queue page {DEEP_PAGE:,} {role}",
                    f"/review/declarations/?after={q['deep_after']}", reps, warmup, check=deep_check)
        r.target = TARGET_QUEUE_MS
        r.note = f"after={q['deep_after']}"
        show(r)

    prof = info["professional"]
    client = app.test_client()
    login(client, prof["username"], "Professional")

    def annual_check(response):
        if f'class="year-{info["year"]}"' not in response.get_data(as_text=True):
            raise RuntimeError("annual page without the expected year")

    r = measure(client, timer, recorder, "年度完成情况 /hours/annual Professional (5 years)", "/hours/annual", reps,
                warmup, check=annual_check)
    r.target = TARGET_ANNUAL_MS
    show(r)
    r = measure(client, timer, recorder, f"year detail /hours/annual/{info['year']} ({info['year_records']} records)",
                f"/hours/annual/{info['year']}", reps, warmup)
    show(r)

    token = csrf_from(client.get("/hours/annual").get_data(as_text=True))

    def pdf_check(response):
        if response.mimetype != "application/pdf" or not response.get_data().startswith(b"%PDF"):
            raise RuntimeError(f"not a PDF: {response.mimetype} {response.get_data()[:200]!r}")

    url = f"/hours/print/{info['year']}/completion"
    first = client.post(url, data={"csrf_token": token})
    pdf_check(first)
    info["pdf_first_ms"] = timer.last * 1000  # first in this process: font registration and the new row
    r = measure(client, timer, recorder, f"certificate PDF POST {url}", url, reps, warmup, method="POST",
                data={"csrf_token": token}, check=pdf_check)
    r.target = TARGET_PDF_MS
    r.note = "re-print (the row exists): audit row + PDF"
    show(r)
    return out, info


def run_baseline(url: str, slow: bool, reps: int, slow_reps: int, hours: bool = False) -> dict | None:
    """The FAB 5.3 default app (fab_baseline.py) in a subprocess; with `hours`, a second app with the list views
    of the hours tables, in a second subprocess (so each app has only its own views in its menu)."""
    out = None
    for extra in ([[], ["--hours"]] if hours else [[]]):
        part = _baseline_process(url, slow, reps, slow_reps, extra)
        if part is None:
            return out
        out = part if out is None else {"results": out["results"] + part["results"]}
    return out


def _baseline_process(url: str, slow: bool, reps: int, slow_reps: int, extra: list[str]) -> dict | None:
    cmd = [sys.executable, str(HERE / "fab_baseline.py"), "--db-url", url, "--reps", str(reps),
           "--slow-reps", str(slow_reps if slow else 0)] + extra
    log(f"$ {' '.join(cmd[1:])}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    lines = proc.stdout.strip().splitlines()
    for line in lines[:-1]:
        log("  " + line)
    if proc.returncode != 0 or not lines:
        log(f"FAB baseline failed (exit {proc.returncode})")
        return None
    return json.loads(lines[-1])


def explain_pages(engine, results: list) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of every page statement (not auth) of the measured pages, with their parameters,
    on the app's engine (so under the app's plan_cache_mode = force_custom_plan)."""
    out = []
    with engine.connect() as conn:
        for r in results:
            for s in r.sample_sql:
                if s.auth:
                    continue
                out.append(f"-- {r.label}: {' '.join(s.sql.split())[:150]}")
                rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + s.sql, s.params).all()
                out.extend(row[0] for row in rows)
        conn.rollback()
    return out


def ratio(a: float, b: float) -> str:
    return f"{b / a:,.0f}x" if a and b else "-"


def report(ours: dict, base: dict | None, meta: dict) -> str:
    lines = [f"Bench run {meta['date']} on {meta['machine']}; database: {meta['db']}",
             f"Load average (1 min) at start / end: {meta['load']}",
             ""]
    lines.append("| measurement | median ms | p90 ms | min ms | SQL ms | size | statements (auth) | target |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in ours["picker"]:
        ok = "ok" if r.median <= TARGET_MS else "MISSED"
        lines.append(f"| unit picker `q={r.url.split('q=')[1].split('&')[0]}` ({r.matches} shown) | {r.median:.1f} | "
                     f"{r.p90:.1f} | {min(r.times_ms):.1f} | {r.sql_ms:.1f} | {r.size:,} B | {r.statements} ({r.auth_statements}) | "
                     f"<= 50 ms {ok} |")
    for r in ours["queue"]:
        ok = "ok" if r.median <= TARGET_MS else "MISSED"
        lines.append(f"| {r.label} | {r.median:.1f} | {r.p90:.1f} | {min(r.times_ms):.1f} | {r.sql_ms:.1f} | {r.size:,} B | "
                     f"{r.statements} ({r.auth_statements}) | <= 50 ms {ok}; auth <= 5 "
                     f"{'ok' if r.auth_statements <= TARGET_AUTH else 'MISSED'} |")
    for r in ours["pages"]:
        time_ok = ("" if not r.label.startswith("approved") else
                   f"<= 50 ms {'ok' if r.median <= TARGET_MS else 'MISSED'} (not in the issue); ")
        lines.append(f"| {r.label} | {r.median:.1f} | {r.p90:.1f} | {min(r.times_ms):.1f} | {r.sql_ms:.1f} | {r.size:,} B | "
                     f"{r.statements} ({r.auth_statements}) | {time_ok}auth <= 5 "
                     f"{'ok' if r.auth_statements <= TARGET_AUTH else 'MISSED'} |")
    lines.append("")
    lines.append("Reviewer scopes: " + "; ".join(f"{k}: {v}" for k, v in ours["accounts"].items()))
    if base:
        lines.append("")
        lines.append("FAB 5.3 defaults (plain SecurityManager, DB roles, generated ModelView on Person):")
        lines.append("")
        lines.append("| measurement | median ms | runs | size | statements (auth) |")
        lines.append("|---|---:|---:|---:|---:|")
        for r in base["results"]:
            if r["key"] in ("index", "add", "list"):
                lines.append(f"| {r['label']} | {r['median_ms']:,.1f} | {r['reps']} | {r['size']:,} B | "
                             f"{r['statements']} ({r['auth_statements']}) |")
        by = {r["key"]: r for r in base["results"]}
        picker = sorted(r.median for r in ours["picker"])
        picker_med = picker[len(picker) // 2]
        picker_size = max(r.size for r in ours["picker"])
        queue_worst = max(ours["queue"], key=lambda r: r.median)
        lines.append("")
        lines.append("Ratios (baseline / ours):")
        if "add" in by:
            lines.append(f"- choosing a unit: FAB add form with the {by['add']['options']:,}-option dropdown "
                         f"{by['add']['median_ms']:,.0f} ms, {by['add']['size']:,} B vs our picker search "
                         f"{picker_med:.1f} ms (median over fragments), <= {picker_size:,} B: "
                         f"{ratio(picker_med, by['add']['median_ms'])} faster, "
                         f"{ratio(picker_size, by['add']['size'])} smaller")
        if "list" in by:
            lines.append(f"- person list with a search form: FAB list page whose search form lists "
                         f"{by['list']['options']:,} <option>s (every one of the {by['list'].get('accounts', 0):,} "
                         f"accounts and {by['list'].get('orgs', 0):,} orgs) {by['list']['median_ms']:,.0f} ms, "
                         f"{by['list']['size']:,} B vs our review queue first page (slowest scope, "
                         f"{queue_worst.label}) {queue_worst.median:.1f} ms, {queue_worst.size:,} B: "
                         f"{ratio(queue_worst.median, by['list']['median_ms'])} faster")
        auth_ours = max(r.auth_statements for r in ours["queue"] + ours["pages"])
        auth_base = max(r["auth_statements"] for r in base["results"] if r["key"] in ("index", "add", "list"))
        lines.append(f"- auth + permission statements per logged-in page: FAB {auth_base} vs ours {auth_ours} "
                     f"({ratio(auth_ours, auth_base)} fewer)")
    if ours.get("hours"):
        lines.extend(report_hours(ours, base))
    return "\n".join(lines)


def report_hours(ours: dict, base: dict | None) -> list[str]:
    info = ours["hours_info"]
    prof = info["professional"]
    lines = ["", "Hours (issue 3): 10,000,000 hour records; targets are server-time medians", "",
             "| measurement | median ms | p90 ms | min ms | SQL ms | size | statements (auth) | target |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in ours["hours"]:
        target = (f"< {r.target:.0f} ms {'ok' if r.median <= r.target else 'MISSED'}" if r.target else "none")
        lines.append(f"| {r.label} | {r.median:.1f} | {r.p90:.1f} | {min(r.times_ms):.1f} | {r.sql_ms:.1f} | "
                     f"{r.size:,} B | {r.statements} ({r.auth_statements}) | {target} |")
    lines.append("")
    lines.append(f"Professional: person {prof['person_id']} ({prof['records']} hour records in 5 years, "
                 f"{info['year_records']} in {info['year']}, {info['year']} passed). First certificate of the run "
                 f"(font registration, new certificate row): {info.get('pdf_first_ms', 0):.0f} ms.")
    for role, q in info["queues"].items():
        if q["deep_after"] is None:
            lines.append(f"Queue {role}: {q['org']}, {q['pending']:,} {q['state']} in scope: fewer than "
                         f"{DEEP_PAGE:,} pages")
            continue
        followed = f"; {q['followed']}" if "followed" in q else ""
        lines.append(f"Queue {role}: {q['org']}, {q['pending']:,} {q['state']} in scope; page {DEEP_PAGE:,} = "
                     f"?after={q['deep_after']} (the id of row {(DEEP_PAGE - 1) * PAGE:,} in queue order; the first "
                     f"3 next links of the app were followed and matched){followed}")
    if not base:
        return lines
    by = {r["key"]: r for r in base["results"]}
    if "hr_first" not in by:
        return lines
    lines += ["", "FAB 5.3 list views on the same tables (25 rows a page, count(*) + OFFSET):", "",
              "| measurement | median ms | runs | size | rows shown | <option>s | statements (auth) |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for key in ("hr_first", "hr_deep", "hr_deep_sorted", "decl_first", "decl_deep", "dq_first", "dq_deep"):
        if key in by:
            r = by[key]
            lines.append(f"| {r['label']} | {r['median_ms']:,.1f} | {r['reps']} | {r['size']:,} B | {r['rows']} | "
                         f"{r['options']:,} | {r['statements']} ({r['auth_statements']}) |")
    mine = {r.label.split(" (")[0]: r for r in ours["hours"]}
    annual = next(r for r in ours["hours"] if r.label.startswith("年度完成情况"))
    hr_first = mine.get("declaration queue first page HRAdmin")
    hr_deep = mine.get(f"declaration queue page {DEEP_PAGE:,} HRAdmin")
    pdf = next(r for r in ours["hours"] if r.label.startswith("certificate PDF"))
    lines += ["", "Ratios (FAB / ours):", "", "| task | FAB 5.3 | ours | ratio |", "|---|---:|---:|---:|"]

    def row(task, fab, our):
        if fab and our:
            x = fab["median_ms"] / our.median
            text = f"**{x:,.0f}x**" if x >= 10 else f"**{x:.1f}x**" + (" (FAB faster)" if x < 1 else "")
            lines.append(f"| {task} | {fab['median_ms']:,.0f} ms | {our.median:.1f} ms | {text} |")

    row("a professional's hours: FAB HourRecord list (defaults) vs our 年度完成情况", by.get("hr_first"), annual)
    row("reviewer queue, first page: FAB Declaration list (defaults) vs our city HR queue", by.get("decl_first"),
        hr_first)
    row("reviewer queue, page 1,000: FAB Declaration list (defaults, `page_…=999`) vs our city HR queue "
        "(`?after=`)", by.get("decl_deep"), hr_deep)
    row("reviewer queue, first page: FAB configured (state = pending_hr, id desc) vs our city HR queue",
        by.get("dq_first"), hr_first)
    row("reviewer queue, page 1,000: FAB configured vs our city HR queue", by.get("dq_deep"), hr_deep)
    lines.append(f"| one certificate PDF | no generated counterpart | {pdf.median:.1f} ms | - |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=30, help="timed repetitions per page (>= 20)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--generate", action="store_true", help="run bench/generate.py first if the DB is missing")
    parser.add_argument("--with-slow-baseline", dest="slow", action="store_true", default=True,
                        help="measure FAB's list page with the 1,000,000-account search filter (~50 s a view; "
                             "on by default)")
    parser.add_argument("--no-slow-baseline", "--without-slow-baseline", dest="slow", action="store_false")
    parser.add_argument("--slow-reps", type=int, default=2)
    parser.add_argument("--baseline-reps", type=int, default=10, help="timed repetitions of the FAB add page")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the statements of each logged-in page and EXPLAIN ANALYZE of the page statements")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--no-hours", action="store_true", help="skip the pages of issue 3 (hours)")
    parser.add_argument("--follow-links", action="store_true",
                        help="also reach each reviewer's page 1,000 by following 999 next links (untimed check)")
    args = parser.parse_args(argv)
    if args.reps < 20:
        parser.error("--reps must be at least 20")

    state = bench_state(args.db_url)
    if state is None or (not has_hours(state) and not args.no_hours):
        if not args.generate:
            if state is None:
                log("The bench database is missing or incomplete: run `python bench/generate.py` "
                    "(or this script with --generate).")
                return 2
            log("The bench database has no hours (issue 3): run `python bench/generate.py --hours` for them; "
                "measuring the foundation pages only.")
        else:
            subprocess.run([sys.executable, str(HERE / "generate.py"), "--db-url", args.db_url, "--if-missing"],
                           check=True)
            state = bench_state(args.db_url)
    hours = has_hours(state) and not args.no_hours
    log(f"database: {state}")

    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    log("ours:")
    ours = run_ours(args.db_url, args.reps, args.warmup, hours, args.follow_links)
    base = None
    if not args.no_baseline:
        log("FAB 5.3 baseline:")
        base = run_baseline(args.db_url, args.slow, args.baseline_reps, args.slow_reps, hours)
    plans = ours.pop("plans")
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                       f"{pg_version(args.db_url)}",
            "db": state,
            "load": f"{load_start:.1f} / {os.getloadavg()[0]:.1f} (other work shares the machine)"}
    text = report(ours, base, meta)
    missed = [r for r in ours.get("hours", []) if r.target and r.median > r.target]
    if missed and not args.show_sql:
        log("")
        log("EXPLAIN (ANALYZE, BUFFERS) of the pages that missed their target:")
        show_plan = False
        for line in plans:
            if line.startswith("-- "):
                show_plan = any(line.startswith(f"-- {r.label}:") for r in missed)
            if show_plan:
                log(line)
    if args.show_sql:
        log("")
        for r in ours["queue"] + ours["pages"] + ours.get("hours", []):
            log(f"-- {r.label}: {r.statements} statements ({r.auth_statements} auth)")
            for s in r.sample_sql:
                log(f"   [{'auth' if s.auth else 'page'} {s.ms:6.2f} ms] {' '.join(s.sql.split())[:160]}")
        if base:
            for r in base["results"]:
                log(f"-- FAB {r['label']}: {r['statements']} statements ({r['auth_statements']} auth)")
                for s in r["sql"]:
                    log(f"   [{'auth' if s['auth'] else 'page'} {s['ms']:6.2f} ms] {s['sql'][:160]}")
        log("")
        log("\n".join(plans))
    log("")
    log(text)
    log(f"\n(total bench time {time.perf_counter() - t0:.0f} s)")
    if args.json:
        payload = {"meta": meta, "ours": {k: [r.as_dict() for r in v] if isinstance(v, list) else v
                                          for k, v in ours.items()},
                   "baseline": base, "plans": plans}
        Path(args.json).write_text(json.dumps(payload, ensure_ascii=False, indent=1))
    return 0


def pg_version(url: str) -> str:
    import psycopg

    from common import libpq_url

    with psycopg.connect(libpq_url(url)) as conn:
        return "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]


if __name__ == "__main__":
    sys.exit(main())
