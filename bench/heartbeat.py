"""The learning player's heartbeat on PostgreSQL (issue 11's target: a median under 10 ms of server time) with
1,000,000 persons, 2,000 classes and 5,000,000 lesson progress rows, and the growth of the progress table (at most
one row per learner per lesson, never one per heartbeat).

    python bench/heartbeat.py [--beats 2000] [--fresh]

Database: a dedicated PostgreSQL database, `jxjy_bench_learning` on the bench server (or
$LEARNING_BENCH_DATABASE_URL), made on the first run (about 3 minutes) and reused after (marked with a
COMMENT ON DATABASE; --fresh makes it again):
  * the foundation of the main bench (bench/generate.py --no-hours: the project's migrations, 20,000 orgs,
    1,000,000 professionals with their accounts);
  * 2,000 published classes of the 12 training bases, each of 2 courses × 2 sections × 3 lessons of 10 minutes
    (24,000 lessons), a pop-up question in the first lesson of each section and a quiz of 2 questions per section;
  * 1,000,000 enrolments (one per person, in class person % 2,000) and 5,000,000 lesson progress rows: the first
    section's three lessons complete (its quiz passed: 1,000,000 section progress rows), the second section's
    first lesson complete and its second half watched.

Measured: `learning.heartbeat` as the /learning/beat view calls it (the enrolment and the lesson read by id, a fresh
session per beat as in a request, the commit included), for --beats beats spread over random learners: half of
them on the lesson in progress (an UPDATE of its row), half starting the next lesson (its row INSERTed by the first
beat, updated by the others). The clock moves 5 s between two beats of a learner, as the player beats. Printed: the
median and p95 in ms, and the row count of lesson_progress before and after with the number of new (learner,
lesson) pairs the run started: the growth must not exceed it.
"""
from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from common import app_overrides, split_url  # noqa: E402

URL = os.environ.get("LEARNING_BENCH_DATABASE_URL",
                     "postgresql+psycopg://postgres@127.0.0.1:5432/jxjy_bench_learning")
MARK = "jxjy learning bench complete"
CLASSES = 2000
LESSON_SECONDS = 600


def log(msg: str) -> None:
    print(msg, flush=True)


def _admin(sql: str, *args):
    import psycopg

    admin_url, _name = split_url(URL)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchone()


def state() -> str | None:
    row = _admin("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", split_url(URL)[1])
    return row[0] if row else None


LEARNING_SQL = [
    ("classes", f"""
        INSERT INTO online_class (base_id, reviewer_org_id, title, track, specialty, year, hours, price, enrol_start,
                                  enrol_end, intro, state, created_at, published_at)
        SELECT b.id, (SELECT id FROM org WHERE kind = 'hr_city' ORDER BY id LIMIT 1),
               '继续教育网络课程第' || g || '期', CASE WHEN g % 2 = 0 THEN 'public' ELSE 'professional' END,
               CASE WHEN g % 2 = 0 THEN NULL ELSE '卫生专业' END, 2026, 12, 0, DATE '2026-01-01', DATE '2026-12-31',
               '课程简介', 'published', now(), now()
        FROM generate_series(1, {CLASSES}) g
        JOIN LATERAL (SELECT id FROM org WHERE kind = 'base' ORDER BY id OFFSET (g % 12) LIMIT 1) b ON true"""),
    ("courses", """
        INSERT INTO class_course (class_id, title, position)
        SELECT c.id, '课程' || p, p FROM online_class c, generate_series(1, 2) p"""),
    ("sections", """
        INSERT INTO class_section (course_id, title, position, pass_mark)
        SELECT c.id, '小节' || p, p, 60 FROM class_course c, generate_series(1, 2) p"""),
    ("lessons", f"""
        INSERT INTO lesson (section_id, title, position, size, duration)
        SELECT s.id, '课时' || p, p, 0, {LESSON_SECONDS} FROM class_section s, generate_series(1, 3) p"""),
    ("pop-up and quiz questions", """
        INSERT INTO question (lesson_id, at_second, kind, text, options_json, answer_json, points, position)
        SELECT l.id, 300, 'single', '弹题', '["甲", "乙"]', '[0]', 1, 0 FROM lesson l WHERE l.position = 1;
        INSERT INTO question (section_id, kind, text, options_json, answer_json, points, position)
        SELECT s.id, 'single', '测验题' || p, '["甲", "乙"]', '[0]', 1, p FROM class_section s, generate_series(1, 2) p
        """),
    ("enrolments", f"""
        INSERT INTO enrolment (class_id, person_id, state, enrolled_at, last_studied_at)
        SELECT (SELECT min(id) FROM online_class) + p.id % {CLASSES}, p.id, 'studying', now(), now()
        FROM person p"""),
    ("class lesson order", """
        CREATE TEMP TABLE class_lesson AS
        SELECT co.class_id, l.id AS lesson_id, l.section_id,
               row_number() OVER (PARTITION BY co.class_id ORDER BY co.position, s.position, l.position) AS n
        FROM lesson l JOIN class_section s ON s.id = l.section_id JOIN class_course co ON co.id = s.course_id;
        CREATE INDEX ON class_lesson (class_id, n)"""),
    ("lesson progress (5 rows a learner)", f"""
        INSERT INTO lesson_progress (enrolment_id, lesson_id, watched, beat_at, answered_json, completed_at)
        SELECT e.id, cl.lesson_id,
               CASE WHEN cl.n <= 4 THEN {LESSON_SECONDS} ELSE {LESSON_SECONDS // 2} END,
               now() - interval '1 day',
               CASE WHEN cl.n IN (1, 4) THEN
                    (SELECT '[' || q.id || ']' FROM question q WHERE q.lesson_id = cl.lesson_id) ELSE '[]' END,
               CASE WHEN cl.n <= 4 THEN now() - interval '1 day' END
        FROM enrolment e JOIN class_lesson cl ON cl.class_id = e.class_id AND cl.n <= 5"""),
    ("section progress (the first section passed)", """
        INSERT INTO section_progress (enrolment_id, section_id, state, attempts, round, passed_at)
        SELECT e.id, cl.section_id, 'passed', 1, 1, now() - interval '1 day'
        FROM enrolment e JOIN class_lesson cl ON cl.class_id = e.class_id AND cl.n = 1"""),
    ("analyze", "ANALYZE"),
]


