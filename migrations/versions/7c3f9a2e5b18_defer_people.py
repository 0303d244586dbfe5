"""completion rollup: a transaction inserting many people (a staff import) may defer them (PostgreSQL)

With the transaction-local setting completion.defer_people on, the person inserts neither lock the root rows of the
rollup (completion_lock) nor count into it (completion_person_inserts); the transaction adds its people in one
short step before it commits (app/models/statement_triggers.people_joined). A 100,000-row staff import held the
city's rows, which every hour approval of the city waits for, for its whole write (about 25 s); now for that step.

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


def _functions() -> list[str]:
    units, _tree, _drop = rollup.trigger_ddl("postgresql")
    found = [s for s in units + statement_triggers.create_ddl()
             if s.startswith("CREATE FUNCTION") and s.split()[2].removesuffix("()") in FUNCTIONS]
    assert len(found) == len(FUNCTIONS)
    return [s.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1) for s in found]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time; its row triggers count every person as it comes
    for statement in _functions():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _functions():
        op.execute(statement.replace(f"IF TG_TABLE_NAME = 'person' AND {rollup.DEFERRED} THEN RETURN NULL; END IF;\n",
                                     "").replace(statement_triggers.DEFER_SKIP, ""))
