"""declaration queue filtered by the counted year: (state, year, id) index

Revision ID: e7f8a9b0c1d2
Revises: d5e6f7a8b9c0
"""
from alembic import op

revision = "e7f8a9b0c1d2"
down_revision = "d5e6f7a8b9c0"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("declaration") as batch_op:
        batch_op.create_index("ix_declaration_state_year_id", ["state", "year", "id"],
                              postgresql_include=["reviewer_org_id", "person_id"])


def downgrade():
    with op.batch_alter_table("declaration") as batch_op:
        batch_op.drop_index("ix_declaration_state_year_id")
