"""customer phone, index invoices.issued_on

First revision after adopting Alembic: the tables of release 1.x (legacyapp.baseline,
made by create_all) already exist.

Revision ID: a3c5e7f90b12
Revises: 
Create Date: 2022-09-14 10:03:51.004127

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = 'a3c5e7f90b12'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column('customers', sa.Column('phone', sa.String(length=30), nullable=True))
    op.create_index(op.f('ix_invoices_issued_on'), 'invoices', ['issued_on'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_invoices_issued_on'), table_name='invoices')
    op.drop_column('customers', 'phone')
