"""REST API refresh tokens (issue 12): api_refresh_token

Revision ID: a12b0c0de001
Revises: cff93e60aad0
Create Date: 2026-12-07 00:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'a12b0c0de001'
down_revision = 'cff93e60aad0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_refresh_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('auth_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['membership_id'], ['membership.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_api_refresh_token_user_id', 'api_refresh_token', ['user_id'], unique=False)


def downgrade():
    op.drop_index('ix_api_refresh_token_user_id', table_name='api_refresh_token')
    op.drop_table('api_refresh_token')
