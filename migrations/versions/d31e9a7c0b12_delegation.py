"""X9 delegation of review rights (issue 12): delegation; audit_log.on_behalf_of(_id)

Revision ID: d31e9a7c0b12
Revises: a12b0c0de001
Create Date: 2026-12-07 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd31e9a7c0b12'
down_revision = 'a12b0c0de001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('delegation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delegator_id', sa.Integer(), nullable=False),
    sa.Column('deputy_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['delegator_id'], ['membership.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['deputy_id'], ['membership.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_delegation_delegator', 'delegation', ['delegator_id', 'state', 'end_date'], unique=False)
    op.create_index('ix_delegation_deputy', 'delegation', ['deputy_id', 'state', 'end_date'], unique=False)
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.add_column(sa.Column('on_behalf_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('on_behalf_of', sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_log') as batch_op:
        batch_op.drop_column('on_behalf_of')
        batch_op.drop_column('on_behalf_of_id')
    op.drop_index('ix_delegation_deputy', table_name='delegation')
    op.drop_index('ix_delegation_delegator', table_name='delegation')
    op.drop_table('delegation')
