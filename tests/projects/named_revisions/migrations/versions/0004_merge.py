"""merge 0003_a and 0003_b

Revision ID: 0004_merge
Revises: 0003_a, 0003_b
Create Date: 2024-02-05 08:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004_merge'
down_revision: Union[str, Sequence[str], None] = ('0003_a', '0003_b')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
