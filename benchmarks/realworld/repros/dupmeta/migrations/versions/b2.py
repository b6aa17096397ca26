revision = "b2"
down_revision = "a1"
from alembic import op
import sqlalchemy as sa
def upgrade():
    op.create_table("other", sa.Column("id", sa.Integer, primary_key=True))
def downgrade(): pass
