"""New installations: make every table from the models, then mark the database as up to date.

This is the recipe from Alembic's cookbook ("Building an Up to Date Database from Scratch"):
create_all() + `alembic stamp head`. Existing installations run `alembic upgrade head` instead.

    DATABASE_URL=... python -m stampedapp.bootstrap
"""

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from stampedapp.models import Base

ROOT = Path(__file__).resolve().parent.parent


def bootstrap(url: str) -> None:
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    os.environ["DATABASE_URL"] = url  # migrations/env.py reads it
    command.stamp(Config(str(ROOT / "alembic.ini")), "head")


if __name__ == "__main__":
    bootstrap(os.environ["DATABASE_URL"])
