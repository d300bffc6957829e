"""personal data at rest: phone numbers and session keys sealed, users.phone_hash for look-ups

Every stored phone number (`phone_number`, `pure_phone_number`) and `session_key` is sealed with
the configured data key (AES-GCM, backend/infra/data_keys.py), and `phone_e164` (the number in
clear) gives way to `phone_hash`, its keyed hash. The key is the app's: the migration runs inside
the Flask app (`flask db upgrade`, or the upgrade at start-up), so `current_app.config` holds the
`DATA_KEY` the app will read with. Rows are done 1,000 at a time; a value already sealed (a run
interrupted half-way, then run again) is left as it is.

Revision ID: c7e5a1d93b20
Revises: c7e3a9f1d284
Create Date: 2026-12-08 03:40:00.000000

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

from backend.infra.data_keys import DataKeys
from backend.users.phones import to_e164


# revision identifiers, used by Alembic.
revision = 'c7e5a1d93b20'
down_revision = 'c7e3a9f1d284'
branch_labels = None
depends_on = None

BATCH = 1000
SEALED = ('phone_number', 'pure_phone_number', 'session_key')
users = sa.table(
    'users',
    sa.column('id', sa.Integer),
    sa.column('phone_number', sa.String),
    sa.column('pure_phone_number', sa.String),
    sa.column('session_key', sa.String),
    sa.column('country_code', sa.String),
    sa.column('phone_e164', sa.String),
    sa.column('phone_hash', sa.String),
)


def _is_sealed(value):
    return value.startswith('v1.') and value.count('.') >= 2


def _rewrite(conn, read, convert, written):
    """Each users row, BATCH at a time by id: the columns `read` given to `convert`, which answers
    the values of the columns `written`."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(users.c.id, *(users.c[name] for name in read))
            .where(users.c.id > last)
            .order_by(users.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = [{'uid': row.id, **{f'v_{name}': value for name, value in convert(row).items()}} for row in rows]
        conn.execute(
            users.update()
            .where(users.c.id == sa.bindparam('uid'))
            .values(**{name: sa.bindparam(f'v_{name}') for name in written}),
            updates,
        )
        last = rows[-1].id


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        for name in SEALED:
            batch_op.alter_column(name, type_=sa.String(length=255), existing_nullable=True)
        batch_op.add_column(sa.Column('phone_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_phone_hash'), ['phone_hash'], unique=False)

    keys = DataKeys.from_config(current_app.config)

    def sealed(row):
        values = {name: keys.seal(value) if value and not _is_sealed(value) else value
                  for name, value in ((name, getattr(row, name)) for name in SEALED)}
        return {**values, 'phone_hash': keys.lookup_hash(row.phone_e164) if row.phone_e164 else None}

    _rewrite(op.get_bind(), (*SEALED, 'phone_e164'), sealed, (*SEALED, 'phone_hash'))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone_e164'))
        batch_op.drop_column('phone_e164')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_e164', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_phone_e164'), ['phone_e164'], unique=False)

    keys = DataKeys.from_config(current_app.config)

    def opened(row):
        values = {name: keys.open(value) if value and _is_sealed(value) else value
                  for name, value in ((name, getattr(row, name)) for name in SEALED)}
        return {**values, 'phone_e164': to_e164(values['phone_number'], row.country_code)}

    _rewrite(op.get_bind(), (*SEALED, 'country_code'), opened, (*SEALED, 'phone_e164'))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_phone_hash'))
        batch_op.drop_column('phone_hash')
        batch_op.alter_column('phone_number', type_=sa.String(length=32), existing_nullable=True)
        batch_op.alter_column('pure_phone_number', type_=sa.String(length=32), existing_nullable=True)
        batch_op.alter_column('session_key', type_=sa.String(length=64), existing_nullable=True)
