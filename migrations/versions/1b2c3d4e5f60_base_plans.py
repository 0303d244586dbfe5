"""base plans and annual reports (issue 11, B1): base_filing

Revision ID: 1b2c3d4e5f60
Revises: 0a1e2a3b4c5d
Create Date: 2026-12-06 23:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1b2c3d4e5f60'
down_revision = '0a1e2a3b4c5d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('base_filing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('base_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('classes', sa.Integer(), nullable=False),
    sa.Column('trainees', sa.Integer(), nullable=False),
    sa.Column('hours', sa.Numeric(precision=7, scale=1), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=120), nullable=True),
    sa.Column('stored_name', sa.String(length=80), nullable=True),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('file_size', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['base_id'], ['org.id'], ),
    sa.ForeignKeyConstraint(['reviewer_org_id'], ['org.id'], ),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['decided_by_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('base_filing', schema=None) as batch_op:
        batch_op.create_index('ix_base_filing_reviewer_state_id', ['reviewer_org_id', 'state', 'id'], unique=False)
        batch_op.create_index('ix_base_filing_base_year', ['base_id', 'year', 'id'], unique=False)
        batch_op.create_index('uq_base_filing_live', ['base_id', 'kind', 'year'], unique=True,
                              sqlite_where=sa.text("state <> 'rejected'"),
                              postgresql_where=sa.text("state <> 'rejected'"))


def downgrade():
    with op.batch_alter_table('base_filing', schema=None) as batch_op:
        batch_op.drop_index('uq_base_filing_live')
        batch_op.drop_index('ix_base_filing_base_year')
        batch_op.drop_index('ix_base_filing_reviewer_state_id')
    op.drop_table('base_filing')
