"""H6 completion statistics (查询统计 → 完成情况统计) on the bench database, as the city, district, department and
unit admins, for the latest year with hours: each admin's own page, then one drill-down level after another (the
child with the most people) down to a unit.

    python bench/completion_stats.py [--reps 7] [--target 100] [--no-baseline] [--writes] [--explain] [--only city]

Each figure is the server time of `GET /statistics/completion?year=Y[&org=…]` (WSGI call, median of --reps after
one warm-up). The baseline, measured in the same run on the same pages, is the live aggregate the page ran before
the rollup (`statistics.live_figures`: every staff person of the subtree joined with their year summary); both
must give the same figures ("same" compares every row of the two results). --explain prints PostgreSQL's plan
(EXPLAIN ANALYZE, BUFFERS) of the page's statements for the city admin, rollup and live.
Needs the database made by bench/generate.py --hours (1,000,000 persons, 10,000,000 hour records) and the
migration of the rollup applied to it (`flask db upgrade`, then ANALYZE).
"""
from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # first: bench/run.py, not the project's run.py
from common import ADMIN_ACCOUNTS, DB_URL, app_overrides, bench_state, has_hours, id_number_of  # noqa: E402
from measure import SqlRecorder, WsgiTimer, instrument_security_manager, measure  # noqa: E402
from run import login  # noqa: E402

ACCOUNTS = ("city_admin", "district_admin", "dept_admin", "unit_admin")
URL = "/statistics/completion"
MAX_LEVELS = 8


@contextmanager
def live_aggregate():
    """The baseline: the page computes its figures with the live aggregate instead of the rollup."""
    from app.workflows import statistics as stats

    original = stats._figures
    stats._figures = stats.live_figures
    try:
        yield
    finally:
        stats._figures = original


def actor_of(key: str):
    from app.extensions import db
    from app.models import Account, Membership, RoleName
    from app.workflows.base import Actor

    role = RoleName(ADMIN_ACCOUNTS[key][3])
    account = db.session.query(Account).filter_by(username=id_number_of(key)).one()
    membership = db.session.query(Membership).filter_by(user_id=account.id, role=role.value, state="active").first()
    return Actor(account.id, "bench", role, membership.org_id, membership.org.path)


def drill_path(actor, year: int) -> list:
    """The pages of one admin: own org, then the drillable child with the most people, down to a unit."""
    from app.models import OrgKind
    from app.workflows import statistics as stats

    pages, org_id = [], None
    for _ in range(MAX_LEVELS):
        result = stats.completion(actor, year, org_id)
        pages.append(result)
        if result.org.kind == OrgKind.UNIT.value and pages[0].org.kind != OrgKind.UNIT.value:
            break  # reached a unit
        children = [row for row in result.rows if row.can_drill]
        if not children:
            break
        org_id = max(children, key=lambda row: row.headcount).org.id
    return pages


def rows_of(result) -> list[tuple]:
    return [(row.org.id if row.org else None, row.headcount, row.took_part, row.passed)
            for row in [*result.rows, result.total]]


def explain(app, key: str, year: int) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement of the admin's own page, with the rollup and live."""
    from sqlalchemy import event

    from app.extensions import db
    from app.workflows import statistics as stats

    for label, patch in (("rollup", None), ("live aggregate", live_aggregate)):
        seen = []
        with app.app_context():
            actor = actor_of(key)

            def keep(conn, cursor, statement, parameters, context, executemany):
                seen.append((statement, parameters))

            event.listen(db.engine, "before_cursor_execute", keep)
            if patch is None:
                stats.completion(actor, year)
            else:
                with patch():
                    stats.completion(actor, year)
            event.remove(db.engine, "before_cursor_execute", keep)
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement, parameters in seen:
                    if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                        continue
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    print(f"--- {key} {label}:\n" + "\n".join(r[0] for r in cursor.fetchall()))
            finally:
                raw.close()


