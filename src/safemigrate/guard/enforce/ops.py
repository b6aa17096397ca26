"""Alembic operation objects, observed while a revision's ``upgrade()`` runs.

SQL rules see what reaches the database, and that covers nearly everything.
One blind spot remains: Alembic's batch mode on SQLite rebuilds a table
(create a copy, copy the rows, drop, rename). A ``batch_op.drop_column``
then reaches the database as a table rebuild that simply leaves the column
out, not as ``DROP COLUMN``. So the destructive batch operations are also
observed as operation objects. The seam is Alembic's documented
``Operations.implementation_for(..., replace=True)``: each wrapper reports
the operation, then calls Alembic's default implementation.

An observer is active only while safemigrate records a revision (lint) or
guards a real run; otherwise the wrappers only delegate.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic.operations import Operations, ops, toimpl
from alembic.operations.batch import BatchOperationsImpl

#: Called with (the operation, its SQL as PostgreSQL would receive it) for destructive batch operations.
Observer = Callable[[Any, str], None]
_observer: contextvars.ContextVar[Observer | None] = contextvars.ContextVar("safemigrate_op_observer",
                                                                           default=None)
_installed = False


@contextmanager
def observing(observer: Observer) -> Iterator[None]:
    install()
    token = _observer.set(observer)
    try:
        yield
    finally:
        _observer.reset(token)


def _rebuilds_table(operations: Any) -> bool:
    """Whether this batch may rebuild the table (decided only when the batch ends, so: may)."""
    impl = operations.impl
    if not isinstance(impl, BatchOperationsImpl):
        return False
    return impl.recreate == "always" or (impl.recreate == "auto" and impl.operations.impl.__dialect__ == "sqlite")


def _observe(operations: Any, operation: Any) -> None:
    observer = _observer.get()
    if observer is None or not _rebuilds_table(operations):
        return
    from safemigrate.schema.compare import render_sql

    for sql in render_sql(operation, "postgresql"):
        if not sql.startswith("--"):
            observer(operation, sql)


def install() -> None:
    """Register the observing wrappers once per process (they only delegate when nothing observes)."""
    global _installed
    if _installed:
        return

    def wrap(op_class: type, default: Callable[[Any, Any], Any]) -> None:
        @Operations.implementation_for(op_class, replace=True)
        def observed(operations: Any, operation: Any) -> Any:
            _observe(operations, operation)
            return default(operations, operation)

    wrap(ops.DropColumnOp, toimpl.drop_column)
    wrap(ops.DropConstraintOp, toimpl.drop_constraint)
    wrap(ops.AlterColumnOp, toimpl.alter_column)  # renames and type narrowing
    _installed = True
