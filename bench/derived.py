"""What the platform's triggers keep beside the rows: the staff tally (distribution statistics) and the completion
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
sys.path.insert(0, str(HERE.parent))

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

    rebuild(sys.argv[1] if len(sys.argv) > 1 else DB_URL)
