"""Application factory in the Flask style, without Flask."""

import os
from typing import Any

from factoryapp.extensions import db


class Application:
    def __init__(self, name: str) -> None:
        self.name = name
        self.config: dict[str, Any] = {}
        self.extensions: dict[str, Any] = {}
        self.db = None


def create_app(overrides: dict[str, Any] | None = None) -> Application:
    app = Application(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["MYAPP_DATABASE_URI"]
    app.config["SQLALCHEMY_ECHO"] = os.environ.get("MYAPP_SQL_ECHO") == "1"
    app.config["ITEMS_PER_PAGE"] = 20
    app.config.update(overrides or {})
    db.init_app(app)
    app.db = db
    return app
