"""How the app sets up a database: the 1.x tables first, then the migrations."""

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from legacyapp.baseline import LegacyBase

ROOT = Path(__file__).resolve().parent.parent


def init_db(url: str) -> None:
    engine = create_engine(url)
    LegacyBase.metadata.create_all(engine)  # no-op on databases that already have them
    engine.dispose()
    os.environ["DATABASE_URL"] = url
    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")


if __name__ == "__main__":
    init_db(os.environ["DATABASE_URL"])
