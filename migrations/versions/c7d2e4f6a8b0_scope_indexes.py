"""scope indexes: org.path usable for prefix LIKE under any collation; covering pending-count index

Revision ID: c7d2e4f6a8b0
Revises: b1f3c2a7d901
"""
from alembic import op

revision = "c7d2e4f6a8b0"
down_revision = "b1f3c2a7d901"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("org") as batch_op:
        batch_op.drop_index("ix_org_path")
        batch_op.create_index("ix_org_path", ["path"], postgresql_ops={"path": "varchar_pattern_ops"})
    with op.batch_alter_table("registration") as batch_op:
        batch_op.drop_index("ix_registration_state_id")
        batch_op.create_index("ix_registration_state_id", ["state", "id"], postgresql_include=["reviewer_org_id"])


def downgrade():
    with op.batch_alter_table("registration") as batch_op:
        batch_op.drop_index("ix_registration_state_id")
        batch_op.create_index("ix_registration_state_id", ["state", "id"])
    with op.batch_alter_table("org") as batch_op:
        batch_op.drop_index("ix_org_path")
        batch_op.create_index("ix_org_path", ["path"])
