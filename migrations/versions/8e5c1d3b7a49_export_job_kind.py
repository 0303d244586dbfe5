"""export_job.kind: a list's .xlsx or a batch of certificates (.zip of PDFs)

Revision ID: 8e5c1d3b7a49
Revises: 7c3f9a2e5b18
"""
import sqlalchemy as sa
from alembic import op

revision = "8e5c1d3b7a49"
down_revision = "7c3f9a2e5b18"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("export_job") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=10), nullable=False, server_default="xlsx"))


def downgrade():
    with op.batch_alter_table("export_job") as batch:
        batch.drop_column("kind")
