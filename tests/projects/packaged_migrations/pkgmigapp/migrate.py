"""`pkgmigapp-migrate`: upgrade the database named by $DATABASE_URL, from an installed wheel."""

from importlib.resources import as_file, files

from alembic import command
from alembic.config import Config


def main() -> None:
    with as_file(files("pkgmigapp") / "alembic.ini") as ini:
        command.upgrade(Config(str(ini)), "head")


if __name__ == "__main__":
    main()