def writes(app, year: int, reps: int) -> None:
    """What keeping the rollup costs the writes, each in a transaction rolled back: hours credited to one person
    (the year summary's UPDATE with its triggers), a person moved to another unit, the default standard of the
    year edited (the flush that recounts that year for every unit)."""
    import statistics as stdstats
    import time
    from decimal import Decimal

    from sqlalchemy import select, text

    from app.extensions import db
    from app.models import AnnualStandard, Person, YearSummary

    def timed(step) -> float:
        t0 = time.perf_counter()
        step()
        elapsed = (time.perf_counter() - t0) * 1000
        db.session.rollback()
        return elapsed

    with app.app_context():
        person_id, unit_id = db.session.execute(
            select(Person.id, Person.unit_id).join(YearSummary, YearSummary.person_id == Person.id)
            .where(Person.is_staff, YearSummary.year == year).limit(1)).one()
        other = db.session.scalar(select(Person.unit_id).where(Person.is_staff, Person.unit_id != unit_id).limit(1))
        credit = text("UPDATE year_summary SET professional_hours = professional_hours + 8"
                      " WHERE person_id = :p AND year = :y")
        move = text("UPDATE person SET unit_id = :u WHERE id = :p")

        def edit_standard():
            row = db.session.scalar(select(AnnualStandard).where(AnnualStandard.year == year,
                                                                 AnnualStandard.region_id.is_(None)))
            row.total_min = row.total_min + Decimal(1)
            db.session.flush()

        for label, step, n in (
                ("hours credited to one person (year summary UPDATE + triggers)",
                 lambda: db.session.execute(credit, {"p": person_id, "y": year}), reps),
                ("a person moved to another unit (person UPDATE + triggers)",
                 lambda: db.session.execute(move, {"u": other, "p": person_id}), reps),
                (f"the default standard of {year} edited (flush + recount of the year)", edit_standard, 1)):
            times = [timed(step) for _ in range(n)]
            print(f"write: {label}: median {stdstats.median(times):.1f} ms of {n}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--baseline-reps", type=int, default=3)
    parser.add_argument("--target", type=float, default=100.0, help="ms of server time per page")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--writes", action="store_true", help="also time the writes that keep the rollup")
    parser.add_argument("--rebuild", action="store_true",
                        help="first rebuild the rollup from the data (after bench/generate.py, which loads with the "
                             "triggers off)")
    parser.add_argument("--only", default="", help="only the accounts whose key contains this")
    args = parser.parse_args(argv)
    state = bench_state(args.db_url)
    if not has_hours(state):
        print("no bench database with hours: run bench/generate.py --hours first", file=sys.stderr)
        return 2

    from sqlalchemy import func, select, text

    from app import create_app
    from app.extensions import appbuilder, db
    from app.models import CompletionRollup

    app = create_app(**app_overrides(args.db_url))
    recorder = SqlRecorder()
    with app.app_context():
        if args.rebuild:
            from app.models import rollup

            with db.engine.begin() as conn:
                rollup.rebuild(conn)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("completion_unit", "completion_rollup", "completion_org", "completion_org_year"):
                    conn.execute(text(f"ANALYZE {table}"))
        recorder.attach(db.engine)
        year = db.session.scalar(select(func.max(CompletionRollup.year)))
        if year is None:
            print("the rollup is empty: apply the migration (flask db upgrade) to the bench database, or --rebuild",
                  file=sys.stderr)
            return 2
    instrument_security_manager(appbuilder.sm, recorder)
    timer = WsgiTimer(app)
    print(f"completion statistics, year {year}: server ms, median of {args.reps} (live: of {args.baseline_reps}); "
          f"target {args.target:.0f} ms")
    print(f"{'account':<15} {'page (org kind, id)':<24} {'people':>8} {'ours':>7} {'p90':>7} {'stmt':>4} {'sql':>6}"
          f" {'live':>8} {'x':>6}  same")
    over, differ = [], []
    for key in [k for k in ACCOUNTS if args.only in k]:
        client = app.test_client()
        login(client, id_number_of(key), ADMIN_ACCOUNTS[key][3])
        with app.app_context():
            actor = actor_of(key)
            pages = [(r.org.id, r.org.kind, r.total.headcount, rows_of(r)) for r in drill_path(actor, year)]
            if not args.no_baseline:
                with live_aggregate():
                    from app.workflows import statistics as stats
                    live_rows = [rows_of(stats.completion(actor, year, org_id)) for org_id, *_ in pages]
        for level, (org_id, kind, people, rows) in enumerate(pages):
            url = f"{URL}?year={year}" + (f"&org={org_id}" if level else "")
            label = f"{'own' if not level else f'drill {level}'} {kind} {org_id}"
            ours = measure(client, timer, recorder, f"{key} {label}", url, args.reps, 1)
            base_txt, ratio, same = "-", "-", ""
            if not args.no_baseline:
                with live_aggregate():
                    base = measure(client, timer, recorder, f"{key} {label} live", url, args.baseline_reps, 1)
                base_txt, ratio = f"{base.median:.1f}", f"{base.median / ours.median:.1f}"
                same = "yes" if live_rows[level] == rows else "NO"
                if same != "yes":
                    differ.append(f"{key} {label}")
            print(f"{key:<15} {label:<24} {people:>8,} {ours.median:>7.1f} {ours.p90:>7.1f} {ours.statements:>4}"
                  f" {ours.sql_ms:>6.1f} {base_txt:>8} {ratio:>6}  {same}", flush=True)
            if ours.median > args.target:
                over.append(f"{key} {label}: {ours.median:.1f} ms")
    print("over the target: " + "; ".join(over) if over else f"every page under {args.target:.0f} ms")
    if differ:
        print("figures differ from the live aggregate: " + "; ".join(differ))
    if args.writes:
        writes(app, year, args.reps)
    if args.explain:
        explain(app, "city_admin", year)
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
