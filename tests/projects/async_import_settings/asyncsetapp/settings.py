import os

DATABASE_URL = os.environ["ASYNCSET_DATABASE_URL"]  # read once, when imported (pydantic-settings, prefect, ...)
