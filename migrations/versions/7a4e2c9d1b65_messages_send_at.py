"""messages: send_at for scheduled sends, indexed with status for the due-scanner

Revision ID: 7a4e2c9d1b65
Revises: 9e4b7c1d2f60
Create Date: 2026-12-02 02:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7a4e2c9d1b65'
down_revision = '9e4b7c1d2f60'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_messages_status_send_at', ['status', 'send_at'], unique=False)


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_status_send_at')
        batch_op.drop_column('send_at')
