import os
DATABASE_URL = os.environ["APP_DATABASE_URL"]  # read once, at import (pydantic-settings, prefect, ...)
