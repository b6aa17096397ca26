"""The application's settings object, built by its command line from a config file or flags."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DatabaseSettings:
    connection: str
    pool_size: int = 5
