"""send leases (one send per openid in flight) and templates.banned_at (43107)

Revision ID: 5e1d0c7a9b43
Revises: 5d1c7e2a9b40
Create Date: 2026-12-01 20:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e1d0c7a9b43'
down_revision = '5d1c7e2a9b40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('send_leases',
    sa.Column('appid', sa.String(length=32), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('appid', 'openid', name=op.f('pk_send_leases'))
    )
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('banned_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('templates', schema=None) as batch_op:
        batch_op.drop_column('banned_at')
    op.drop_table('send_leases')
