"""staff_tally: counts of staff per org subtree and dimension, for the distribution statistics

The distribution pages (机构人员统计, 职称系列 × 级别, 行业, 职(执)业资格) of a city count 850,000 staff: a GROUP BY over
them takes 0.2–0.5 s on PostgreSQL, over the 100 ms a page may take. The tally holds, per org and for its whole
subtree, its staff, how many have each title series × title level and each 职(执)业资格 (a person's
comma-separated list counts once per item), and per org its own staff. Kept by triggers on person (staff flag, unit, title,
qualifications) and on org (a path change moves the org's own staff from its old ancestors to its new ones), so
every writer (registration, approval, transfer, import, org moves, a test factory) keeps it; backfilled here.
On PostgreSQL the row triggers append their changes to staff_tally_delta and a deferred trigger sums a
transaction's changes into the tally once, at its commit: updated row by row, an import of 10,000 staff in one
transaction rewrote the city's tally rows 10,000 times, each update walking the row's earlier versions of the same
transaction (22 ms a person by the end), and every transaction held the city's rows locked until it committed.
(SQLite, one writer at a time and no row versions, updates the tally row by row.)
On PostgreSQL a GIN index over each staff member's qualifications (as an array) serves the staff list's filter by
one qualification, the list of a figure's people.

Revision ID: b7c8d9e0f1a2
Revises: 5e1f0c2d3b4a
"""
import sqlalchemy as sa
from alembic import op

revision = "b7c8d9e0f1a2"
down_revision = "5e1f0c2d3b4a"
branch_labels = None
depends_on = None

KEY = "(org_id, dim, value, value2)"
WATCHED = "is_staff, unit_id, title_series, title_level, vocational_qualifications"
# the separators of app.workflows.title_change.LIST_SPLIT
PG_SPLIT = "E'[,，、;；\\\\n]+'"

