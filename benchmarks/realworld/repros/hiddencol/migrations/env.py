from alembic import context
from sqlalchemy import engine_from_config, pool
from models import metadata
config = context.config

def include_name(name, type_, parent_names):  # nova's REMOVED_COLUMNS: the column stays in the database for a while
    return not (type_ == "column" and (parent_names["table_name"], name) == ("item", "legacy"))

engine = engine_from_config(config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
