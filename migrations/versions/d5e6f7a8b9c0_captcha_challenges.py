"""captcha challenges kept on the server (single use, shared by every worker)

Revision ID: d5e6f7a8b9c0
Revises: a4c8e1f2b3d5
"""
import sqlalchemy as sa
from alembic import op

revision = "d5e6f7a8b9c0"
down_revision = "a4c8e1f2b3d5"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "captcha_challenge",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_captcha_challenge_created_at", "captcha_challenge", ["created_at"])


def downgrade():
    op.drop_index("ix_captcha_challenge_created_at", table_name="captcha_challenge")
    op.drop_table("captcha_challenge")
