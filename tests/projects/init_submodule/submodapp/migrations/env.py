import os

from alembic import context
from sqlalchemy import create_engine, pool

from submodapp import models  # the models module of the package, as buildbot and nova import it

target_metadata = models.Base.metadata

engine = create_engine(os.environ.get("DATABASE_URL", "sqlite:///submodapp.db"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
