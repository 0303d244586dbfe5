"""completion rollup: a transaction inserting many people (a staff import) may defer them to its commit (PostgreSQL)

With the transaction-local setting completion.defer_people on, the person inserts neither lock the root rows of the
rollup (completion_lock) nor update completion_unit (completion_person_inserts): they count into
completion_unit_delta, and a deferred trigger folds that into completion_unit at the commit, the root rows locked
first as every writer does (app/models/statement_triggers.py DEFERRED_INSERT). A 100,000-row staff import held the
city's rows, which every hour approval of the city waits for, for its whole write (about 25 s); now from the fold to
the end of its commit.

Revision ID: 7c3f9a2e5b18
Revises: 6b2e8d4f1a37
"""
from alembic import op

from app.models import rollup, statement_triggers

revision = "7c3f9a2e5b18"
down_revision = "6b2e8d4f1a37"
branch_labels = None
depends_on = None

FUNCTIONS = ("completion_lock", "completion_person_inserts")
LOCK_SKIP = f"IF TG_TABLE_NAME = 'person' AND {rollup.DEFERRED} THEN RETURN NULL; END IF;\n"


def _functions() -> list[str]:
    units, _tree, _drop = rollup.trigger_ddl("postgresql")
    found = [s for s in units + statement_triggers.create_ddl()
             if s.startswith("CREATE FUNCTION") and s.split()[2].removesuffix("()") in FUNCTIONS]
    assert len(found) == len(FUNCTIONS)
    return [s.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1) for s in found]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time; its row triggers count every person as it comes
    for statement in statement_triggers.FOLD_DDL + _functions():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _functions():
        op.execute(statement.replace(LOCK_SKIP, "").replace(statement_triggers.DEFERRED_INSERT, ""))
    for statement in statement_triggers.FOLD_DROP:
        op.execute(statement)
