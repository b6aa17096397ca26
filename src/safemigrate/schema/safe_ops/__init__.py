"""Generated operations rewritten into the forms safemigrate's own lint accepts (PostgreSQL).

Autogenerate writes ``op.create_index`` and ``op.create_foreign_key`` as if
the table were empty: on a live table the first blocks writes for the whole
build, the second blocks writes to both tables while it checks every row.
``rewrite_for`` walks a revision's ``UpgradeOps``/``DowngradeOps`` and, on
PostgreSQL, replaces them on tables that already exist (not those created in
the same revision) with:

- ``create_index`` -> ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` in an
  ``autocommit_block``, after dropping an INVALID index of the same name that
  an interrupted earlier build left (``IF NOT EXISTS`` alone would keep it);
- ``drop_index`` -> ``DROP INDEX CONCURRENTLY IF EXISTS`` in an
  ``autocommit_block``;
- ``create_foreign_key`` (and a named ``create_check_constraint``, which
  autogenerate itself never writes) -> added ``NOT VALID`` (only if it is not there yet,
  so a rerun after an interruption goes on), then ``VALIDATE CONSTRAINT`` in
  an ``autocommit_block``: the revision's transaction, holding the strong lock
  of the ADD, commits first, and the validation scan lets writes go on;
- ``alter_column(nullable=False)`` -> ``CHECK (column IS NOT NULL) NOT VALID``,
  then in an ``autocommit_block`` ``VALIDATE``, ``SET NOT NULL`` (PostgreSQL 12+
  skips its scan: the validated check proves it) and the check dropped; the
  last two signed off (``allow``), since the lint cannot see the check. Other
  changes of the same ``alter_column`` (type, default, name) stay as Alembic
  wrote them, in an ``alter_column`` of their own before;
- ``create_unique_constraint`` -> ``CREATE UNIQUE INDEX CONCURRENTLY IF NOT
  EXISTS`` as for ``create_index``, then ``ADD CONSTRAINT ... UNIQUE USING
  INDEX`` (instant) unless the constraint is there already;
- ``create_primary_key`` (autogenerate does not compare primary keys; a hand
  or comparator's operation) -> each column NOT NULL as above, then the same
  with ``PRIMARY KEY USING INDEX`` (which would otherwise scan for NULLs under
  its ACCESS EXCLUSIVE lock);
- ``add_column`` with a volatile server default (:func:`volatile_default`:
  ``gen_random_uuid()``, ``random()``...; ``now()`` is stable and stays) ->
  the column added empty, ``SET DEFAULT`` for new rows, the rows there filled
  by :func:`safemigrate.schema.backfill.backfill` in an ``autocommit_block``
  (keyset batches, each its own transaction, only rows still NULL), then NOT
  NULL as above when the model says ``nullable=False``;
- ``alter_column`` to a type PostgreSQL cannot reach by relabelling -> kept
  as Alembic wrote it, never rewritten silently, with the expand-contract
  recipe in a comment above it (``TypeChangeNoteOp``); the lint still
  reports it (``change-column-type``).

Every step is guarded by what the catalog says (read through the migration's
own connection), so a rerun after a kill at any point finishes the job. So are
the ``add_column``/``create_table``/``create_index`` (on a new table) that
come with them in the upgrade (``GuardedOp``): the first autocommit block
commits them. When every upgrade step is one of these forms, the revision is
signed ``# safemigrate: rerun-converges`` (:func:`reruns_converge`), and the
runner reruns it after an interruption instead of refusing it as an
interrupted revision (the statement journal's rule for steps that must not
run twice).

The replacements are operation objects rendered to Python by Alembic's own
renderer (``renderers.dispatch_for``, its documented extension point), so the
generated revision file holds plain ``op.*`` calls.

On MySQL/MariaDB (``OnlineDdlOp``), an index built or dropped and a unique
constraint added on an existing table carry ``ALGORITHM=INPLACE, LOCK=NONE``,
and an added column (no key, not computed) ``ALGORITHM=INSTANT``, so that a
server that cannot do it without blocking writes fails instead of silently
copying the table; each is guarded by ``information_schema`` (every DDL
commits on its own there). SQLite is left to batch mode.
"""

from safemigrate.schema.safe_ops import render as _render  # noqa: F401  (registers the renderers)
from safemigrate.schema.safe_ops.forms import (
    VOLATILE_FUNCTIONS,
    ConcurrentIndexOp,
    GuardedOp,
    NotValidConstraintOp,
    PrimaryKeyUsingIndexOp,
    SetNotNullOp,
    TypeChangeNoteOp,
    UniqueUsingIndexOp,
    VolatileDefaultColumnOp,
    concurrently,
    reruns_converge,
    rewrite_for,
    volatile_default,
)
from safemigrate.schema.safe_ops.mysql import OnlineDdlOp

__all__ = ["VOLATILE_FUNCTIONS", "ConcurrentIndexOp", "GuardedOp", "NotValidConstraintOp", "OnlineDdlOp",
           "PrimaryKeyUsingIndexOp", "SetNotNullOp", "TypeChangeNoteOp", "UniqueUsingIndexOp",
           "VolatileDefaultColumnOp", "concurrently", "reruns_converge", "rewrite_for", "volatile_default"]