def generate(fresh: bool) -> None:
    import psycopg

    if fresh or not (state() or "").startswith("jxjy-bench complete"):
        log("foundation (bench/generate.py --no-hours) …")
        subprocess.run([sys.executable, str(HERE / "generate.py"), "--db-url", URL, "--no-hours"], check=True)
    with psycopg.connect(URL.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("TRUNCATE online_class, class_course, class_section, lesson, question, enrolment, lesson_progress,"
                     " section_progress, quiz_attempt CASCADE")
        for label, sql in LEARNING_SQL:
            t0 = time.perf_counter()
            conn.execute(sql)
            log(f"  {label:<45} {time.perf_counter() - t0:6.1f} s")
        counts = conn.execute("SELECT (SELECT count(*) FROM person), (SELECT count(*) FROM online_class), "
                              "(SELECT count(*) FROM lesson_progress)").fetchone()
        conn.execute(f"COMMENT ON DATABASE \"{split_url(URL)[1]}\" IS '{MARK}: persons={counts[0]} classes={counts[1]} "
                     f"progress={counts[2]}'")
    log(f"loaded: persons={counts[0]:,} classes={counts[1]:,} lesson_progress={counts[2]:,}")


class BenchClock:
    """clock.now() of the run: each learner's beats are 5 s apart (a per-learner time set before each beat)."""

    def __init__(self):
        self.t = datetime.datetime.now()

    def __call__(self) -> datetime.datetime:
        return self.t


def measure(beats: int, seed: int) -> None:
    from sqlalchemy import func, select, text

    from app import clock, create_app
    from app.authz import Actor
    from app.extensions import db
    from sqlalchemy.orm import joinedload

    from app.models import Enrolment, LessonProgress, RoleName
    from app.workflows import learning as flow

    app = create_app(**app_overrides(URL))
    rng = random.Random(seed)
    bench_clock = BenchClock()
    clock.now = bench_clock
    with app.app_context():
        count = lambda: db.session.scalar(select(func.count()).select_from(LessonProgress))  # noqa: E731
        before = count()
        max_id = db.session.scalar(select(func.max(Enrolment.id)))
        learners = max(1, beats // 5)
        picks = rng.sample(range(1, max_id + 1), learners)
        plan = []  # (enrolment id, lesson id, user id, start position, lesson is new)
        for enrolment_id in picks:
            row = db.session.execute(text(
                "SELECT e.id, a.id AS user_id, e.class_id FROM enrolment e JOIN person p ON p.id = e.person_id "
                "JOIN ab_user a ON a.id = p.user_id WHERE e.id = :id"), {"id": enrolment_id}).first()
            if row is None:
                continue
            lessons = db.session.execute(text(
                "SELECT l.id FROM lesson l JOIN class_section s ON s.id = l.section_id JOIN class_course c ON "
                "c.id = s.course_id WHERE c.class_id = :c ORDER BY c.position, s.position, l.position"),
                {"c": row.class_id}).scalars().all()
            new = len(plan) % 2 == 1
            plan.append((row.id, lessons[5] if new else lessons[4], row.user_id, 0.0 if new else LESSON_SECONDS / 2,
                         new))
        db.session.remove()
        new_pairs = sum(1 for p in plan if p[4])
        log(f"lesson_progress rows before: {before:,}; {len(plan)} learners × 5 beats ({new_pairs} start a new lesson)")
        timings, cpu, statements = [], [], [0]
        from sqlalchemy import event

        event.listen(db.engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__(0, statements[0] + 1))
        start = datetime.datetime.now()
        for step in range(5):
            for enrolment_id, lesson_id, user_id, position, _new in plan:
                bench_clock.t = start + datetime.timedelta(seconds=5 * step + 0.05)
                actor = Actor(user_id, "bench", RoleName.PROFESSIONAL, None, None, "127.0.0.1")
                t0, c0 = time.perf_counter(), time.thread_time()
                # as the view reads them: the enrolment with its person, the lesson with what the beat checks
                enrolment = db.session.get(Enrolment, enrolment_id, options=[joinedload(Enrolment.person)])
                lesson = flow.lesson_by_id(lesson_id)
                flow.heartbeat(enrolment, lesson, position + 5 * step, actor)
                timings.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
                db.session.remove()  # a request's session ends with it
        after = count()
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        log(f"heartbeats: {len(timings)}  median {statistics.median(timings):.2f} ms  p95 {p95:.2f} ms  "
            f"max {timings[-1]:.2f} ms  (the app's own CPU: median {statistics.median(cpu):.2f} ms; "
            f"{statements[0] / len(timings):.1f} statements a beat; load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} CPUs)")
        log(f"lesson_progress rows after: {after:,} (+{after - before}; at most +{new_pairs}: one row per learner per "
            "lesson, not one per beat)")
        assert after - before <= new_pairs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beats", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--fresh", action="store_true", help="make the bench database again")
    args = parser.parse_args(argv)
    if args.fresh or not (state() or "").startswith(MARK):
        generate(args.fresh)
    log(f"database: {state()}")
    measure(args.beats, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
