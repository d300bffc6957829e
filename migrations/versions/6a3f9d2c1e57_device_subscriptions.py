"""device subscriptions, and device messages in the outbox (messages.model_id, messages.sn)

Revision ID: 6a3f9d2c1e57
Revises: 8c4f1a2b3d5e
Create Date: 2026-12-02 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6a3f9d2c1e57'
down_revision = '8c4f1a2b3d5e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('device_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('model_id', sa.String(length=128), nullable=False),
    sa.Column('sn', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('audio', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_device_subscriptions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_subscriptions')),
    sa.UniqueConstraint('user_id', 'template_id', 'model_id', 'sn', name=op.f('uq_device_subscriptions_user_id')),
    )
    with op.batch_alter_table('device_subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_device_subscriptions_device', ['template_id', 'model_id', 'sn', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_subscriptions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('sn', sa.String(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('sn')
        batch_op.drop_column('model_id')
    with op.batch_alter_table('device_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_subscriptions_user_id'))
        batch_op.drop_index('ix_device_subscriptions_device')
    op.drop_table('device_subscriptions')
