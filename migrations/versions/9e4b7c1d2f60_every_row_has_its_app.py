"""every row has its app: app_id on users, templates, subscriptions, events, messages, batches,
idempotency records, binding codes and device subscriptions, and in their unique keys

Existing rows are given the configured app (WX_APPID; in dev mode the emulator's). A database
with rows and several apps configured (WX_APPS_FILE) can't tell whose rows they are: the
upgrade stops and asks to be run once with the one app's WX_APPID and WX_SECRET instead.

Revision ID: 9e4b7c1d2f60
Revises: 6a3f9d2c1e57
Create Date: 2026-12-02 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app


# revision identifiers, used by Alembic.
revision = '9e4b7c1d2f60'
down_revision = '6a3f9d2c1e57'
branch_labels = None
depends_on = None

TABLES = (
    'users', 'templates', 'subscriptions', 'consent_events', 'messages', 'batches',
    'idempotency_records', 'binding_codes', 'device_subscriptions',
)


def _has_rows(conn) -> bool:
    return any(conn.execute(sa.text(f'SELECT 1 FROM {table} LIMIT 1')).first() for table in TABLES)


def _existing_rows_app(conn) -> str | None:
    """The appid existing rows belong to: the one configured app's. None when there are no rows."""
    if not _has_rows(conn):
        return None
    apps = [app.appid for app in current_app.extensions['apps']]
    if len(apps) != 1:
        raise RuntimeError(
            'This database holds rows from before several apps were served, and WX_APPS_FILE names '
            f'{len(apps)} apps: which one do they belong to? Run `flask --app wsgi db upgrade` once with '
            'WX_APPID and WX_SECRET of that app set instead of WX_APPS_FILE, then start with WX_APPS_FILE again.'
        )
    return apps[0]


def upgrade():
    conn = op.get_bind()
    appid = _existing_rows_app(conn)
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('app_id', sa.String(length=32), nullable=True))
        if appid is not None:
            conn.execute(sa.text(f'UPDATE {table} SET app_id = :appid'), {'appid': appid})
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('app_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint('uq_users_openid', type_='unique')
        batch_op.drop_constraint('uq_users_external_id', type_='unique')
        batch_op.create_unique_constraint('uq_users_app_openid', ['app_id', 'openid'])
        batch_op.create_unique_constraint('uq_users_app_external_id', ['app_id', 'external_id'])
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.alter_column('app_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint('pk_templates', type_='primary')
        batch_op.create_primary_key('pk_templates', ['app_id', 'id'])
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.alter_column('app_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint('uq_consent_events_dedupe_key', type_='unique')
        batch_op.create_unique_constraint('uq_consent_events_app_dedupe_key', ['app_id', 'dedupe_key'])
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.alter_column('app_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint('uq_idempotency_records_scope', type_='unique')
        batch_op.create_unique_constraint('uq_idempotency_records_app_scope_key', ['app_id', 'scope', 'key'])
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('app_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index('ix_messages_app_id', ['app_id'], unique=False)
    with op.batch_alter_table('device_subscriptions', schema=None) as batch_op:
        batch_op.alter_column('app_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_index('ix_device_subscriptions_device')
        batch_op.create_index(
            'ix_device_subscriptions_device', ['app_id', 'template_id', 'model_id', 'sn', 'status'], unique=False
        )
    for table in ('subscriptions', 'batches', 'binding_codes'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('app_id', existing_type=sa.String(length=32), nullable=False)


def downgrade():
    # Back to one app: only possible while the rows are of one app (the old keys must hold).
    with op.batch_alter_table('device_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_device_subscriptions_device')
        batch_op.create_index('ix_device_subscriptions_device', ['template_id', 'model_id', 'sn', 'status'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_app_id')
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_constraint('uq_idempotency_records_app_scope_key', type_='unique')
        batch_op.create_unique_constraint('uq_idempotency_records_scope', ['scope', 'key'])
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_consent_events_app_dedupe_key', type_='unique')
        batch_op.create_unique_constraint('uq_consent_events_dedupe_key', ['dedupe_key'])
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_constraint('pk_templates', type_='primary')
        batch_op.create_primary_key('pk_templates', ['id'])
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_app_external_id', type_='unique')
        batch_op.drop_constraint('uq_users_app_openid', type_='unique')
        batch_op.create_unique_constraint('uq_users_openid', ['openid'])
        batch_op.create_unique_constraint('uq_users_external_id', ['external_id'])
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('app_id')
