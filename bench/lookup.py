"""U10 / D6 / H6 查询统计: the staff lookup (人员查询) and the hours lookup (学时查询) as every org admin of the bench
database, target 100 ms of server time per page.

    python bench/lookup.py [--reps 5] [--target 100] [--no-export]

bench/lists.py opens the two search pages with the filters it finds in their forms (a rare and a common word in
every text box); this adds what it cannot guess: an exact 证件号 and a whole name of someone in the admin's subtree,
the person's page with the learning record, the hours of last year, a unit, a region and the last page shown;
then the city's hours exported (100,000 rows, the export cap). Each page's figure is the server time of the WSGI call (median of --reps after one warm-up) with its SQL statements.
Needs the database made by bench/generate.py (1,000,000 persons, 10,000,000 hour records).
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))  # first: bench/run.py, not the project's run.py
from common import ADMIN_ACCOUNTS, DB_URL, PLATFORM_ROLES, app_overrides, bench_state, id_number_of  # noqa: E402
from measure import instrumented_app, measure  # noqa: E402
from run import login  # noqa: E402


def sample(db, account_key: str) -> dict:
    """Someone of the admin's subtree (the newest staff member of a unit in the middle of it), their unit and the
    region of the admin's org, read with plain SQL."""
    from sqlalchemy import text

    root = db.session.execute(text(
        "SELECT o.path, o.region_id FROM membership m JOIN ab_user u ON u.id = m.user_id JOIN org o ON o.id = m.org_id "
        "WHERE u.username = :u AND m.state = 'active' LIMIT 1"), {"u": id_number_of(account_key)}).one()
    person = db.session.execute(text(
        "SELECT p.user_id, p.name, p.id_number, o.name FROM person p JOIN org o ON o.id = p.unit_id "
        "WHERE p.is_staff AND o.path LIKE :p ORDER BY p.id DESC LIMIT 1 OFFSET 500"), {"p": root.path + "%"}).one()
    region = db.session.execute(text("SELECT id FROM region WHERE parent_id = :r ORDER BY id LIMIT 1"),
                                {"r": root.region_id}).scalar()
    return {"account_id": person[0], "name": person[1], "id_number": person[2], "unit": person[3],
            "region": region}


def pages(who: dict, year: int) -> list[tuple[str, str]]:
    def hours(**args) -> str:
        return "/lookup/hours" + (f"?{urlencode(args)}" if args else "")

    out = [("staff: a common surname", "/lookup/staff?" + urlencode({"q": "张"})),
           ("staff: a rare character", "/lookup/staff?" + urlencode({"q": "簟"})),
           ("staff: a whole name", "/lookup/staff?" + urlencode({"q": who["name"]})),
           ("staff: an exact 证件号", "/lookup/staff?" + urlencode({"q": who["id_number"]})),
           ("person: learning record", f"/lookup/staff/{who['account_id']}"),
           ("hours: this year, page 1", hours()),
           ("hours: last year", hours(year=year - 1)),
           ("hours: page 50 (the last shown)", hours(page=50)),
           ("hours: a common surname", hours(name="张")),
           ("hours: a unit", hours(unit=who["unit"])),
           ("hours: an exact 证件号", hours(id_number=who["id_number"]))]
    if who["region"]:
        out.append(("hours: a region", hours(region=who["region"])))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", default=DB_URL)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--target", type=float, default=100.0, help="ms of server time per page")
    parser.add_argument("--no-export", action="store_true", help="skip the export of the city's hours")
    args = parser.parse_args(argv)
    if bench_state(args.db_url) is None:
        print("no bench database: run bench/generate.py first", file=sys.stderr)
        return 2

    from app import clock
    from app.extensions import db

    app, recorder, timer = instrumented_app(app_overrides(args.db_url))
    started = time.time()
    over = []
    print("| account | page | server time | SQL statements |")
    print("|---|---|---:|---:|")
    for key, (_region, _seq, _name, role) in ADMIN_ACCOUNTS.items():
        if key in PLATFORM_ROLES:
            continue
        with app.app_context():
            who = sample(db, key)
            year = clock.today().year
        client = app.test_client()
        login(client, id_number_of(key), role)
        for label, url in pages(who, year):
            r = measure(client, timer, recorder, f"{key} {label}", url, args.reps, 1)
            print(f"| {key} | {label} | {r.median:.1f} ms | {r.statements} |", flush=True)
            if r.median > args.target:
                over.append(f"{key} {label}: {r.median:.1f} ms ({url})")
    if not args.no_export:
        client = app.test_client()
        login(client, id_number_of("city_admin"), "HRAdmin")
        started_export = time.perf_counter()
        response = client.get("/lookup/hours/export")
        body = response.get_data()
        seconds = time.perf_counter() - started_export
        from openpyxl import load_workbook

        rows = sum(1 for _ in load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows()) - 1
        print(f"\nGET /lookup/hours/export as city_admin: {seconds:.2f} s, {rows:,} rows (the cap's note row "
              f"included), {len(body) / 2 ** 20:.1f} MiB (target 10 s)")
    print()
    print(f"{len(over)} pages over {args.target:.0f} ms" + (":" if over else ""))
    for line in over:
        print(f"  {line}")
    print(f"({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
