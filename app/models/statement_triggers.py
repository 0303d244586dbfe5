"""PostgreSQL: the counters that triggers keep (person.is_staff, the completion rollup, the staff tally) follow a
write once per statement, not once per row (migration c8d9e0f1a2b3).

Row by row, a statement writing 1,000 people of one unit updated the unit's headcount row 1,000 times, and every
org above it, and the tally rows of each dimension; PostgreSQL keeps each update of a row as a new version that the
transaction's next update of that row walks past, so an import of 10,000 people in one transaction took O(N^2)
(203 s). Here AFTER … FOR EACH STATEMENT triggers read the statement's rows from its transition tables (old_rows,
new_rows), sum the changes per unit / org / year / tally key, and write each row they change once, in key order.

PostgreSQL allows transition tables on a trigger of one event only, without a column list or a WHEN clause: one
trigger per event, and an UPDATE's trigger keeps only the rows whose watched columns changed (old and new matched on
their key). Each SQL below adds the removed rows with sign -1 and the added rows with sign +1, the same figures as
the row triggers of app/models/rollup.py and migrations a1b2c3d4e5f7 / b7c8d9e0f1a2 (still SQLite's: it has no
statement triggers, and one writer without row versions does not suffer this).
"""
from __future__ import annotations

from sqlalchemy import text

from .rollup import (BULK_SKIP, DEFER_PEOPLE, DEFERRED, LOCK_ROOTS, UPSERT_ORG, UPSERT_ORG_YEAR, UPSERT_ROLLUP,
                     ancestors_sql, passed_by_key_sql, region_sql, took_sql, trigger_ddl)

EVENTS = ("INSERT", "UPDATE", "DELETE")
OLD, NEW = "old_rows", "new_rows"
REFERENCING = {"INSERT": f"NEW TABLE AS {NEW}", "UPDATE": f"OLD TABLE AS {OLD} NEW TABLE AS {NEW}",
               "DELETE": f"OLD TABLE AS {OLD}"}

# person.is_staff: an active Professional membership (migration a1b2c3d4e5f7)
STAFF = ("EXISTS (SELECT 1 FROM membership m WHERE m.user_id = p.user_id AND m.role = 'Professional'"
         " AND m.state = 'active')")
MEMBERSHIP_WATCHED = ("user_id", "role", "state")
PERSON_WATCHED = ("is_staff", "unit_id")
TALLY_WATCHED = ("is_staff", "unit_id", "title_series", "title_level", "vocational_qualifications")

# the row triggers replaced here: (table, trigger); their functions stay, for the downgrade
ROW_TRIGGERS = (("membership", "membership_staff_sync"), ("person", "completion_person_sync"),
                ("year_summary", "completion_summary_sync"), ("completion_unit", "completion_unit_tree"),
                ("completion_rollup", "completion_rollup_tree"), ("person", "person_tally_sync"))


def _signed(event: str, columns: str, where: str = "TRUE", watched: tuple[str, ...] = (), key: str = "id") -> str:
    """The statement's removed rows (sign -1) and added rows (sign +1) matching `where` (on the alias r), as
    `SELECT {columns}, sign`; of an UPDATE only the rows whose `watched` columns changed (none: every row)."""
    sides = []
    if event in ("UPDATE", "DELETE"):
        sides.append((OLD, "-1"))
    if event in ("UPDATE", "INSERT"):
        sides.append((NEW, "1"))
    parts = []
    for table, sign in sides:
        source = f"{table} r"
        if event == "UPDATE" and watched:
            other = NEW if table == OLD else OLD
            differs = (f"({', '.join(f'r.{c}' for c in watched)}) IS DISTINCT FROM"
                       f" ({', '.join(f'x.{c}' for c in watched)})")
            source = f"{table} r JOIN {other} x ON x.{key} = r.{key} AND {differs}"
        parts.append(f"SELECT {columns}, {sign} AS sign FROM {source} WHERE {where}")
    return " UNION ALL ".join(parts)


def _rollup_upsert(rows: str) -> str:
    """The rollup rows' changes: `rows` (a CTE body over d) yields (unit_id, sign, year, public_hours,
    professional_hours) per year summary that joins (+1) or leaves (-1) a unit's staff."""
    return (f"s AS ({rows}), k AS (SELECT x.unit_id, {region_sql('x.unit_id')} AS region_key"
            " FROM (SELECT DISTINCT unit_id FROM s) x)"
            " INSERT INTO completion_rollup (unit_id, year, counted, took_part, passed)"
            " SELECT g.unit_id, g.year, g.counted, g.took_part, g.passed FROM (SELECT s.unit_id, s.year,"
            f" sum(s.sign) AS counted, sum(s.sign * {took_sql('s')}) AS took_part,"
            f" sum(s.sign * {passed_by_key_sql('s', 'k.region_key')}) AS passed"
            " FROM s JOIN k ON k.unit_id = s.unit_id GROUP BY s.unit_id, s.year) g"
            " WHERE g.counted <> 0 OR g.took_part <> 0 OR g.passed <> 0 ORDER BY g.unit_id, g.year"
            f" {UPSERT_ROLLUP}")


