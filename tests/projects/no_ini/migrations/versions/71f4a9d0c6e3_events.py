"""events

Revision ID: 71f4a9d0c6e3
Revises: e05b7c3a91d2
Create Date: 2024-02-05 17:02:44.925118

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '71f4a9d0c6e3'
down_revision = 'e05b7c3a91d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_events_starts_at'), 'events', ['starts_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_events_starts_at'), table_name='events')
    op.drop_table('events')
