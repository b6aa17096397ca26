from alembic import op
import sqlalchemy as sa
from app.db import engine  # noqa: F401  (a revision that imports the application, as open-webui's do)
revision = "a1"
down_revision = None
def upgrade():
    op.create_table("item", sa.Column("id", sa.Integer, primary_key=True))
def downgrade(): pass
