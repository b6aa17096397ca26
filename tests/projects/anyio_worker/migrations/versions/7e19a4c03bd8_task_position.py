"""task position

Revision ID: 7e19a4c03bd8
Revises: 0b5d2e8f4c61
Create Date: 2024-09-23 17:48:05.902114

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '7e19a4c03bd8'
down_revision: Union[str, Sequence[str], None] = '0b5d2e8f4c61'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # SQLite cannot add a constraint with ALTER TABLE: batch mode copies the table there.
    with op.batch_alter_table('tasks') as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_unique_constraint('uq_tasks_project_position', ['project_id', 'position'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('tasks') as batch_op:
        batch_op.drop_constraint('uq_tasks_project_position', type_='unique')
        batch_op.drop_column('position')
