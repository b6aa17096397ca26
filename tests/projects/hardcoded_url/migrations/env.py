"""env.py written years ago for one developer's laptop.

It ignores alembic.ini, $DATABASE_URL and anything a tool sets up, and always
migrates the same hard-coded database: sqlite:///hardcoded_do_not_touch.db,
resolved relative to the project folder (the folder holding alembic.ini).
"""

from pathlib import Path

from alembic import context
from sqlalchemy import create_engine, pool

from hardcodedapp.models import Base

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATABASE_URL = "sqlite:///" + str(PROJECT_DIR / "hardcoded_do_not_touch.db")

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=DATABASE_URL,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(DATABASE_URL, poolclass=pool.NullPool)
    with engine.connect() as connection:
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
