"""sn_tickets: one device ticket per (app, model_id, sn) shared by every process, with a fetch lease

Without Redis each process kept its own tickets, so every gunicorn worker (and every thread
of one arriving at once) called getsnticket for the same device. Chained after the current
head; another branch may add device bindings: the chain is fixed at merge.

Revision ID: b4d8e2f61a73
Revises: 7a4e2c9d1b65
Create Date: 2026-12-08 02:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4d8e2f61a73'
down_revision = '7a4e2c9d1b65'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sn_tickets',
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('model_id', sa.String(length=128), nullable=False),
        sa.Column('sn', sa.String(length=128), nullable=False),
        sa.Column('ticket', sa.String(length=512), nullable=True),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('lease_owner', sa.String(length=64), nullable=True),
        sa.Column('lease_until', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('app_id', 'model_id', 'sn'),
    )


def downgrade():
    op.drop_table('sn_tickets')
