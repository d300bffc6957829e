"""push queries: a plaintext-mode push's signed query bound to one body

Revision ID: 5d1c7e2a9b40
Revises: 3f1c2b7d9e40
Create Date: 2026-12-01 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d1c7e2a9b40'
down_revision = '3f1c2b7d9e40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('push_queries',
    sa.Column('query_hash', sa.String(length=64), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('query_hash', name=op.f('pk_push_queries'))
    )
    with op.batch_alter_table('push_queries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_queries_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('push_queries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_queries_expires_at'))

    op.drop_table('push_queries')
