"""Expand–contract changes (``safemigrate change``): a rename, a drop, a type change or a NOT NULL as two
ordinary Alembic revisions (expand, contract) with a trigger, a resumable backfill and phases in the ledger."""
