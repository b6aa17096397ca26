from sqlalchemy import Engine, create_engine


class Database:
    """Holds the engine of the app it was initialised with (like Flask-SQLAlchemy's ``db``)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None

    def init_app(self, app) -> None:
        self.engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], echo=app.config["SQLALCHEMY_ECHO"])
        app.extensions["db"] = self


db = Database()
