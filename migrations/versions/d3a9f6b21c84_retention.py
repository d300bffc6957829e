"""retention: messages.data_purged_at, indexes for its batches, retention_counts

Retention (backend/ops/retention.py) empties the values of old messages and deletes old consent
events, webhook events and idempotency records in batches; the indexes find where the old rows
end and the last grant of each (user, template), `data_purged_at` says which messages were
emptied, `retention_counts` what was purged.

Revision ID: d3a9f6b21c84
Revises: c7e5a1d93b20
Create Date: 2026-12-08 04:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3a9f6b21c84'
down_revision = 'c7e5a1d93b20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_purged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_messages_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index('ix_consent_events_pair', ['user_id', 'template_id', 'id'], unique=False)
    op.create_table(
        'retention_counts',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('purged', sa.BigInteger(), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_retention_counts')),
    )


def downgrade():
    op.drop_table('retention_counts')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_events_pair')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_created_at')
        batch_op.drop_column('data_purged_at')
