"""declaration queue indexes: index-only pending counts and queue pages at every scope

Revision ID: f3a9b1c5d7e2
Revises: e2e28e4da0b7
"""
from alembic import op

revision = "f3a9b1c5d7e2"
down_revision = "e2e28e4da0b7"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("declaration") as batch_op:
        batch_op.create_index("ix_declaration_state_id", ["state", "id"],
                              postgresql_include=["reviewer_org_id", "person_id"])
        batch_op.drop_index("ix_declaration_reviewer_state_id")
        batch_op.create_index("ix_declaration_reviewer_state_id", ["reviewer_org_id", "state", "id"],
                              postgresql_include=["person_id"])


def downgrade():
    with op.batch_alter_table("declaration") as batch_op:
        batch_op.drop_index("ix_declaration_reviewer_state_id")
        batch_op.create_index("ix_declaration_reviewer_state_id", ["reviewer_org_id", "state", "id"])
        batch_op.drop_index("ix_declaration_state_id")