def membership_sql(event: str) -> list[str]:
    """The staff flag of the people whose memberships changed, in one UPDATE (person's triggers then run once)."""
    users = _signed(event, "r.user_id", watched=MEMBERSHIP_WATCHED)
    return [f"UPDATE person p SET is_staff = {STAFF} WHERE p.user_id IN (SELECT user_id FROM ({users}) u)"
            f" AND p.is_staff IS DISTINCT FROM {STAFF}"]


def person_sql(event: str) -> list[str]:
    """Staff joining or leaving a unit: its headcount, and the rollup rows of their year summaries."""
    d = _signed(event, "r.unit_id, r.id AS person_id", "r.is_staff AND r.unit_id IS NOT NULL", PERSON_WATCHED)
    return [f"WITH d AS ({d}) INSERT INTO completion_unit (unit_id, headcount)"
            " SELECT g.unit_id, g.n FROM (SELECT unit_id, sum(sign) AS n FROM d GROUP BY unit_id) g"
            " WHERE g.n <> 0 ORDER BY g.unit_id"
            " ON CONFLICT (unit_id) DO UPDATE SET headcount = completion_unit.headcount + excluded.headcount",
            f"WITH d AS ({d}), " + _rollup_upsert(
                "SELECT d.unit_id, d.sign, ys.year, ys.public_hours, ys.professional_hours"
                " FROM d JOIN year_summary ys ON ys.person_id = d.person_id")]


def summary_sql(event: str) -> list[str]:
    """Year summaries written, of staff in a unit: the rollup rows of their unit and year."""
    d = _signed(event, "r.person_id, r.year, r.public_hours, r.professional_hours")
    return [f"WITH d AS ({d}), " + _rollup_upsert(
        "SELECT p.unit_id, d.sign, d.year, d.public_hours, d.professional_hours"
        " FROM d JOIN person p ON p.id = d.person_id WHERE p.is_staff AND p.unit_id IS NOT NULL")]


def _of_ancestors(d: str) -> str:
    return f"{d} JOIN org o ON o.id = d.unit_id CROSS JOIN LATERAL ({ancestors_sql('o.path', 'postgresql')}) a"


def unit_tree_sql(event: str) -> list[str]:
    """completion_unit rows written: every org above the units, its subtree headcount."""
    d = _signed(event, "r.unit_id, r.headcount")
    return [f"WITH d AS ({d}) INSERT INTO completion_org (org_id, headcount)"
            " SELECT g.org_id, g.n FROM (SELECT a.id AS org_id, sum(d.sign * d.headcount) AS n"
            f" FROM {_of_ancestors('d')} GROUP BY a.id) g WHERE g.n <> 0 ORDER BY g.org_id {UPSERT_ORG}"]


def rollup_tree_sql(event: str) -> list[str]:
    """completion_rollup rows written: every org above the units, its subtree figures of those years."""
    d = _signed(event, "r.unit_id, r.year, r.counted, r.took_part, r.passed")
    sums = ", ".join(f"sum(d.sign * d.{c}) AS {c}" for c in ("counted", "took_part", "passed"))
    return [f"WITH d AS ({d}) INSERT INTO completion_org_year (org_id, year, counted, took_part, passed)"
            f" SELECT g.org_id, g.year, g.counted, g.took_part, g.passed FROM (SELECT a.id AS org_id, d.year, {sums}"
            f" FROM {_of_ancestors('d')} GROUP BY a.id, d.year) g"
            " WHERE g.counted <> 0 OR g.took_part <> 0 OR g.passed <> 0 ORDER BY g.org_id, g.year"
            f" {UPSERT_ORG_YEAR}"]


def tally_sql(event: str) -> list[str]:
    """Staff written: their changes to the staff tally, summed per key, into staff_tally_delta (folded into the
    tally at commit by migration b7c8d9e0f1a2's deferred trigger)."""
    d = _signed(event, "r.unit_id, r.title_series, r.title_level, r.vocational_qualifications",
                "r.is_staff AND r.unit_id IS NOT NULL", TALLY_WATCHED)
    return [f"WITH d AS ({d}) INSERT INTO staff_tally_delta (org_id, dim, value, value2, n)"
            " SELECT a, i.dim, i.value, i.value2, sum(d.sign) FROM d JOIN org o ON o.id = d.unit_id"
            " CROSS JOIN LATERAL unnest(staff_tally_ancestors(o.path)) AS a"
            " CROSS JOIN LATERAL staff_tally_items(d.title_series, d.title_level, d.vocational_qualifications) AS i"
            " GROUP BY a, i.dim, i.value, i.value2 HAVING sum(d.sign) <> 0"
            " UNION ALL SELECT d.unit_id, 'own', '', '', sum(d.sign) FROM d GROUP BY d.unit_id"
            " HAVING sum(d.sign) <> 0"]


