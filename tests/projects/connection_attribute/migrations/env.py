from logging.config import fileConfig

from alembic import context

from sharedconnapp.models import Base

config = context.config

if config.config_file_name is not None:
    # keep the application's loggers: migrations run inside the app
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # The app hands us its connection (sharedconnapp.db.migrate); we never make an engine here.
    connection = config.attributes.get("connection", None)
    if connection is None:
        raise RuntimeError(
            "env.py needs a connection in config.attributes['connection']. "
            "Run migrations with `python -m sharedconnapp.db`, not the alembic command line."
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
