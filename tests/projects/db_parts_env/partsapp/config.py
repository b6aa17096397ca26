"""Database settings as the deployment provides them: one variable per part (Kubernetes secret keys)."""

import os
from urllib.parse import quote_plus


def database_url() -> str:
    host = os.environ["DB_HOST"]
    port = os.environ.get("DB_PORT", "5432")
    name = os.environ["DB_NAME"]
    user = os.environ["DB_USER"]
    password = os.environ.get("DB_PASSWORD", "")
    return f"postgresql+psycopg://{user}:{quote_plus(password)}@{host}:{port}/{name}"
