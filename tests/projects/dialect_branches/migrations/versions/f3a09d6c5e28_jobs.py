"""jobs: JSONB payload and a partial index on PostgreSQL, portable fallbacks elsewhere

Revision ID: f3a09d6c5e28
Revises: b8e2f47c0a15
Create Date: 2024-04-10 16:09:58.241736

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision: str = 'f3a09d6c5e28'
down_revision: Union[str, Sequence[str], None] = 'b8e2f47c0a15'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    is_postgres = op.get_bind().dialect.name == "postgresql"

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('payload', postgresql.JSONB() if is_postgres else sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )

    if is_postgres:
        op.create_index(
            'ix_jobs_pending_created_at', 'jobs', ['created_at'],
            postgresql_where=sa.text("status = 'pending'"),
        )
    else:
        op.create_index('ix_jobs_pending_created_at', 'jobs', ['created_at'])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_jobs_pending_created_at', table_name='jobs')
    op.drop_table('jobs')