PG_UP = [
    """CREATE FUNCTION staff_tally_ancestors(org_path text) RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
        SELECT CAST(string_to_array(btrim(coalesce(org_path, ''), '/'), '/') AS integer[])
    $$""",
    f"""CREATE FUNCTION staff_tally_items(p_series text, p_level text, p_quals text)
        RETURNS TABLE(dim text, value text, value2 text) LANGUAGE sql IMMUTABLE AS $$
        SELECT 'staff', '', ''
        UNION
        SELECT 'title', coalesce(p_series, ''), coalesce(p_level, '')
        UNION
        SELECT 'qual', q, '' FROM (SELECT btrim(x, E' \\t\\r\\n\\u3000') AS q
                                     FROM regexp_split_to_table(coalesce(p_quals, ''), {PG_SPLIT}) AS x) AS s
         WHERE q <> ''
    $$""",
    f"""CREATE FUNCTION staff_tally_add(p_unit integer, p_series text, p_level text, p_quals text, p_delta integer)
        RETURNS void LANGUAGE plpgsql AS $$
    BEGIN  -- plpgsql keeps the statement's plan; a sql function planned it again at every call (3x the cost)
        INSERT INTO staff_tally_delta (org_id, dim, value, value2, n)
        SELECT a, i.dim, i.value, i.value2, p_delta
          FROM org AS o CROSS JOIN LATERAL unnest(staff_tally_ancestors(o.path)) AS a
               CROSS JOIN LATERAL staff_tally_items(p_series, p_level, p_quals) AS i
         WHERE o.id = p_unit
        UNION ALL SELECT p_unit, 'own', '', '', p_delta;
    END $$""",
    """CREATE FUNCTION person_tally_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND (OLD.is_staff, OLD.unit_id, OLD.title_series, OLD.title_level,
                               OLD.vocational_qualifications) IS NOT DISTINCT FROM
                              (NEW.is_staff, NEW.unit_id, NEW.title_series, NEW.title_level,
                               NEW.vocational_qualifications) THEN
        RETURN NULL;
      END IF;
      IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.is_staff AND OLD.unit_id IS NOT NULL THEN
        PERFORM staff_tally_add(OLD.unit_id, OLD.title_series, OLD.title_level, OLD.vocational_qualifications, -1);
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_staff AND NEW.unit_id IS NOT NULL THEN
        PERFORM staff_tally_add(NEW.unit_id, NEW.title_series, NEW.title_level, NEW.vocational_qualifications, 1);
      END IF;
      RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER person_tally_sync AFTER INSERT OR DELETE OR UPDATE OF {WATCHED} ON person
       FOR EACH ROW EXECUTE FUNCTION person_tally_sync()""",
    f"""CREATE FUNCTION org_tally_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO staff_tally_delta (org_id, dim, value, value2, n)
      SELECT s.a, i.dim, i.value, i.value2, sum(s.sign)
        FROM person AS p
             CROSS JOIN LATERAL staff_tally_items(p.title_series, p.title_level, p.vocational_qualifications) AS i
             CROSS JOIN (SELECT a, -1 AS sign FROM unnest(staff_tally_ancestors(OLD.path)) AS a
                         UNION ALL SELECT a, 1 FROM unnest(staff_tally_ancestors(NEW.path)) AS a) AS s
       WHERE p.unit_id = NEW.id AND p.is_staff
       GROUP BY s.a, i.dim, i.value, i.value2;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER org_tally_move AFTER UPDATE OF path ON org FOR EACH ROW
       WHEN (OLD.path IS DISTINCT FROM NEW.path) EXECUTE FUNCTION org_tally_move()""",
    # At commit, the transaction's deltas are summed into the tally, once (the first of its deferred triggers does
    # it; the others find the transaction marked), in key order so that concurrent commits lock rows alike.
    f"""CREATE FUNCTION staff_tally_fold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF current_setting('staff_tally.folded', true) = CAST(txid_current() AS text) THEN
        RETURN NULL;
      END IF;
      PERFORM set_config('staff_tally.folded', CAST(txid_current() AS text), true);
      WITH gone AS (DELETE FROM staff_tally_delta RETURNING org_id, dim, value, value2, n)
      INSERT INTO staff_tally AS t (org_id, dim, value, value2, n)
      SELECT org_id, dim, value, value2, sum(n) FROM gone
       GROUP BY org_id, dim, value, value2 ORDER BY org_id, dim, value, value2
      ON CONFLICT {KEY} DO UPDATE SET n = t.n + EXCLUDED.n;
      RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER staff_tally_fold AFTER INSERT ON staff_tally_delta
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION staff_tally_fold()""",
    # The staff list's filter by one qualification (a figure's people): the items as an array, in a GIN index.
    f"""CREATE FUNCTION staff_qualifications(p_quals text) RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
        SELECT coalesce(array_agg(DISTINCT i.value), '{{}}') FROM staff_tally_items(NULL, NULL, p_quals) AS i
         WHERE i.dim = 'qual'
    $$""",
    """CREATE INDEX ix_person_staff_qualifications ON person USING gin (staff_qualifications(vocational_qualifications))
       WHERE is_staff""",
]
PG_BACKFILL = f"""
    INSERT INTO staff_tally (org_id, dim, value, value2, n)
    SELECT a, u.dim, u.value, u.value2, sum(u.k)
      FROM (SELECT p.unit_id, i.dim, i.value, i.value2, count(*) AS k
              FROM person AS p
                   CROSS JOIN LATERAL staff_tally_items(p.title_series, p.title_level, p.vocational_qualifications) AS i
             WHERE p.is_staff AND p.unit_id IS NOT NULL
             GROUP BY p.unit_id, i.dim, i.value, i.value2) AS u
      JOIN org AS o ON o.id = u.unit_id
      CROSS JOIN LATERAL unnest(staff_tally_ancestors(o.path)) AS a
     GROUP BY a, u.dim, u.value, u.value2
    UNION ALL
    SELECT unit_id, 'own', '', '', count(*) FROM person WHERE is_staff AND unit_id IS NOT NULL GROUP BY unit_id"""
PG_DOWN = [
    "DROP TRIGGER IF EXISTS staff_tally_fold ON staff_tally_delta",
    "DROP FUNCTION IF EXISTS staff_tally_fold()",
    "DROP TABLE IF EXISTS staff_tally_delta",
    "DROP INDEX IF EXISTS ix_person_staff_qualifications",
    "DROP FUNCTION IF EXISTS staff_qualifications(text)",
    "DROP TRIGGER IF EXISTS org_tally_move ON org",
    "DROP FUNCTION IF EXISTS org_tally_move()",
    "DROP TRIGGER IF EXISTS person_tally_sync ON person",
    "DROP FUNCTION IF EXISTS person_tally_sync()",
    "DROP FUNCTION IF EXISTS staff_tally_add(integer, text, text, text, integer)",
    "DROP FUNCTION IF EXISTS staff_tally_items(text, text, text)",
    "DROP FUNCTION IF EXISTS staff_tally_ancestors(text)",
]


