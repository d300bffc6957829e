"""idempotency records keep an error answer's Content-Language

Revision ID: 3f1c2b7d9e40
Revises: ca00d9b8278d
Create Date: 2026-12-01 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f1c2b7d9e40'
down_revision = 'ca00d9b8278d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_language', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_column('content_language')
