"""The function of an index expression names its schema: staff_qualifications runs with a fixed search_path

ix_person_staff_qualifications indexes staff_qualifications(vocational_qualifications), which calls
staff_tally_items without a schema. pg_restore (and pg_dump's plain scripts) build indexes with an empty
search_path, so a restore of a backup failed at that index ("function staff_tally_items(unknown, unknown, text) does
not exist"); PostgreSQL 17 runs VACUUM, ANALYZE and REINDEX with a restricted search_path too. The function now
carries the search_path it was made under (the platform's schema), as PostgreSQL advises for functions used in
indexes. Nothing changes in its results (no reindex). PostgreSQL only; nothing to do on SQLite.

Revision ID: 2d95c56f6cfd
Revises: 9f3e5a7c1b24
"""
from alembic import op

revision = "2d95c56f6cfd"
down_revision = "9f3e5a7c1b24"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION staff_qualifications(text) SET search_path FROM CURRENT")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION staff_qualifications(text) RESET search_path")
