"""First-install schema, from the hand-written schema.sql of release 1.0.

Databases in the field were made with this; the Alembic revisions start from it.
Run it once on an empty database (``python -m bootapp.bootstrap``), then
``alembic upgrade head``.
"""

import os

from sqlalchemy import Connection, create_engine

_ID = {
    "sqlite": "id INTEGER NOT NULL PRIMARY KEY",
    "postgresql": "id SERIAL PRIMARY KEY",
    "mysql": "id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY",
    "mariadb": "id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY",
}

SCHEMA = """
CREATE TABLE accounts (
    {id},
    username VARCHAR(50) NOT NULL,
    UNIQUE (username)
);

CREATE TABLE notes (
    {id},
    account_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    CONSTRAINT fk_notes_account_id FOREIGN KEY (account_id) REFERENCES accounts (id)
);

INSERT INTO accounts (username) VALUES ('admin');
"""


def create_schema(connection: Connection) -> None:
    """Create the release-1.0 tables and the admin account on ``connection`` (the caller commits)."""
    sql = SCHEMA.format(id=_ID[connection.dialect.name])
    for statement in sql.split(";"):
        if statement.strip():
            connection.exec_driver_sql(statement)


if __name__ == "__main__":
    engine = create_engine(os.environ["DATABASE_URL"])
    with engine.begin() as conn:
        create_schema(conn)
    engine.dispose()
