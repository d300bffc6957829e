"""Consent that converts: held messages, standing settings, WeChat's send quota

Held sends (`if_no_credit: "wait"`) are `messages` rows with a `wait_until`, released with a
credit already spent (`credit_reserved`); two partial indexes hold only the held rows, so the
report path and the due-scan ask about them without touching the others. The user's standing
settings from wx.getSetting: `users.main_switch` and `standing_settings` per template. The
quota of subscribe/send per app, shared by every process: `api_quotas`. Chained after the
current head; the chain is fixed at merge.

Revision ID: c7e3a9f1d284
Revises: e5a1c7d93b20
Create Date: 2026-12-08 03:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7e3a9f1d284'
down_revision = "e5a1c7d93b20"
branch_labels = None
depends_on = None

HELD = "status = 'awaiting_consent'"


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wait_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('credit_reserved', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index(
        'ix_messages_held',
        'messages',
        ['app_id', 'user_id', 'template_id', 'id'],
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )
    op.create_index(
        'ix_messages_held_until',
        'messages',
        ['wait_until'],
        postgresql_where=sa.text(HELD),
        sqlite_where=sa.text(HELD),
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('main_switch', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('settings_seen_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'standing_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('template_id', sa.String(length=64), nullable=False),
        sa.Column('setting', sa.String(length=32), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'template_id'),
    )
    op.create_table(
        'api_quotas',
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('daily_limit', sa.BigInteger(), nullable=True),
        sa.Column('used', sa.BigInteger(), nullable=True),
        sa.Column('remain', sa.BigInteger(), nullable=True),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('app_id'),
    )


def downgrade():
    op.drop_table('api_quotas')
    op.drop_table('standing_settings')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('settings_seen_at')
        batch_op.drop_column('main_switch')
    op.drop_index('ix_messages_held_until', table_name='messages')
    op.drop_index('ix_messages_held', table_name='messages')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('credit_reserved')
        batch_op.drop_column('wait_until')
