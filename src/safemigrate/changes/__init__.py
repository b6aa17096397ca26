"""Expand–contract changes: zero-downtime renames, drops and NOT NULL in three deploys (PostgreSQL, MySQL/MariaDB).

Each change writes two ordinary Alembic revisions: an **expand** revision
(additive: the new column, a trigger keeping the old and the new shape in
step in both directions) and a **contract** revision (``depends_on`` the
expand; drops the old shape with its sign-offs). In between, ``backfill``
fills the existing rows in keyset batches and verifies them; production
``migrate`` refuses the contract until then (``runner/preflight.py``).
"""

from safemigrate.changes.author import write_change
from safemigrate.changes.lifecycle import abort, backfill, status, write_contract

__all__ = ["abort", "backfill", "status", "write_change", "write_contract"]
