"""Speed figures of the foundation on the 1,000,000-person bench database, and the FAB 5.3 default baseline.

    python bench/run.py                       # needs the database made by bench/generate.py
    python bench/run.py --generate            # generate it first if it is missing
    python bench/run.py --no-slow-baseline    # skip the ~1 min FAB list page with the 1,000,000-account filter

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
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import CAPTCHA, DB_URL, PASSWORD, app_overrides, bench_state, id_number_of  # noqa: E402
from measure import SqlRecorder, WsgiTimer, csrf_from, instrument_security_manager, measure  # noqa: E402

PICKER_FRAGMENTS = ["医院", "中学", "科技", "历下区", "泉城", "华信德润", "济南市", "人民医院", "济", "zzz"]
TARGET_MS = 50.0
TARGET_AUTH = 5


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


def run_ours(url: str, reps: int, warmup: int) -> dict:
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
    results["plans"] = explain_pages(engine, results["queue"] + results["pages"])
    with app.app_context():
        db.engine.dispose()
    return results


def run_baseline(url: str, slow: bool, reps: int, slow_reps: int) -> dict | None:
    cmd = [sys.executable, str(HERE / "fab_baseline.py"), "--db-url", url, "--reps", str(reps),
           "--slow-reps", str(slow_reps if slow else 0)]
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
        auth_base = max(r["auth_statements"] for r in base["results"])
        lines.append(f"- auth + permission statements per logged-in page: FAB {auth_base} vs ours {auth_ours} "
                     f"({ratio(auth_ours, auth_base)} fewer)")
    return "\n".join(lines)


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
    args = parser.parse_args(argv)
    if args.reps < 20:
        parser.error("--reps must be at least 20")

    state = bench_state(args.db_url)
    if state is None:
        if not args.generate:
            log("The bench database is missing or incomplete: run `python bench/generate.py` "
                "(or this script with --generate).")
            return 2
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--db-url", args.db_url], check=True)
        state = bench_state(args.db_url)
    log(f"database: {state}")

    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    log("ours:")
    ours = run_ours(args.db_url, args.reps, args.warmup)
    base = None
    if not args.no_baseline:
        log("FAB 5.3 baseline:")
        base = run_baseline(args.db_url, args.slow, args.baseline_reps, args.slow_reps)
    plans = ours.pop("plans")
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
                       f"{pg_version(args.db_url)}",
            "db": state,
            "load": f"{load_start:.1f} / {os.getloadavg()[0]:.1f} (other work shares the machine)"}
    text = report(ours, base, meta)
    if args.show_sql:
        log("")
        for r in ours["queue"] + ours["pages"]:
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
