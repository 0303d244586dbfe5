"""declaration queue searched by title or filtered by subject: both columns in the (state, id) index

The city bureau's queue searched by a title that matches little read the 50,000 pending rows of the city from the
table to find 20; with the title and the subject in the index the search is an index-only scan.

Revision ID: b2c3d4e5f6a8
Revises: a1b2c3d4e5f7
"""
from alembic import op

revision = "b2c3d4e5f6a8"
down_revision = "a1b2c3d4e5f7"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("declaration") as batch_op:
        batch_op.drop_index("ix_declaration_state_id")
        batch_op.create_index("ix_declaration_state_id", ["state", "id"],
                              postgresql_include=["reviewer_org_id", "person_id", "subject", "title"])


def downgrade():
    with op.batch_alter_table("declaration") as batch_op:
        batch_op.drop_index("ix_declaration_state_id")
        batch_op.create_index("ix_declaration_state_id", ["state", "id"],
                              postgresql_include=["reviewer_org_id", "person_id"])
