"""P12 班级中心 with 2,000 classes: the server time of the class centre's first page, a search and a filtered page
(issue 11's target: under 50 ms), against a baseline in the same run (the same page with the enrolled count
asked once per card instead of one grouped statement for the page).

    python bench/class_centre.py [--reps 20] [--target 50] [--fresh]

Database: a dedicated PostgreSQL database, `jxjy_bench_classes` on the bench server (or $CLASS_BENCH_DATABASE_URL),
made on the first run: the project's migrations, the demo world (app/demo.py: orgs, accounts, 240 professionals,
the demo classes), then 2,000 classes of the demo base by SQL (90 % published, the two tracks, 30 specialties,
4 years) and ~87,000 enrolments spread over them. A complete load is marked with a COMMENT ON DATABASE and reused;
--fresh drops and makes it again. Figures: the median WSGI call time of --reps requests after 3 warm-ups (as
bench/measure.py times every page of the bench) with the page's SQL statements and the Python process's CPU
time per request (the part that does not grow with the machine's load), logged in as 王专技; a small
page of the same layout (change password) is timed too, as the floor every page of the site pays (login check,
menu, layout).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from common import CAPTCHA, app_overrides, split_url  # noqa: E402
from measure import csrf_from, instrumented_app, measure  # noqa: E402

URL = os.environ.get("CLASS_BENCH_DATABASE_URL",
                     "postgresql+psycopg://postgres@127.0.0.1:5432/jxjy_bench_classes")
MARK = "jxjy class-centre bench complete"
CLASSES = 2000
WORDS = ["数字经济", "急危重症", "心理健康", "人工智能", "法治建设", "乡村振兴", "医疗质量", "课程改革", "工程安全",
         "财务管理", "信息安全", "绿色低碳"]


def _admin(sql: str, *args):
    import psycopg

    admin_url, _name = split_url(URL)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchone() if sql.lstrip().upper().startswith("SELECT") else \
            conn.execute(sql, args)


def ready() -> bool:
    _admin_url, name = split_url(URL)
    row = _admin("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", name)
    return bool(row and row[0] == MARK)


def generate() -> None:
    import tempfile

    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import clock, create_app
    from app.demo import seed
    from app.extensions import db
    from app.models import SPECIALTIES

    _admin_url, name = split_url(URL)
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    app = create_app(**app_overrides(URL), LEARNING_FOLDER=tempfile.mkdtemp(prefix="jxjy-bench-learning-"))
    with app.app_context():
        upgrade()
        print("[bench] demo world …", flush=True)
        seed()
        base_id, hr_id = db.session.execute(text(
            "SELECT id, parent_id FROM org WHERE kind = 'base' ORDER BY id LIMIT 1")).one()
        year = clock.today().year
        print(f"[bench] {CLASSES} classes and their enrolments …", flush=True)
        specialties = "ARRAY[" + ",".join(f"'{s}'" for s in SPECIALTIES) + "]"
        words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
        db.session.execute(text(f"""
            INSERT INTO online_class (base_id, reviewer_org_id, title, track, specialty, year, hours, price,
                                      enrol_start, enrol_end, intro, state, created_at, published_at)
            SELECT :base, :hr, ({words})[1 + g % {len(WORDS)}] || '专题培训班（第' || g || '期）',
                   CASE WHEN g % 3 = 0 THEN 'public' ELSE 'professional' END,
                   CASE WHEN g % 3 = 0 THEN NULL ELSE ({specialties})[1 + g % {len(SPECIALTIES)}] END,
                   :year - g % 4, 8 + g % 40, CASE WHEN g % 5 = 0 THEN 0 ELSE 50 + g % 200 END,
                   make_date(:year, 1, 1), make_date(:year, 12, 31), '班级简介',
                   CASE WHEN g % 10 = 0 THEN 'draft' ELSE 'published' END, now(), now()
            FROM generate_series(1, :n) AS g"""), {"base": base_id, "hr": hr_id, "year": year, "n": CLASSES - 2})
        db.session.execute(text("""
            INSERT INTO enrolment (class_id, person_id, state, enrolled_at)
            SELECT c.id, p.id, 'studying', now() FROM online_class c CROSS JOIN person p
            WHERE c.state = 'published' AND (c.id * 7 + p.id) % 5 = 0
            ON CONFLICT DO NOTHING"""))
        db.session.commit()
        counts = db.session.execute(text(
            "SELECT (SELECT count(*) FROM online_class), (SELECT count(*) FROM enrolment)")).one()
        print(f"[bench] classes={counts[0]} enrolments={counts[1]}", flush=True)
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()
    _admin(f"COMMENT ON DATABASE \"{name}\" IS '{MARK}'")


def login(client) -> None:
    from app.demo import DEMO_ACCOUNTS, DEMO_PASSWORD

    token = csrf_from(client.get("/login/").get_data(as_text=True))
    client.get("/captcha.png")
    response = client.post("/login/", data={"csrf_token": token, "role": "Professional",
                                            "id_number": DEMO_ACCOUNTS[0][0], "password": DEMO_PASSWORD,
                                            "captcha": CAPTCHA})
    if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
        raise RuntimeError(f"login failed: {response.status_code}")


def pages() -> list[tuple[str, str]]:
    from app import clock

    year = clock.today().year
    return [("公需 tab, first page", "/learning/classes"),
            ("专业 tab, first page", "/learning/classes?track=professional"),
            ("search a title word (专业)", "/learning/classes?" + urlencode({"track": "professional", "q": "急危重症"})),
            ("search a title word (公需)", "/learning/classes?" + urlencode({"track": "public", "q": "数字经济"})),
            ("专业: a specialty and a year", "/learning/classes?" + urlencode(
                {"track": "professional", "specialty": "卫生专业", "year": year})),
            ("专业: page 40", "/learning/classes?track=professional&page=40")]


def cpu_ms(client, url: str, reps: int) -> float:
    """The median CPU time of this process for one request of `url` (what the page costs whatever the load)."""
    import statistics
    import time

    times = []
    for _ in range(reps):
        t0 = time.process_time()
        client.get(url)
        times.append((time.process_time() - t0) * 1000)
    return statistics.median(times)


def has_cards(response) -> None:
    if b"data-class-id=" not in response.get_data():
        raise RuntimeError("no class card on the page")


def per_card_counts(class_ids):
    """The baseline: each card asks for its own enrolled count (one statement per class shown)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Enrolment

    return {cid: db.session.scalar(select(func.count()).select_from(Enrolment).where(Enrolment.class_id == cid))
            for cid in class_ids}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--target", type=float, default=50.0)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    if args.fresh or not ready():
        generate()
        # measure in a fresh process: Flask-AppBuilder's appbuilder is a singleton and one app was built already
        os.execv(sys.executable, [sys.executable, __file__] + [a for a in sys.argv[1:] if a != "--fresh"])
    from app.workflows import class_centre

    app, recorder, timer = instrumented_app(app_overrides(URL))
    client = app.test_client()
    with app.app_context():
        login(client)
    floor = measure(client, timer, recorder, "a small page (change password)", "/account/password", args.reps, 3)
    floor.note = f"{cpu_ms(client, '/account/password', args.reps):.1f}"
    rows = [("floor", floor)]
    grouped = class_centre.enrolled_counts
    for mode in ("ours", "baseline"):
        class_centre.enrolled_counts = grouped if mode == "ours" else per_card_counts
        for label, url in pages()[:3] if mode == "baseline" else pages():
            result = measure(client, timer, recorder, label, url, args.reps, 3, check=has_cards)
            result.note = f"{cpu_ms(client, url, args.reps):.1f}"
            rows.append((mode, result))
    class_centre.enrolled_counts = grouped
    print(f"\nClass centre, {CLASSES} classes (server time of the WSGI call, median of {args.reps}; "
          f"target {args.target:.0f} ms)\n")
    print(f"{'':9} {'page':34} {'median ms':>10} {'p90 ms':>8} {'SQL':>4} {'SQL ms':>7} {'CPU ms':>7}  verdict")
    for mode, r in rows:
        verdict = "" if mode != "ours" else ("ok" if r.median < args.target else "OVER TARGET")
        print(f"{mode:9} {r.label:34} {r.median:10.1f} {r.p90:8.1f} {r.statements:4d} {r.sql_ms:7.1f} {r.note:>7}"
              f"  {verdict}")
    print(f"\n(CPU ms: the Python process's CPU time per request, median; the machine's load average while "
          f"measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
