"""H6 / D6 / U10 distribution statistics (查询统计 → 机构人员统计, 职称统计, 行业分布统计, 职(执)业资格统计) on the bench
database, as the city, district, department and unit admins: each page of their own org and one drill-down.

    python bench/distribution_stats.py [--reps 5] [--target 100] [--no-baseline] [--only city] [--year Y]
                                       [--rebuild] [--snapshot]

Each figure is the server time of `GET /statistics/<page>[?org=…]` (WSGI call, median of --reps after one
warm-up); then the staff lists a few figures of each page link to (the list of the figure's people, target 50 ms
like every list). The baseline, measured in the same run for the same org, is the live GROUP BY the page would need
without the staff tally (app.models.tally): the same figures aggregated from the subtree's staff rows (SQL time
only, so a lower bound of such a page); both must give the same figures ("same").
Each page is measured for this year (the live tally) and for a past year (`?year=Y`: the year's snapshot,
年度统计快照, app.workflows.stat_snapshots), the latest year with a snapshot unless --year says; "same" for a past
year: its figures equal those of the live tally (nothing changes in the bench database after the snapshot).
Needs the database made by bench/generate.py with the migrations applied (`flask db upgrade`: the tally
b7c8d9e0f1a2, the snapshots 9f3e5a7c1b24). generate.py loads with the triggers off: --rebuild first counts the
tally from the data (the migration's backfill); --snapshot first takes the snapshot of last year (and prints how
long it took), as `flask stats-snapshot` does.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # first: bench/run.py, not the project's run.py
from common import ADMIN_ACCOUNTS, DB_URL, app_overrides, bench_state, id_number_of  # noqa: E402
import derived  # noqa: E402
from measure import SqlRecorder, WsgiTimer, instrument_security_manager, measure  # noqa: E402
from run import login  # noqa: E402

ACCOUNTS = ("city_admin", "district_admin", "dept_admin", "unit_admin")
PAGES = ("orgs", "titles", "industries", "qualifications")
SPLIT = "[,，、;；\n]+"
STAFF_LINK = re.compile(r'href="(/staff/list/\?[^"]+)"')


def live(page: str, org) -> tuple[float, dict]:
    """The page's staff figures by a live GROUP BY over the subtree's staff, and its SQL time in ms."""
    from sqlalchemy import text

    from app.extensions import db

    grade = ("CASE WHEN p.title_level = '初级' THEN 'junior' WHEN p.title_level = '中级' THEN 'intermediate' "
             "WHEN p.title_level IN ('正高级', '副高级') THEN 'senior' ELSE 'none' END")
    sql = {
        # staff of each child's subtree (the row of the page's table)
        "orgs": "SELECT c.id, count(*) FROM person p JOIN org u ON u.id = p.unit_id "
                "JOIN org c ON c.parent_id = :id AND u.path LIKE c.path || '%' WHERE p.is_staff GROUP BY c.id",
        "titles": f"SELECT coalesce(p.title_series, ''), {grade}, count(*) FROM person p JOIN org u ON u.id = p.unit_id "
                  "WHERE p.is_staff AND u.path LIKE :path GROUP BY 1, 2",
        "industries": "SELECT coalesce(u.industry, ''), count(*) FROM person p JOIN org u ON u.id = p.unit_id "
                      "WHERE p.is_staff AND u.path LIKE :path GROUP BY 1",
        "qualifications": "SELECT q, count(DISTINCT p.id) FROM person p JOIN org u ON u.id = p.unit_id "
                          "CROSS JOIN LATERAL (SELECT btrim(x) AS q FROM regexp_split_to_table("
                          "coalesce(p.vocational_qualifications, ''), :split) AS x) s "
                          "WHERE p.is_staff AND u.path LIKE :path AND q <> '' GROUP BY 1",
    }[page]
    started = time.perf_counter()
    rows = db.session.execute(text(sql), {"id": org.id, "path": org.path.replace("_", "\\_") + "%",
                                          "split": SPLIT}).all()
    ms = (time.perf_counter() - started) * 1000
    if page == "titles":
        return ms, {(a, b): n for a, b, n in rows}
    return ms, {a: n for a, n in rows if n}


def ours(page: str, actor, org, year=None) -> dict:
    """The same figures from the page's workflow (through the tally, or the snapshot of a past `year`)."""
    from app.workflows import distribution as dist

    if page == "orgs":
        return {r.org.id: r.staff for r in dist.org_counts(actor, org.id, year).rows if r.org is not None and r.staff}
    if page == "titles":
        out: Counter = Counter()
        for item in dist.titles(actor, org.id, year).items:
            for key in ("junior", "intermediate", "senior", "none"):
                if item.grades.get(key):
                    out[(item.value, key)] += item.grades[key]
        return dict(out)
    compute = dist.industries if page == "industries" else dist.qualifications
    return {i.value: i.staff for i in compute(actor, org.id, year).items if i.staff}


def rebuild_tally() -> None:
    """Count the staff tally again from the people (bench/derived.py: the tally migration's own backfill)."""
    from sqlalchemy import text

    from app.extensions import db

    started = time.perf_counter()
    with db.engine.begin() as conn:
        derived.rebuild_tally(conn)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE staff_tally"))
    print(f"staff tally counted again from the people: {time.perf_counter() - started:.1f} s")


