"""Alembic operation objects, observed while a revision's ``upgrade()`` runs.

SQL rules see what reaches the database, and that covers nearly everything.
One blind spot remains: Alembic's batch mode on SQLite rebuilds a table
(create a copy, copy the rows, drop, rename). A ``batch_op.drop_column``
then reaches the database as a table rebuild that simply leaves the column
out, not as ``DROP COLUMN``. So the destructive batch operations are also
observed as operation objects.

The seam is Alembic's registry of operation implementations. While an
observer is active (``with observing(...)``: safemigrate recording or
guarding a run), the implementations of DropColumnOp, DropConstraintOp and
AlterColumnOp are wrapped: each wrapper reports the operation, then calls
the implementation that was registered before (Alembic's own, or a
plugin's). When the last observer leaves, the previous implementations are
put back: nothing stays changed in the process. Alembic offers
``implementation_for(..., replace=True)`` to register from 1.17.2 on, but
no way to read or restore what was registered, and older versions refuse
to replace, so the wrappers are swapped in ``Operations._to_impl._registry``
directly (a private attribute, present from Alembic 1.13 to 1.20; the one
private use in safemigrate besides ScriptDirectory's step generators,
docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic.operations import Operations, ops
from alembic.operations.batch import BatchOperationsImpl

from safemigrate.schema.ddl import render_sql

#: Called with (the operation, its SQL as PostgreSQL would receive it) for destructive batch operations.
Observer = Callable[[Any, str], None]
_observers: contextvars.ContextVar[tuple[Observer, ...]] = contextvars.ContextVar("safemigrate_op_observers",
                                                                                 default=())
_OBSERVED = (ops.DropColumnOp, ops.DropConstraintOp, ops.AlterColumnOp)  # drops, renames, type narrowing
_lock = threading.Lock()
_depth = 0
_previous: dict[type, Any] = {}


@contextmanager
def observing(observer: Observer) -> Iterator[None]:
    """Report destructive batch operations to ``observer`` while the block runs."""
    _enter()
    token = _observers.set(_observers.get() + (observer,))
    try:
        yield
    finally:
        _observers.reset(token)
        _leave()


def installed() -> bool:
    """Whether the wrappers are in Alembic's registry now (only while something observes)."""
    return _depth > 0


def _enter() -> None:
    global _depth
    with _lock:
        if _depth == 0:
            registry = Operations._to_impl._registry
            for op_class in _OBSERVED:
                key = (op_class, "default")
                _previous[op_class] = registry.get(key)
                registry[key] = _wrapper(registry.get(key))
        _depth += 1


def _leave() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0:
            registry = Operations._to_impl._registry
            for op_class, previous in _previous.items():
                if previous is None:
                    registry.pop((op_class, "default"), None)
                else:
                    registry[(op_class, "default")] = previous
            _previous.clear()


def _wrapper(implementation: Callable[[Any, Any], Any] | None) -> Callable[[Any, Any], Any]:
    def observed(operations: Any, operation: Any) -> Any:
        _observe(operations, operation)
        assert implementation is not None, "Alembic registers an implementation for every built-in operation"
        return implementation(operations, operation)

    return observed


def _rebuilds_table(operations: Any) -> bool:
    """Whether this batch may rebuild the table (decided only when the batch ends, so: may)."""
    impl = operations.impl
    if not isinstance(impl, BatchOperationsImpl):
        return False
    return impl.recreate == "always" or (impl.recreate == "auto" and impl.operations.impl.__dialect__ == "sqlite")


def _observe(operations: Any, operation: Any) -> None:
    observers = _observers.get()
    if not observers or not _rebuilds_table(operations):
        return
    for sql in render_sql(operation, "postgresql"):
        if not sql.startswith("--"):
            for observer in observers:
                observer(operation, sql)