# ---------------------------------------------------------------- SQLite (development and tests): no functions,
# the qualifications split through json_each, the ancestors found by their id in the unit's path.

def _json(row: str) -> str:
    """The row's qualifications as a JSON array of strings (text), split on the separators of LIST_SPLIT."""
    text = f"coalesce({row}.vocational_qualifications, '')"
    for old, new in (("'\\'", "'\\\\'"), ("'\"'", "'\\\"'"), ("char(9)", "' '"), ("char(13)", "' '")):
        text = f"replace({text}, {old}, {new})"
    for sep in ("'，'", "'、'", "';'", "'；'", "char(10)"):
        text = f"replace({text}, {sep}, ',')"
    return f"""('["' || replace({text}, ',', '","') || '"]')"""


def _ancestor(path: str, org_id: str) -> str:
    return f"instr({path}, '/' || {org_id} || '/') > 0"


def _sqlite_add(row: str, cond: str) -> str:
    """Statements adding the row's contributions (one staff) to the tally."""
    return f"""
        INSERT INTO staff_tally (org_id, dim, value, value2, n)
        SELECT a.id, 'title', coalesce({row}.title_series, ''), coalesce({row}.title_level, ''), 1
          FROM org AS u, org AS a WHERE u.id = {row}.unit_id AND {_ancestor('u.path', 'a.id')} AND {cond}
        UNION ALL
        SELECT a.id, 'staff', '', '', 1
          FROM org AS u, org AS a WHERE u.id = {row}.unit_id AND {_ancestor('u.path', 'a.id')} AND {cond}
        ON CONFLICT {KEY} DO UPDATE SET n = n + excluded.n;
        INSERT INTO staff_tally (org_id, dim, value, value2, n)
        SELECT DISTINCT a.id, 'qual', trim(j.value), '', 1
          FROM org AS u, org AS a, json_each({_json(row)}) AS j
         WHERE u.id = {row}.unit_id AND {_ancestor('u.path', 'a.id')} AND trim(j.value) <> '' AND {cond}
        ON CONFLICT {KEY} DO UPDATE SET n = n + excluded.n;
        INSERT INTO staff_tally (org_id, dim, value, value2, n)
        SELECT {row}.unit_id, 'own', '', '', 1 WHERE {row}.unit_id IS NOT NULL AND {cond}
        ON CONFLICT {KEY} DO UPDATE SET n = n + excluded.n;"""


def _sqlite_sub(row: str, cond: str) -> str:
    """The statement taking the row's contributions off (an UPDATE only: a tally emptied first stays empty)."""
    return f"""
        UPDATE staff_tally SET n = n - 1
         WHERE {cond} AND ((dim = 'own' AND org_id = {row}.unit_id)
            OR (org_id IN (SELECT a.id FROM org AS u, org AS a
                            WHERE u.id = {row}.unit_id AND {_ancestor('u.path', 'a.id')})
                AND (dim = 'staff' OR (dim = 'title' AND value = coalesce({row}.title_series, '')
                      AND value2 = coalesce({row}.title_level, ''))
                     OR (dim = 'qual' AND value IN (SELECT trim(j.value) FROM json_each({_json(row)}) AS j)))));"""


def _sqlite_subtree_insert(where: str, ancestors: str) -> list[str]:
    """INSERT … SELECTs of the title and qualification counts of the staff matching `where` (person p, their unit
    u), for every ancestor a of `ancestors` (a path expression)."""
    return [f"""
        INSERT INTO staff_tally (org_id, dim, value, value2, n)
        SELECT a.id, 'title', coalesce(p.title_series, ''), coalesce(p.title_level, ''), count(*)
          FROM person AS p, org AS u, org AS a
         WHERE u.id = p.unit_id AND p.is_staff AND {where} AND {_ancestor(ancestors, 'a.id')}
         GROUP BY a.id, coalesce(p.title_series, ''), coalesce(p.title_level, '')
        UNION ALL
        SELECT a.id, 'staff', '', '', count(*)
          FROM person AS p, org AS u, org AS a
         WHERE u.id = p.unit_id AND p.is_staff AND {where} AND {_ancestor(ancestors, 'a.id')}
         GROUP BY a.id
        ON CONFLICT {KEY} DO UPDATE SET n = n + excluded.n""", f"""
        INSERT INTO staff_tally (org_id, dim, value, value2, n)
        SELECT a.id, 'qual', trim(j.value), '', count(DISTINCT p.id)
          FROM person AS p, org AS u, org AS a, json_each({_json('p')}) AS j
         WHERE u.id = p.unit_id AND p.is_staff AND {where} AND {_ancestor(ancestors, 'a.id')}
           AND trim(j.value) <> ''
         GROUP BY a.id, trim(j.value)
        ON CONFLICT {KEY} DO UPDATE SET n = n + excluded.n"""]


