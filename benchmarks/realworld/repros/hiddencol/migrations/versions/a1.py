revision = "a1"
down_revision = None
from alembic import op
import sqlalchemy as sa
def upgrade():
    op.create_table("item", sa.Column("id", sa.Integer, primary_key=True), sa.Column("legacy", sa.Integer))
def downgrade(): pass
