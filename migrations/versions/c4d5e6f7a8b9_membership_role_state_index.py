"""membership (role, state) index: the system administrator's active memberships per role, each count capped

Revision ID: c4d5e6f7a8b9
Revises: b2c3d4e5f6a8
"""
from alembic import op

revision = "c4d5e6f7a8b9"
down_revision = "b2c3d4e5f6a8"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_membership_role_state", "membership", ["role", "state"])


def downgrade():
    op.drop_index("ix_membership_role_state", table_name="membership")
