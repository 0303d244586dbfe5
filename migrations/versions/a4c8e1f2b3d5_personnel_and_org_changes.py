"""personnel and org changes: title changes, transfers, identity corrections, org changes, org roles

Revision ID: a4c8e1f2b3d5
Revises: f3a9b1c5d7e2
"""
import sqlalchemy as sa
from alembic import op

revision = "a4c8e1f2b3d5"
down_revision = "f3a9b1c5d7e2"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")
PENDING_TRANSFER = sa.text("state IN ('pending_out', 'pending_in')")
PENDING_ORG_CHANGE = sa.text("state IN ('pending', 'pending_new', 'pending_old')")


def _decided():
    return [
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.now()),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("decided_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
    ]


def upgrade():
    op.create_table(
        "org_role",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("name", sa.String(30), nullable=False),
        sa.Column("modules_json", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_org_role_org", "org_role", ["org_id", "name"])
    with op.batch_alter_table("membership") as batch_op:
        batch_op.add_column(sa.Column("org_role_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_membership_org_role", "org_role", ["org_role_id"], ["id"])
    with op.batch_alter_table("org") as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("temporary_code", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_foreign_key("fk_org_merged_into", "org", ["merged_into_id"], ["id"])

    op.create_table(
        "title_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("before_json", sa.Text(), nullable=False),
        sa.Column("after_json", sa.Text(), nullable=False),
        *_decided(),
    )
    op.create_index("ix_title_change_unit_state_id", "title_change", ["unit_id", "state", "id"])
    op.create_index("ix_title_change_person", "title_change", ["person_id", "state"])
    op.create_index("uq_title_change_pending", "title_change", ["person_id"], unique=True,
                    sqlite_where=PENDING, postgresql_where=PENDING)

    op.create_table(
        "transfer",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("from_unit_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("to_unit_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("initiator", sa.String(10), nullable=False),
        sa.Column("started_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
        sa.Column("note", sa.String(200)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.now()),
        sa.Column("out_decided_at", sa.DateTime()),
        sa.Column("out_decided_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
        sa.Column("in_decided_at", sa.DateTime()),
        sa.Column("in_decided_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
    )
    op.create_index("ix_transfer_from_state_id", "transfer", ["from_unit_id", "state", "id"])
    op.create_index("ix_transfer_to_state_id", "transfer", ["to_unit_id", "state", "id"])
    op.create_index("ix_transfer_person", "transfer", ["person_id", "state"])
    op.create_index("uq_transfer_pending", "transfer", ["person_id"], unique=True,
                    sqlite_where=PENDING_TRANSFER, postgresql_where=PENDING_TRANSFER)

    op.create_table(
        "identity_correction",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("ab_user.id"), nullable=False),
        sa.Column("old_name", sa.String(30), nullable=False),
        sa.Column("old_id_number", sa.String(20), nullable=False),
        sa.Column("new_name", sa.String(30), nullable=False),
        sa.Column("new_id_number", sa.String(20), nullable=False),
        sa.Column("note", sa.String(200)),
        *_decided(),
    )
    op.create_index("ix_identity_correction_state_id", "identity_correction", ["state", "id"])
    op.create_index("uq_identity_correction_pending", "identity_correction", ["user_id"], unique=True,
                    sqlite_where=PENDING, postgresql_where=PENDING)

    op.create_table(
        "org_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("old_parent_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("new_parent_id", sa.Integer(), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("old_credit_code", sa.String(18)),
        sa.Column("new_credit_code", sa.String(18)),
        sa.Column("note", sa.String(200)),
        sa.Column("requested_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.now()),
        sa.Column("old_decided_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
        sa.Column("new_decided_by_id", sa.Integer(), sa.ForeignKey("ab_user.id")),
        sa.Column("decided_at", sa.DateTime()),
    )
    op.create_index("ix_org_change_old_parent", "org_change", ["old_parent_id", "state"])
    op.create_index("ix_org_change_new_parent", "org_change", ["new_parent_id", "state"])
    op.create_index("uq_org_change_pending", "org_change", ["org_id"], unique=True,
                    sqlite_where=PENDING_ORG_CHANGE, postgresql_where=PENDING_ORG_CHANGE)

    op.create_table(
        "change_attachment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_type", sa.String(30), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(120), nullable=False),
        sa.Column("stored_name", sa.String(80), nullable=False, unique=True),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_change_attachment_owner", "change_attachment", ["owner_type", "owner_id"])


def downgrade():
    for table in ("change_attachment", "org_change", "identity_correction", "transfer", "title_change"):
        op.drop_table(table)
    with op.batch_alter_table("org") as batch_op:
        batch_op.drop_constraint("fk_org_merged_into", type_="foreignkey")
        batch_op.drop_column("temporary_code")
        batch_op.drop_column("merged_into_id")
    with op.batch_alter_table("membership") as batch_op:
        batch_op.drop_constraint("fk_membership_org_role", type_="foreignkey")
        batch_op.drop_column("org_role_id")
    op.drop_table("org_role")
