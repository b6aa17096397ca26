revision = "b2"
down_revision = "a1"
from alembic import op
def upgrade():
    op.execute("ALTER TABLE missing ADD COLUMN x INTEGER")
def downgrade(): pass
