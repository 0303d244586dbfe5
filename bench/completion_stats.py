"""H6 completion statistics (查询统计 → 完成情况统计) on the bench database, as the city, district, department and
unit admins, for the latest year with hours; the city-wide page and one drill-down level of each admin included.

    python bench/completion_stats.py [--reps 5] [--target 100] [--no-baseline] [--explain]

Each figure is the server time of `GET /statistics/completion?year=Y[&org=…]` (WSGI call, median of --reps after
one warm-up). The baseline, measured in the same run, is the same page with the same aggregate computed live from
hour_record (the year's records summed per person in the statement) instead of the per-person-per-year summary; both must give the
same figures. --explain prints PostgreSQL's plan (EXPLAIN ANALYZE) of the page's aggregate for the city admin.
Needs the database made by bench/generate.py --hours (1,000,000 persons, 10,000,000 hour records).
"""
from __future__ import annotations

import argparse
import re
import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
# This file's name is the standard library's `statistics`, which bench/measure.py imports: load the standard one
# first (with bench/ off the path), so that `import statistics` finds it in sys.modules and not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
import statistics  # noqa: E402,F401  (the standard library's)

sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # first: bench/run.py, not the project's run.py
from common import ADMIN_ACCOUNTS, DB_URL, app_overrides, bench_state, has_hours, id_number_of  # noqa: E402
from measure import SqlRecorder, WsgiTimer, instrument_security_manager, measure  # noqa: E402
from run import login  # noqa: E402

ACCOUNTS = ("city_admin", "district_admin", "dept_admin", "unit_admin")
URL = "/statistics/completion"
ROW = re.compile(r'<tr class="completion-(?:row|total)"[^>]*>(.*?)</tr>', re.S)
CELL = re.compile(r'<td class="num[^"]*">(.*?)</td>', re.S)


def figures(body: bytes) -> list[list[str]]:
    """The table's numbers, as a person reads them (links stripped)."""
    text = body.decode()
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in CELL.findall(row)] for row in ROW.findall(text)]


@contextmanager
def live_from_hour_record(year: int):
    """The baseline: the page's statement reads the sums of hour_record per person instead of year_summary."""
    from sqlalchemy import case, func, select
    from sqlalchemy.orm import aliased

    from app.models import HourRecord, YearSummary
    from app.workflows import statistics as stats

    sums = (select(HourRecord.person_id.label("person_id"), HourRecord.year.label("year"),
                   func.sum(case((HourRecord.subject == "public", HourRecord.hours), else_=0)).label("public_hours"),
                   func.sum(case((HourRecord.subject == "professional", HourRecord.hours), else_=0))
                   .label("professional_hours"))
            .where(HourRecord.year == year)
            .group_by(HourRecord.person_id, HourRecord.year).subquery("live_sums"))
    original = stats.YearSummary
    stats.YearSummary = aliased(YearSummary, sums, adapt_on_names=True)
    try:
        yield
    finally:
        stats.YearSummary = original


def explain(app, url_year: int, org_id=None) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the city page's statements that read people."""
    from sqlalchemy import event

    from app.extensions import db
    from app.models import Account, Membership, RoleName
    from app.workflows import statistics as stats
    from app.workflows.base import Actor

    seen = []
    with app.app_context():
        account = db.session.query(Account).filter_by(username=id_number_of("city_admin")).one()
        membership = db.session.query(Membership).filter_by(user_id=account.id, role="HRAdmin").first()
        actor = Actor(account.id, "bench", RoleName.HR_ADMIN, membership.org_id, membership.org.path)

        def keep(conn, cursor, statement, parameters, context, executemany):
            if "person" in statement and "count(" in statement:
                seen.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", keep)
        stats.completion(actor, url_year, org_id)
        event.remove(db.engine, "before_cursor_execute", keep)
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in seen:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                print("\n".join(r[0] for r in cursor.fetchall()))
        finally:
            raw.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--target", type=float, default=100.0, help="ms of server time per page")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--explain-org", type=int, default=None, help="the org of --explain (default the city)")
    parser.add_argument("--only", default="", help="only the accounts whose key contains this")
    args = parser.parse_args(argv)
    state = bench_state(args.db_url)
    if not has_hours(state):
        print("no bench database with hours: run bench/generate.py --hours first", file=sys.stderr)
        return 2

    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import appbuilder, db
    from app.models import YearSummary

    app = create_app(**app_overrides(args.db_url))
    recorder = SqlRecorder()
    with app.app_context():
        recorder.attach(db.engine)
        year = db.session.scalar(select(func.max(YearSummary.year)))
    instrument_security_manager(appbuilder.sm, recorder)
    timer = WsgiTimer(app)
    print(f"completion statistics, year {year}, median of {args.reps} (ms of server time; target {args.target:.0f})")
    print(f"{'account':<15} {'page':<28} {'ours':>9} {'stmt':>5} {'sql':>9} {'baseline':>10}  same  people")
    over = []
    for key in [k for k in ACCOUNTS if args.only in k]:
        client = app.test_client()
        login(client, id_number_of(key), ADMIN_ACCOUNTS[key][3])
        first = client.get(f"{URL}?year={year}")
        drill = re.search(r'href="/statistics/completion\?year=\d+&amp;org=(\d+)"', first.get_data(as_text=True))
        pages = [("own org", f"{URL}?year={year}")]
        if drill:
            pages.append((f"drill-down org {drill.group(1)}", f"{URL}?year={year}&org={drill.group(1)}"))
        for label, url in pages:
            ours = measure(client, timer, recorder, f"{key} {label}", url, args.reps, 1, keep_body=True)
            base_txt, same = "-", ""
            if not args.no_baseline:
                with live_from_hour_record(year):
                    base = measure(client, timer, recorder, f"{key} {label} live", url, max(1, args.reps // 2), 0,
                                   keep_body=True)
                base_txt = f"{base.median:.1f}"
                same = "yes" if figures(base.body) == figures(ours.body) else "NO"
            people = figures(ours.body)[-1][0] if figures(ours.body) else "?"
            print(f"{key:<15} {label:<28} {ours.median:>9.1f} {ours.statements:>5} {ours.sql_ms:>9.1f} "
                  f"{base_txt:>10}  {same:<4}  {people}")
            if ours.median > args.target:
                over.append(f"{key} {label}: {ours.median:.1f} ms")
    if over:
        print(f"over the {args.target:.0f} ms target: " + "; ".join(over))
    if args.explain:
        explain(app, year, args.explain_org)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
