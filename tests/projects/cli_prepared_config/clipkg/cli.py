"""`clipkg-manage db upgrade`: the project's own command line prepares the settings env.py reads.

Like OpenStack's neutron-db-manage, it builds Alembic's Config in code and hangs its parsed settings on it
(`config.clipkg_settings`); env.py reads the database from there and nowhere else.
"""

import sys

from alembic import command
from alembic.config import Config

from clipkg.settings import DatabaseSettings


def main(argv: list[str] = sys.argv[1:]) -> None:
    connection, action = argv[0], argv[1]
    config = Config("alembic.ini")
    config.clipkg_settings = DatabaseSettings(connection=connection)
    getattr(command, action)(config, "heads")


if __name__ == "__main__":
    main()
