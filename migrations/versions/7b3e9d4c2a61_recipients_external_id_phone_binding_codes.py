"""recipients: users.external_id, users.phone_e164 (backfilled), binding codes

Revision ID: 7b3e9d4c2a61
Revises: 5d2c8e1f0a9b
Create Date: 2026-12-02 02:00:00.000000

"""
from alembic import op
import phonenumbers
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b3e9d4c2a61'
down_revision = '5d2c8e1f0a9b'
branch_labels = None
depends_on = None


def _e164(phone_number, country_code):
    """The stored number in E.164, as backend/phones.py wrote it when this revision was made."""
    if not phone_number:
        return None
    text = phone_number
    if country_code and not text.lstrip().startswith('+'):
        text = f"+{country_code.strip().lstrip('+')} {text}"
    try:
        number = phonenumbers.parse(text, 'CN')
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('phone_e164', sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_users_phone_e164'), ['phone_e164'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_external_id'), ['external_id'])

    users = sa.table(
        'users',
        sa.column('id', sa.Integer),
        sa.column('phone_number', sa.String),
        sa.column('country_code', sa.String),
        sa.column('phone_e164', sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(users.c.id, users.c.phone_number, users.c.country_code).where(users.c.phone_number.is_not(None))
    ).all()
    updates = [{'uid': row.id, 'e164': _e164(row.phone_number, row.country_code)} for row in rows]
    updates = [update for update in updates if update['e164']]
    if updates:
        conn.execute(
            users.update().where(users.c.id == sa.bindparam('uid')).values(phone_e164=sa.bindparam('e164')), updates
        )

    op.create_table('binding_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('redeemed_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['redeemed_by'], ['users.id'], name=op.f('fk_binding_codes_redeemed_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_binding_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_binding_codes_code_hash'))
    )
    with op.batch_alter_table('binding_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_binding_codes_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('binding_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_binding_codes_expires_at'))
    op.drop_table('binding_codes')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_external_id'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_users_phone_e164'))
        batch_op.drop_column('phone_e164')
        batch_op.drop_column('external_id')
