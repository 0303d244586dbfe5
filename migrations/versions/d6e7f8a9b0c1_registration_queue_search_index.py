"""registration queue filtered by kind or searched by name: both columns in the (state, id) index

The city bureau's queue filtered by an org kind, or searched by a name that matches little, read the 50,000
pending registrations of the city from the table to find 20; with the kind and the name in the index it is an
index-only scan.

Revision ID: d6e7f8a9b0c1
Revises: c4d5e6f7a8b9
"""
from alembic import op

revision = "d6e7f8a9b0c1"
down_revision = "c4d5e6f7a8b9"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("registration") as batch_op:
        batch_op.drop_index("ix_registration_state_id")
        batch_op.create_index("ix_registration_state_id", ["state", "id"],
                              postgresql_include=["reviewer_org_id", "kind", "applicant_name"])


def downgrade():
    with op.batch_alter_table("registration") as batch_op:
        batch_op.drop_index("ix_registration_state_id")
        batch_op.create_index("ix_registration_state_id", ["state", "id"], postgresql_include=["reviewer_org_id"])
