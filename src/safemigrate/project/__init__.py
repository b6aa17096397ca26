"""The user's project without a database: its Alembic configuration, revision history and models."""
