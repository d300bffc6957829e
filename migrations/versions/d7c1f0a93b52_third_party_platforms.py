"""third-party platforms: the last ticket, authorized merchant apps (sealed refresh tokens), per-app keys

A platform's refresh tokens must survive any restart (losing them forces every merchant to
authorize again), so they live here, sealed with DATA_KEY; the ticket too, since it lives 12
hours and a deploy must not lose it. Business keys for one app are stored as hashes.

Revision ID: d7c1f0a93b52
Revises: d3a9f6b21c84
Create Date: 2026-12-08 03:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7c1f0a93b52'
down_revision = 'd3a9f6b21c84'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'component_tickets',
        sa.Column('component_appid', sa.String(length=32), nullable=False),
        sa.Column('ticket', sa.String(length=512), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('bad_since', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('component_appid'),
    )
    op.create_table(
        'authorized_apps',
        sa.Column('appid', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('func_ids', sa.JSON(), nullable=False),
        sa.Column('refresh_token', sa.Text(), nullable=True),
        sa.Column('refresh_token_lost_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recovered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('authorized_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('unauthorized_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('users_erased_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('appid'),
    )
    op.create_table(
        'business_keys',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash'),
    )
    op.create_index('ix_business_keys_app_id', 'business_keys', ['app_id'])


def downgrade():
    op.drop_index('ix_business_keys_app_id', table_name='business_keys')
    op.drop_table('business_keys')
    op.drop_table('authorized_apps')
    op.drop_table('component_tickets')
