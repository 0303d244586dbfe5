"""notifications (X2) and review reminders (X3): notification, notification_pref, review_wait, reminder_setting,
completion_reminder

Revision ID: cff93e60aad0
Revises: 1b2c3d4e5f60
Create Date: 2026-12-06 23:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'cff93e60aad0'
down_revision = '1b2c3d4e5f60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=True),
    sa.Column('object_type', sa.String(length=40), nullable=True),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.Column('email_to', sa.String(length=256), nullable=True),
    sa.Column('email_state', sa.String(length=10), nullable=False),
    sa.Column('email_attempts', sa.Integer(), nullable=False),
    sa.Column('email_sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'event', name='uq_notification_user_event')
    )
    op.create_index('ix_notification_user_read_id', 'notification', ['user_id', 'read_at', 'id'], unique=False)
    op.create_index('ix_notification_email_pending', 'notification', ['id'], unique=False,
                    postgresql_where=sa.text("email_state = 'pending'"),
                    sqlite_where=sa.text("email_state = 'pending'"))
    op.create_table('notification_pref',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('email_on', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('review_wait',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('view_name', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=True),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('escalated_at', sa.DateTime(), nullable=True),
    sa.Column('escalated_to_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['org.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['escalated_to_id'], ['org.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('object_type', 'object_id', 'org_id', name='uq_review_wait_item_org')
    )
    op.create_index('ix_review_wait_since', 'review_wait', ['since'], unique=False)
    op.create_table('reminder_setting',
    sa.Column('org_kind', sa.String(length=20), nullable=False),
    sa.Column('remind_days', sa.Integer(), nullable=True),
    sa.Column('escalate_days', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('org_kind')
    )
    op.create_table('completion_reminder',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('remind_on', sa.Date(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('year')
    )


def downgrade():
    op.drop_table('completion_reminder')
    op.drop_table('reminder_setting')
    op.drop_index('ix_review_wait_since', table_name='review_wait')
    op.drop_table('review_wait')
    op.drop_table('notification_pref')
    op.drop_index('ix_notification_email_pending', table_name='notification')
    op.drop_index('ix_notification_user_read_id', table_name='notification')
    op.drop_table('notification')
