import os

from alembic import context
from sqlalchemy import create_engine, pool

from hiddenapp.models import REMOVED_COLUMNS, metadata


def include_name(name, type_, parent_names):
    # nova's REMOVED_COLUMNS: columns the models dropped stay in the database for a while, hidden from autogenerate
    if type_ == "column":
        return (parent_names["table_name"], name) not in REMOVED_COLUMNS
    return True


engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///local.db"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
