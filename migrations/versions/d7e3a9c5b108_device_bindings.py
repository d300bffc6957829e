"""device_bindings and device_binding_codes: the people who may follow a device

Anyone logged in could get any device's sn_ticket, subscribe to it and then receive its
messages, and forged device reports were stored. A device binding ties (app, model_id, sn)
to the users business code says may follow it, and keeps when the backend last handed each
of them the device's ticket; device binding codes let the mini program bind its user.

Revision ID: d7e3a9c5b108
Revises: b4d8e2f61a73
Create Date: 2026-12-08 03:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7e3a9c5b108'
down_revision = 'b4d8e2f61a73'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'device_bindings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('model_id', sa.String(length=128), nullable=False),
        sa.Column('sn', sa.String(length=128), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ticket_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_device_bindings_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_device_bindings')),
        sa.UniqueConstraint('app_id', 'model_id', 'sn', 'user_id', name=op.f('uq_device_bindings_app_id')),
    )
    with op.batch_alter_table('device_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_bindings_user_id'), ['user_id'], unique=False)
    op.create_table(
        'device_binding_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('model_id', sa.String(length=128), nullable=False),
        sa.Column('sn', sa.String(length=128), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('redeemed_by', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['redeemed_by'], ['users.id'], name=op.f('fk_device_binding_codes_redeemed_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_device_binding_codes')),
        sa.UniqueConstraint('code_hash', name=op.f('uq_device_binding_codes_code_hash')),
    )
    with op.batch_alter_table('device_binding_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_binding_codes_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('device_binding_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_binding_codes_expires_at'))
    op.drop_table('device_binding_codes')
    with op.batch_alter_table('device_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_bindings_user_id'))
    op.drop_table('device_bindings')
