"""PostgreSQL: the staff flag, the completion rollup and the staff tally follow each write once per statement

Their row triggers updated the same rows once per row of a statement (a unit's headcount, every org above it,
the tally rows): an import of 10,000 people of one unit in one transaction left the transaction 10,000 versions of
each such row to walk (203 s). AFTER … FOR EACH STATEMENT triggers with transition tables now sum a statement's
changes per unit / org / year / key and write each row once (app/models/statement_triggers.py). The row triggers
are dropped (their functions stay, and the downgrade puts the triggers back); the figures do not change, so nothing
is recounted. SQLite keeps its row triggers: nothing to do there.

Revision ID: c8d9e0f1a2b3
Revises: b7c8d9e0f1a2
"""
from alembic import op

from app.models import statement_triggers

revision = "c8d9e0f1a2b3"
down_revision = "b7c8d9e0f1a2"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statement_triggers.row_triggers_drop() + statement_triggers.create_ddl():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statement_triggers.drop_ddl() + statement_triggers.row_triggers_create():
        op.execute(statement)
