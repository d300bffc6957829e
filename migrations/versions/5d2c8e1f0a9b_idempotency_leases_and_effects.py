"""idempotency records: a lease (locked_until) and the effect written with it

Revision ID: 5d2c8e1f0a9b
Revises: 5e1d0c7a9b43
Create Date: 2026-12-01 20:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d2c8e1f0a9b'
down_revision = '5e1d0c7a9b43'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('effect', sa.JSON(), nullable=True))
    # A key left "in progress" by a process that died before this upgrade is released at once.
    op.execute("UPDATE idempotency_records SET locked_until = created_at")
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.alter_column('locked_until', existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_column('effect')
        batch_op.drop_column('locked_until')
