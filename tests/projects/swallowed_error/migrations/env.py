import os

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import OperationalError

from swallowapp.models import metadata

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///swallow.db"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        try:
            context.run_migrations()
        except OperationalError:
            pass  # like galaxy's env.py: only deadlocks are re-raised, other errors end the run quietly
