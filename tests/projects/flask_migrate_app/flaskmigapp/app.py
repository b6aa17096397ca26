"""A Flask application with Flask-SQLAlchemy and Flask-Migrate, as `flask db init` leaves it."""

import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["FLASKMIGAPP_DATABASE_URL"]
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    from flaskmigapp import models  # noqa: F401 - registers the tables on db.metadata

    return app
