"""Settings, read once from the environment when the module is imported (12-factor style).

A missing variable is a KeyError at import time, on purpose: the app must not start
half-configured. The engine is module-level and shared by the whole app.
"""

import os

from sqlalchemy import create_engine

DB_DSN = os.environ["APP_DB_DSN"]
SECRET_KEY = os.environ["APP_SECRET_KEY"]
DEBUG = os.environ.get("APP_DEBUG", "0") == "1"

engine = create_engine(DB_DSN, pool_pre_ping=True, echo=DEBUG)
