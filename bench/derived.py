"""The people's qualifications, and what the platform's triggers keep beside the rows: the staff tally (distribution statistics) and the completion
rollup (completion statistics). generate.py loads with the triggers off (session_replication_role = replica), so it
counts both again from the loaded rows at the end, with the platform's own statements (the tally migration's
backfill, app.models.rollup.rebuild), then ANALYZEs them. Without this the statistics pages read empty tables."""
from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.append(str(HERE.parent))  # after bench/: the bench's own run.py stays the one `import run` finds

TALLY_MIGRATION = HERE.parent / "migrations" / "versions" / "b7c8d9e0f1a2_staff_tally.py"
TABLES = ("staff_tally", "completion_unit", "completion_rollup", "completion_org", "completion_org_year",
          "completion_standard")


def _tally_backfill() -> str:
    spec = importlib.util.spec_from_file_location("staff_tally_migration", TALLY_MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration.PG_BACKFILL


def rebuild_tally(conn) -> None:
    """The staff tally counted again from the people."""
    conn.execute(text("DELETE FROM staff_tally"))
    conn.execute(text(_tally_backfill()))


# 职(执)业资格 of the bench's people: 60% hold none, 30% one, 10% two (joined by 、 as the profile form joins them),
# chosen from the id (the same on every generation).
QUALIFICATIONS = ("执业医师", "执业助理医师", "执业护士", "执业药师", "注册会计师", "一级建造师", "二级建造师",
                  "注册安全工程师", "教师资格", "法律职业资格", "一级注册建筑师", "注册造价工程师", "监理工程师",
                  "社会工作师", "注册税务师", "注册城乡规划师", "心理咨询师", "注册测绘师")


def fill_qualifications(url: str, log=print) -> None:
    """Give the people their qualifications when none has any (triggers off, as generate.py loads; the tally is
    counted again by `rebuild`)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.execute(text("SELECT 1 FROM person WHERE vocational_qualifications IS NOT NULL LIMIT 1")).first():
                return
            started = time.perf_counter()
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            names = ", ".join(f"'{q}'" for q in QUALIFICATIONS)
            n = len(QUALIFICATIONS)
            conn.execute(text(
                f"UPDATE person SET vocational_qualifications = CASE"
                f" WHEN (id::bigint * 7919) % 10 < 6 THEN NULL"
                f" WHEN (id::bigint * 7919) % 10 < 9 THEN (ARRAY[{names}])[1 + (id::bigint * 31) % {n}]"
                f" ELSE (ARRAY[{names}])[1 + (id::bigint * 31) % {n}] || '、' || (ARRAY[{names}])[1 + (id::bigint * 31 + 1 + id % 7) % {n}]"
                f" END"))
            log(f"  {'qualifications (UPDATE person)':<40} {time.perf_counter() - started:7.1f} s")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE person"))
    finally:
        engine.dispose()


def rebuild(url: str, log=print) -> None:
    """Count the tally and the completion rollup of the database at `url` again, then ANALYZE them."""
    from app.models import rollup

    engine = create_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as conn:
            rebuild_tally(conn)
        log(f"  {'staff tally (counted again)':<40} {time.perf_counter() - started:7.1f} s")
        started = time.perf_counter()
        with engine.begin() as conn:
            rollup.rebuild(conn)
        log(f"  {'completion rollup (counted again)':<40} {time.perf_counter() - started:7.1f} s")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in TABLES:
                conn.execute(text(f"ANALYZE {table}"))
    finally:
        engine.dispose()


if __name__ == "__main__":
    from common import DB_URL

    target = sys.argv[1] if len(sys.argv) > 1 else DB_URL
    fill_qualifications(target)
    rebuild(target)
