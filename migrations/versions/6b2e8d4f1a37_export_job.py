"""export_job: exports too big for a web request, written by the task queue's worker (导出记录)

Revision ID: 6b2e8d4f1a37
Revises: 2d95c56f6cfd
"""
import sqlalchemy as sa
from alembic import op

revision = "6b2e8d4f1a37"
down_revision = "2d95c56f6cfd"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "export_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("membership_id", sa.Integer(), nullable=False),
        sa.Column("delegation_id", sa.Integer(), nullable=True),
        sa.Column("auth_at", sa.Float(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("stored_name", sa.String(length=80), nullable=True),
        sa.Column("file_name", sa.String(length=250), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["membership_id"], ["membership.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["ab_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_export_job_membership_id", "export_job", ["membership_id", "id"])


def downgrade():
    op.drop_index("ix_export_job_membership_id", table_name="export_job")
    op.drop_table("export_job")
