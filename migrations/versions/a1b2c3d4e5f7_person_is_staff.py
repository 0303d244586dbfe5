"""person.is_staff: the staff list's filter as a column kept by the database

A person is staff while they hold an active Professional membership. The staff list filtered on that with an
EXISTS over memberships per row, so no index could serve its pages at city scope. The flag is kept by triggers
on membership and person, so every path that writes a membership (registration, approval, removal, transfer,
import, a factory in a test) keeps it, and partial indexes serve the list in id and in name order and its searches by each search column.

Revision ID: a1b2c3d4e5f7
Revises: e7f8a9b0c1d2
"""
import sqlalchemy as sa
from alembic import op

revision = "a1b2c3d4e5f7"
down_revision = "e7f8a9b0c1d2"
branch_labels = None
depends_on = None

SEARCHED = ("name", "department", "title_series", "title_level")  # the staff list's search columns
STAFF = ("EXISTS (SELECT 1 FROM membership m WHERE m.user_id = {uid} AND m.role = 'Professional' "
         "AND m.state = 'active')")

PG_UP = [
    f"""CREATE FUNCTION person_staff_refresh(uid integer) RETURNS void LANGUAGE sql AS $$
        UPDATE person SET is_staff = {STAFF.format(uid='uid')} WHERE user_id = uid
          AND is_staff IS DISTINCT FROM {STAFF.format(uid='uid')}
    $$""",
    """CREATE FUNCTION membership_staff_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('DELETE', 'UPDATE') THEN PERFORM person_staff_refresh(OLD.user_id); END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM person_staff_refresh(NEW.user_id); END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER membership_staff_sync AFTER INSERT OR DELETE OR UPDATE OF user_id, role, state ON membership
       FOR EACH ROW EXECUTE FUNCTION membership_staff_sync()""",
    f"""CREATE FUNCTION person_staff_init() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.is_staff := {STAFF.format(uid='NEW.user_id')};
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER person_staff_init BEFORE INSERT OR UPDATE OF user_id, is_staff ON person
       FOR EACH ROW EXECUTE FUNCTION person_staff_init()""",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS person_staff_init ON person",
    "DROP FUNCTION IF EXISTS person_staff_init()",
    "DROP TRIGGER IF EXISTS membership_staff_sync ON membership",
    "DROP FUNCTION IF EXISTS membership_staff_sync()",
    "DROP FUNCTION IF EXISTS person_staff_refresh(integer)",
]


def _sqlite_refresh(uid: str) -> str:
    return f"UPDATE person SET is_staff = {STAFF.format(uid=uid)} WHERE user_id = {uid};"


SQLITE_UP = [
    f"CREATE TRIGGER membership_staff_insert AFTER INSERT ON membership BEGIN {_sqlite_refresh('NEW.user_id')} END",
    f"CREATE TRIGGER membership_staff_delete AFTER DELETE ON membership BEGIN {_sqlite_refresh('OLD.user_id')} END",
    f"""CREATE TRIGGER membership_staff_update AFTER UPDATE OF user_id, role, state ON membership BEGIN
        {_sqlite_refresh('OLD.user_id')} {_sqlite_refresh('NEW.user_id')} END""",
    f"""CREATE TRIGGER person_staff_insert AFTER INSERT ON person BEGIN
        UPDATE person SET is_staff = {STAFF.format(uid='NEW.user_id')} WHERE id = NEW.id; END""",
    f"""CREATE TRIGGER person_staff_update AFTER UPDATE OF user_id, is_staff ON person
        WHEN NEW.is_staff IS NOT {STAFF.format(uid='NEW.user_id')} BEGIN
        UPDATE person SET is_staff = {STAFF.format(uid='NEW.user_id')} WHERE id = NEW.id; END""",
]
SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS {name}" for name in (
    "person_staff_update", "person_staff_insert", "membership_staff_update", "membership_staff_delete",
    "membership_staff_insert")]


def upgrade():
    with op.batch_alter_table("person") as batch_op:
        batch_op.add_column(sa.Column("is_staff", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(f"UPDATE person SET is_staff = {STAFF.format(uid='person.user_id')}")
    op.create_index("ix_person_staff_unit", "person", ["unit_id", "id"], postgresql_where=sa.text("is_staff"),
                    sqlite_where=sa.text("is_staff"))
    op.create_index("ix_person_staff_name", "person", ["name", "id"], postgresql_where=sa.text("is_staff"),
                    sqlite_where=sa.text("is_staff"))
    for column in SEARCHED:  # the list's "starts with" / "equals" searches, under any collation: city-wide, and
        # per unit of a scope (a department's search walks its units' entries, not the city's)
        op.create_index(f"ix_person_staff_{column}_prefix", "person", [column],
                        postgresql_ops={column: "varchar_pattern_ops"}, postgresql_where=sa.text("is_staff"),
                        sqlite_where=sa.text("is_staff"))
        op.create_index(f"ix_person_staff_unit_{column}_prefix", "person", ["unit_id", column],
                        postgresql_ops={column: "varchar_pattern_ops"}, postgresql_where=sa.text("is_staff"),
                        sqlite_where=sa.text("is_staff"))
    for statement in PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade():
    for statement in PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    for column in SEARCHED:
        op.drop_index(f"ix_person_staff_unit_{column}_prefix", table_name="person")
        op.drop_index(f"ix_person_staff_{column}_prefix", table_name="person")
    op.drop_index("ix_person_staff_name", table_name="person")
    op.drop_index("ix_person_staff_unit", table_name="person")
    with op.batch_alter_table("person") as batch_op:
        batch_op.drop_column("is_staff")
