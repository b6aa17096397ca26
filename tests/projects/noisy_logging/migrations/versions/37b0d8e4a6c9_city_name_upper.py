"""city name_upper, backfilled

Revision ID: 37b0d8e4a6c9
Revises: e9a3f5c1d702
Create Date: 2024-06-24 15:12:48.990126

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '37b0d8e4a6c9'
down_revision: Union[str, Sequence[str], None] = 'e9a3f5c1d702'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('cities', sa.Column('name_upper', sa.String(length=100), nullable=True))
    cities = sa.table('cities', sa.column('id'), sa.column('name'), sa.column('name_upper'))
    rows = op.get_bind().execute(sa.select(cities.c.id, cities.c.name)).all()
    for n, (city_id, name) in enumerate(rows, 1):
        op.execute(cities.update().where(cities.c.id == city_id).values(name_upper=name.upper()))
        print(f"  backfill name_upper: {n}/{len(rows)}")
    print(f"backfilled {len(rows)} cities")


def downgrade() -> None:
    op.drop_column('cities', 'name_upper')
