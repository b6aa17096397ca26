"""How this application makes a database: the models' tables at once, then ``alembic stamp head``.

Its revisions only ever upgrade installations older than Alembic (their users table was made by a
pre-Alembic release as users(id, name)); no empty database ever runs them.

    DATABASE_URL=... python -m oldapp.bootstrap
"""

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from oldapp.models import Base

ROOT = Path(__file__).resolve().parent.parent


def bootstrap(url: str) -> None:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    os.environ["DATABASE_URL"] = url  # migrations/env.py reads it
    command.stamp(Config(str(ROOT / "alembic.ini")), "head")


if __name__ == "__main__":
    bootstrap(os.environ["DATABASE_URL"])
