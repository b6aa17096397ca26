"""Application settings, read once from the environment at import time."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    debug: bool = False
    pool_size: int = 5


def _load() -> Settings:
    return Settings(
        database_url=os.environ["APP_DATABASE_URL"],
        debug=os.environ.get("APP_DEBUG", "0") == "1",
        pool_size=int(os.environ.get("APP_POOL_SIZE", "5")),
    )


settings = _load()
