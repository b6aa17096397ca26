"""Build live.db with the migrations themselves (`alembic upgrade head`), as nova-manage db sync does."""
from alembic import command
from alembic.config import Config

config = Config("alembic.ini")
config.set_main_option("sqlalchemy.url", "sqlite:///live.db")
command.upgrade(config, "head")
