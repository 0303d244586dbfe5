"""completion rollup: per unit and per subtree the staff headcount, and per year who took part and who passed

The completion statistics (完成情况统计) of the city joined its 850,000 staff with their year summaries on every
page (1.4 s). The rollup holds the same figures per unit (completion_unit, completion_rollup: the unit's own
people) and per org for its whole subtree (completion_org, completion_org_year), kept by triggers on year_summary,
person and org, and on the units' rows, in the same transaction as the write; `completion_standard` holds the
standard that applies to each region from each year on, kept by the application after every flush that writes a
standard or a region (app/models/rollup.py). The migration builds the five tables from the existing data, then
adds the subtree triggers (so that the backfill is set-based).

Revision ID: 5e1f0c2d3b4a
Revises: f1a2b3c4d5e6
"""
import sqlalchemy as sa
from alembic import op

from app.models import rollup

revision = "5e1f0c2d3b4a"
down_revision = "f1a2b3c4d5e6"
branch_labels = None
depends_on = None

HOURS = sa.Numeric(7, 1)


def upgrade():
    op.create_table("completion_unit",
                    sa.Column("unit_id", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("headcount", sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint("unit_id"))
    op.create_table("completion_rollup",
                    sa.Column("unit_id", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("counted", sa.Integer(), nullable=False),
                    sa.Column("took_part", sa.Integer(), nullable=False),
                    sa.Column("passed", sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint("unit_id", "year"))
    op.create_table("completion_standard",
                    sa.Column("region_key", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
                    sa.Column("public_min", HOURS, nullable=False),
                    sa.Column("professional_min", HOURS, nullable=False),
                    sa.Column("total_min", HOURS, nullable=False),
                    sa.PrimaryKeyConstraint("region_key", "year"))
    for table, key in (("completion_org", ["org_id"]), ("completion_org_year", ["org_id", "year"])):
        op.create_table(table,
                        sa.Column("org_id", sa.Integer(), autoincrement=False, nullable=False),
                        *([sa.Column("year", sa.Integer(), autoincrement=False, nullable=False)] if "year" in key
                          else []),
                        *[sa.Column(name, sa.Integer(), nullable=False)
                          for name in (("counted", "took_part", "passed") if "year" in key else ("headcount",))],
                        sa.PrimaryKeyConstraint(*key))
    units, tree, _drop = rollup.trigger_ddl(op.get_bind().dialect.name)
    for statement in units:
        op.execute(sa.text(statement))
    rollup.rebuild(op.get_bind())
    for statement in tree:
        op.execute(sa.text(statement))


def downgrade():
    *_create, drop = rollup.trigger_ddl(op.get_bind().dialect.name)
    for statement in drop:
        op.execute(sa.text(statement))
    op.drop_table("completion_org_year")
    op.drop_table("completion_org")
    op.drop_table("completion_standard")
    op.drop_table("completion_rollup")
    op.drop_table("completion_unit")