def take_snapshot(year: int) -> None:
    from sqlalchemy import text

    from app.extensions import db
    from app.workflows import stat_snapshots

    started = time.perf_counter()
    snapshot = stat_snapshots.take_snapshot(year)
    seconds = time.perf_counter() - started
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE staff_tally_year"))
    print(f"snapshot of {year} taken: {snapshot.rows:,} rows in {seconds:.1f} s (one transaction)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--target", type=float, default=100.0, help="ms of server time per page")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--only", default="", help="only the accounts whose key contains this")
    parser.add_argument("--links", type=int, default=4, help="staff list links timed per page (0: none)")
    parser.add_argument("--list-target", type=float, default=50.0, help="ms of server time per staff list")
    parser.add_argument("--year", type=int, default=None, help="the past year measured (default: the latest "
                        "year with a snapshot)")
    parser.add_argument("--rebuild", action="store_true", help="first count the staff tally again from the data "
                        "(after bench/generate.py, which loads with the triggers off)")
    parser.add_argument("--snapshot", action="store_true", help="first take the snapshot of last year")
    args = parser.parse_args(argv)
    if bench_state(args.db_url) is None:
        print("no bench database: run bench/generate.py first", file=sys.stderr)
        return 2

    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import appbuilder, db
    from app import clock
    from app.models import Account, Membership, Org, RoleName, StaffTallySnapshot
    from app.workflows.base import Actor

    app = create_app(**app_overrides(args.db_url))
    recorder = SqlRecorder()
    with app.app_context():
        if args.rebuild:
            rebuild_tally()
        if args.snapshot:
            take_snapshot(clock.today().year - 1)
        past = args.year or db.session.scalar(select(func.max(StaffTallySnapshot.year)).where(
            StaffTallySnapshot.year < clock.today().year))
        if past is None or db.session.get(StaffTallySnapshot, past) is None:
            print("no snapshot of a past year: take one (--snapshot, or flask stats-snapshot --year Y)",
                  file=sys.stderr)
            return 2
        recorder.attach(db.engine)
    instrument_security_manager(appbuilder.sm, recorder)
    timer = WsgiTimer(app)
    print(f"distribution statistics, median of {args.reps} (ms of server time; target {args.target:.0f}); "
          f"baseline: the live GROUP BY of the same figures (SQL only); past year {past}: its snapshot")
    print(f"{'account':<15} {'page':<15} {'org':<24} {'ours':>8} {'stmt':>5} {'sql':>8} {'live':>9}  same")
    over = []
    for key in [k for k in ACCOUNTS if args.only in k]:
        role = ADMIN_ACCOUNTS[key][3]
        client = app.test_client()
        login(client, id_number_of(key), role)
        with app.app_context():
            account = db.session.scalar(select(Account).where(Account.username == id_number_of(key)))
            membership = db.session.scalar(select(Membership).where(Membership.user_id == account.id,
                                                                    Membership.role == role))
            own = membership.org
            actor = Actor(account.id, "bench", RoleName(role), own.id, own.path)
            first = client.get("/statistics/orgs").get_data(as_text=True)
            drill = re.search(r'href="/statistics/orgs\?org=(\d+)"', first)
            orgs = [own] + ([db.session.get(Org, int(drill.group(1)))] if drill else [])
            links: list[tuple[str, str]] = []
            for page in PAGES:
                for org in orgs:
                    url = f"/statistics/{page}" + ("" if org.id == own.id else f"?org={org.id}")
                    label = "own org" if org.id == own.id else f"drill-down {org.id}"
                    result = measure(client, timer, recorder, f"{key} {page} {label}", url, args.reps, 1)
                    live_txt, same = "-", ""
                    if not args.no_baseline:
                        times = []
                        for _ in range(max(1, args.reps // 2)):
                            ms, figures = live(page, org)
                            times.append(ms)
                        live_txt = f"{sorted(times)[len(times) // 2]:.1f}"
                        same = "yes" if figures == ours(page, actor, org) else "NO"
                    print(f"{key:<15} {page:<15} {label:<24} {result.median:>8.1f} {result.statements:>5} "
                          f"{result.sql_ms:>8.1f} {live_txt:>9}  {same}", flush=True)
                    if result.median > args.target:
                        over.append(f"{key} {page} {label}: {result.median:.1f} ms")
                    # the past year: the snapshot's rows, the year carried in the address as the page's links do
                    past_url = url + ("&" if "?" in url else "?") + f"year={past}"
                    result = measure(client, timer, recorder, f"{key} {page} {label} {past}", past_url, args.reps, 1)
                    same = "yes" if ours(page, actor, org, past) == ours(page, actor, org) else "NO"
                    print(f"{key:<15} {page:<15} {(label + ' ' + str(past)):<24} {result.median:>8.1f} "
                          f"{result.statements:>5} {result.sql_ms:>8.1f} {'-':>9}  {same}", flush=True)
                    if result.median > args.target:
                        over.append(f"{key} {page} {label} {past}: {result.median:.1f} ms")
                    if org.id == own.id and args.links:
                        links.extend((page, html.unescape(h)) for h in STAFF_LINK.findall(
                            client.get(url).get_data(as_text=True))[:args.links])
            # the staff list behind the figures (a figure's link): every list variant under --list-target
            for page, link in dict.fromkeys(links):
                result = measure(client, timer, recorder, f"{key} {page} staff list", link, args.reps, 1)
                print(f"{key:<15} {'staff list':<15} {page + ' figure':<24} {result.median:>8.1f} "
                      f"{result.statements:>5} {result.sql_ms:>8.1f}  {link}", flush=True)
                if result.median > args.list_target:
                    over.append(f"{key} staff list {link}: {result.median:.1f} ms")
    if over:
        print(f"over the {args.target:.0f} ms target: " + "; ".join(over))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
