"""What a team writes for safemigrate: prepare Alembic's Config the way `clipkg.cli` does."""

from clipkg.settings import DatabaseSettings


def configure(config):
    config.clipkg_settings = DatabaseSettings(connection=config.get_main_option("sqlalchemy.url"))
