"""The app runs its migrations itself, on its own connection (Alembic cookbook:
"Sharing a Connection across one or more programmatic migration commands").

    python -m sharedconnapp.db            # upgrade to head
    python -m sharedconnapp.db check      # alembic check, same connection handling
"""

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    return Config(str(ROOT / "alembic.ini"))


def migrate(revision: str = "head") -> None:
    engine = create_engine(os.environ["DATABASE_URL"])
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def check() -> None:
    engine = create_engine(os.environ["DATABASE_URL"])
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)
    engine.dispose()


if __name__ == "__main__":
    check() if sys.argv[1:] == ["check"] else migrate()
