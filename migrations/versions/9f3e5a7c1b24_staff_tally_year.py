"""staff_tally_year, staff_tally_snapshot: yearly snapshots of the staff tally (年度统计快照)

The distribution pages (机构人员统计, 职称, 行业, 职(执)业资格) filtered by year: memberships keep no history, so the
staff of a past year cannot be counted again. Once a year (1 January, for the year just ended; or
`flask stats-snapshot --year Y`) the tally is copied into staff_tally_year with the org counts of the orgs page
and the industry figures, and staff_tally_snapshot records that the year was taken and when. Nothing to backfill:
a year has a snapshot only once one is taken.

Revision ID: 9f3e5a7c1b24
Revises: d31e9a7c0b12
"""
import sqlalchemy as sa
from alembic import op

revision = "9f3e5a7c1b24"
down_revision = "d31e9a7c0b12"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_tally_year",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("dim", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("value2", sa.String(length=30), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", "org_id", "dim", "value", "value2"),
    )
    op.create_table(
        "staff_tally_snapshot",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )


def downgrade():
    op.drop_table("staff_tally_snapshot")
    op.drop_table("staff_tally_year")
