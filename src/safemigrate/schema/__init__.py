"""Schemas compared: Alembic's autogenerate comparison, reflection, and the DDL that fixes each difference."""
