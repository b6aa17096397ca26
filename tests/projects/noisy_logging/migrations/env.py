import logging
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from noisyapp.models import Base

# left in by someone debugging a deploy
logging.basicConfig(level=logging.INFO)

config = context.config

if config.config_file_name is not None:
    # INFO for alembic and sqlalchemy.engine (every SQL statement), on stdout
    fileConfig(config.config_file_name)

log = logging.getLogger("alembic.env")

target_metadata = Base.metadata
url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    log.info("migrating %s", engine.url.render_as_string(hide_password=True))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    log.info("migrations done")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