_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in WATCHED.split(", "))
SQLITE_UP = [
    f"""CREATE TRIGGER person_tally_insert AFTER INSERT ON person WHEN NEW.is_staff AND NEW.unit_id IS NOT NULL
        BEGIN {_sqlite_add('NEW', '1')} END""",
    f"""CREATE TRIGGER person_tally_delete AFTER DELETE ON person WHEN OLD.is_staff
        BEGIN {_sqlite_sub('OLD', '1')} END""",
    f"""CREATE TRIGGER person_tally_update AFTER UPDATE OF {WATCHED} ON person
        WHEN (OLD.is_staff OR NEW.is_staff) AND ({_CHANGED})
        BEGIN {_sqlite_sub('OLD', 'OLD.is_staff')} {_sqlite_add('NEW', 'NEW.is_staff')} END""",
    f"""CREATE TRIGGER org_tally_move AFTER UPDATE OF path ON org WHEN OLD.path IS NOT NEW.path BEGIN
        UPDATE staff_tally SET n = n - CASE dim
            WHEN 'title' THEN (SELECT count(*) FROM person AS p WHERE p.unit_id = NEW.id AND p.is_staff
                                 AND coalesce(p.title_series, '') = staff_tally.value
                                 AND coalesce(p.title_level, '') = staff_tally.value2)
            WHEN 'staff' THEN (SELECT count(*) FROM person AS p WHERE p.unit_id = NEW.id AND p.is_staff)
            ELSE (SELECT count(DISTINCT p.id) FROM person AS p, json_each({_json('p')}) AS j
                   WHERE p.unit_id = NEW.id AND p.is_staff AND trim(j.value) = staff_tally.value) END
         WHERE dim IN ('staff', 'title', 'qual') AND {_ancestor('OLD.path', 'org_id')};
        {';'.join(_sqlite_subtree_insert('u.id = NEW.id', 'NEW.path'))};
        END""",
]
SQLITE_BACKFILL = [*_sqlite_subtree_insert("1", "u.path"), """
    INSERT INTO staff_tally (org_id, dim, value, value2, n)
    SELECT unit_id, 'own', '', '', count(*) FROM person WHERE is_staff AND unit_id IS NOT NULL GROUP BY unit_id"""]
SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS {name}" for name in (
    "org_tally_move", "person_tally_update", "person_tally_delete", "person_tally_insert")]


def upgrade():
    op.create_table(
        "staff_tally",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("dim", sa.String(10), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("value2", sa.String(30), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "dim", "value", "value2"),
    )
    # the industries page joins every org of a subtree with its own staff: those rows alone, in an index
    op.create_index("ix_staff_tally_own", "staff_tally", ["org_id"], postgresql_include=["n"],
                    postgresql_where=sa.text("dim = 'own'"), sqlite_where=sa.text("dim = 'own'"))
    if op.get_bind().dialect.name == "postgresql":
        # the triggers' changes of a transaction, summed into the tally at its commit (no index: written, then
        # read and emptied once)
        op.create_table("staff_tally_delta", sa.Column("org_id", sa.Integer(), nullable=False),
                        sa.Column("dim", sa.String(10), nullable=False), sa.Column("value", sa.String(200), nullable=False),
                        sa.Column("value2", sa.String(30), nullable=False), sa.Column("n", sa.Integer(), nullable=False))
        for statement in PG_UP:
            op.execute(statement)
        op.execute(PG_BACKFILL)
    else:
        for statement in SQLITE_UP:
            op.execute(statement)
        for statement in SQLITE_BACKFILL:
            op.execute(statement)


def downgrade():
    for statement in PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    op.drop_index("ix_staff_tally_own", table_name="staff_tally")
    op.drop_table("staff_tally")