# name -> (table, SQL per event, skipped during a rollup rebuild)
STATEMENT_TRIGGERS = {
    "membership_staff": ("membership", membership_sql, False),
    "completion_person": ("person", person_sql, False),
    "completion_summary": ("year_summary", summary_sql, False),
    "completion_unit_tree": ("completion_unit", unit_tree_sql, True),
    "completion_rollup_tree": ("completion_rollup", rollup_tree_sql, True),
    "person_tally": ("person", tally_sql, False),
}


def _name(base: str, event: str) -> str:
    return f"{base}_{event.lower()}s"


# A transaction deferring its people (rollup.DEFER_PEOPLE, a staff import): its person inserts count into
# completion_unit_delta, a table of its own uncommitted rows that no other transaction waits for, and a deferred
# trigger folds them into completion_unit once, at its commit (as staff_tally_delta is folded): the root rows,
# which every writer of the rollup locks first, are held from that fold to the commit only. A person just inserted
# has no year summary yet (year_summary references person), so an insert changes only its unit's headcount.
DEFERRED_INSERT = (f"IF {DEFERRED} THEN\n"
                   "  INSERT INTO completion_unit_delta (unit_id, n) SELECT r.unit_id, count(*)"
                   f" FROM {NEW} r WHERE r.is_staff AND r.unit_id IS NOT NULL GROUP BY r.unit_id;\n"
                   "  RETURN NULL;\nEND IF;\n")
DEFERRABLE = {("completion_person", "INSERT"): DEFERRED_INSERT}
FOLD_DDL = [
    "CREATE TABLE completion_unit_delta (unit_id integer NOT NULL, n integer NOT NULL)",
    f"""CREATE FUNCTION completion_unit_fold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('completion.folded', true) = CAST(txid_current() AS text) THEN
        RETURN NULL;
      END IF;
      PERFORM set_config('completion.folded', CAST(txid_current() AS text), true);
      {LOCK_ROOTS};
      WITH gone AS (DELETE FROM completion_unit_delta RETURNING unit_id, n)
      INSERT INTO completion_unit (unit_id, headcount)
      SELECT unit_id, sum(n) FROM gone GROUP BY unit_id HAVING sum(n) <> 0 ORDER BY unit_id
      ON CONFLICT (unit_id) DO UPDATE SET headcount = completion_unit.headcount + excluded.headcount;
      RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER completion_unit_fold AFTER INSERT ON completion_unit_delta
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION completion_unit_fold()""",
]
FOLD_DROP = ["DROP TRIGGER IF EXISTS completion_unit_fold ON completion_unit_delta",
             "DROP FUNCTION IF EXISTS completion_unit_fold()", "DROP TABLE IF EXISTS completion_unit_delta"]


def defer_people(conn) -> None:
    """PostgreSQL: the people this transaction inserts from now on join the rollup at its commit (see
    DEFERRED_INSERT); elsewhere the triggers count them as they come (SQLite has one writer at a time)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT set_config('{DEFER_PEOPLE}', 'on', true)"))


def create_ddl() -> list[str]:
    """The statement triggers and their functions (one per event)."""
    ddl = []
    for base, (table, statements, bulk) in STATEMENT_TRIGGERS.items():
        for event in EVENTS:
            name = _name(base, event)
            body = ((BULK_SKIP if bulk else "") + DEFERRABLE.get((base, event), "")
                    + "".join(f"  {s};\n" for s in statements(event)))
            # jit off: the planner cannot know a transition table's size and the costs of the generic plans
            # pass jit_above_cost; compiling them took 1-2 s a statement, for statements of milliseconds
            ddl += [f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$\nBEGIN\n{body}"
                    "RETURN NULL;\nEND $$",
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {REFERENCING[event]}"
                    f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()"]
    return ddl


def drop_ddl() -> list[str]:
    ddl = []
    for base, (table, _statements, _bulk) in STATEMENT_TRIGGERS.items():
        for event in EVENTS:
            ddl += [f"DROP TRIGGER IF EXISTS {_name(base, event)} ON {table}",
                    f"DROP FUNCTION IF EXISTS {_name(base, event)}()"]
    return ddl


def row_triggers_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {name} ON {table}" for table, name in ROW_TRIGGERS]


def row_triggers_create() -> list[str]:
    """The row triggers as migrations a1b2c3d4e5f7, 5e1f0c2d3b4a and b7c8d9e0f1a2 made them (their functions were
    left in place)."""
    names = {name for _table, name in ROW_TRIGGERS}
    units, tree, _drop = trigger_ddl("postgresql")
    rollup = [s for s in units + tree if s.startswith("CREATE TRIGGER") and s.split()[2] in names]
    return [f"CREATE TRIGGER membership_staff_sync AFTER INSERT OR DELETE OR UPDATE OF"
            f" {', '.join(MEMBERSHIP_WATCHED)} ON membership FOR EACH ROW EXECUTE FUNCTION membership_staff_sync()",
            *rollup,
            f"CREATE TRIGGER person_tally_sync AFTER INSERT OR DELETE OR UPDATE OF {', '.join(TALLY_WATCHED)}"
            " ON person FOR EACH ROW EXECUTE FUNCTION person_tally_sync()"]
