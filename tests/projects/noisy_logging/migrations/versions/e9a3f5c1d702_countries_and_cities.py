"""countries and cities

Revision ID: e9a3f5c1d702
Revises: 
Create Date: 2024-05-13 11:31:04.552871

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'e9a3f5c1d702'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    print("creating countries and cities")
    op.create_table('countries',
    sa.Column('code', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('cities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country_code', sa.String(length=2), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['country_code'], ['countries.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(sa.table('countries', sa.column('code'), sa.column('name')),
                   [{'code': 'FR', 'name': 'France'}, {'code': 'JP', 'name': 'Japan'}])
    op.bulk_insert(sa.table('cities', sa.column('country_code'), sa.column('name'), sa.column('population')),
                   [{'country_code': 'FR', 'name': 'Lyon', 'population': 522000},
                    {'country_code': 'JP', 'name': 'Sapporo', 'population': 1973000}])
    print("done: 2 countries, 2 cities")


def downgrade() -> None:
    op.drop_table('cities')
    op.drop_table('countries')
