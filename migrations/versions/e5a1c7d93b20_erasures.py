"""erasures: tombstones of erased people, and users.erased_at

An erased user's row stays (anonymous) so that messages and consent events keep counting;
`erased_at` marks it (sends and reads by user_id answer 410). The tombstone keeps a keyed hash
of (app, openid) only. Chained after the current head; the merger re-chains heads.

Revision ID: e5a1c7d93b20
Revises: d7e3a9c5b108
Create Date: 2026-12-08 03:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a1c7d93b20'
down_revision = 'd7e3a9c5b108'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'erasures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.String(length=32), nullable=False),
        sa.Column('subject_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_erasures_subject_hash', 'erasures', ['subject_hash'])
    op.create_index('ix_erasures_user_id', 'erasures', ['user_id'])


def downgrade():
    op.drop_index('ix_erasures_user_id', table_name='erasures')
    op.drop_index('ix_erasures_subject_hash', table_name='erasures')
    op.drop_table('erasures')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('erased_at')
