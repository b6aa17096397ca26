"""``safemigrate init``: adopt an existing Alembic setup or scaffold one."""
