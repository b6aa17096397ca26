"""``safe_by_default = true``: a hand-written revision's operations run in the forms safemigrate writes.

While :func:`rewriting` is active on a PostgreSQL connection, Alembic's implementations of the operations
that ``forms`` rewrites are wrapped: ``op.create_index(...)`` on a table that the running revision did not
create runs as the generated code would (INVALID leftover dropped, CREATE INDEX CONCURRENTLY IF NOT EXISTS in
an autocommit block), ``drop_index`` CONCURRENTLY, a foreign key or CHECK as NOT VALID + VALIDATE, a unique
constraint as a unique index built CONCURRENTLY and attached, a nullable column with a volatile default as
an empty column, SET DEFAULT and a batched backfill. The seam and its caveat are those of
``guard.enforce.ops``: the wrappers are swapped in ``Operations._to_impl._registry`` (Alembic has no public
way to read or restore an implementation), and the previous implementations are put back when the block
ends.

Not rewritten at run time: NOT NULL (so neither a primary key on an existing table nor a NOT NULL column
with a volatile default). Its safe form ends with SET NOT NULL and the helper check dropped, which the run
guard allows only when signed off in the revision file, where a reviewer reads it; a rewrite at run time
cannot write that. Those run as written, and lint keeps reporting them (``set-not-null``).

The trade-off, as for the generated forms: a revision that calls one of these operations is no longer one
atomic transaction (each autocommit block commits what came before it).
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from alembic.operations.batch import BatchOperationsImpl
from sqlalchemy import text
from sqlalchemy.engine import Connection

from safemigrate.schema.backfill import backfill
from safemigrate.schema.safe_ops.forms import (
    COLUMN_EXISTS,
    CONSTRAINT_EXISTS,
    INVALID_INDEX,
    PREPARER,
    ConcurrentIndexOp,
    NotValidConstraintOp,
    PrimaryKeyUsingIndexOp,
    SetNotNullOp,
    UniqueUsingIndexOp,
    VolatileDefaultColumnOp,
    qualified,
    safe_form,
    split_not_null,
)

_REWRITTEN = (alembic_ops.CreateIndexOp, alembic_ops.DropIndexOp, alembic_ops.CreateForeignKeyOp,
              alembic_ops.CreateCheckConstraintOp, alembic_ops.AlterColumnOp, alembic_ops.CreateUniqueConstraintOp,
              alembic_ops.CreatePrimaryKeyOp, alembic_ops.AddColumnOp, alembic_ops.CreateTableOp)
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("safemigrate_safe_runtime_inside", default=False)


@contextmanager
def rewriting(connection: Connection) -> Iterator[None]:
    """Run the operations of the revisions migrated inside the block in their safe forms (PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    registry = Operations._to_impl._registry
    previous = {kind: registry.get((kind, "default")) for kind in _REWRITTEN}
    created: dict[str | None, set[tuple[str | None, str]]] = {}  # per revision, the tables it created
    for kind in _REWRITTEN:
        registry[(kind, "default")] = _wrapper(_implementation(registry, kind), created)
    try:
        yield
    finally:
        for kind, implementation in previous.items():
            if implementation is None:
                registry.pop((kind, "default"), None)
            else:
                registry[(kind, "default")] = implementation


def _implementation(registry: dict[Any, Any], kind: type) -> Any:
    """What Alembic runs for ``kind``: its own entry, or its nearest base class's (unique constraints and
    primary keys share AddConstraintOp's), as Alembic's dispatcher looks it up."""
    for base in kind.__mro__:
        if (base, "default") in registry:
            return registry[(base, "default")]
    raise LookupError(f"Alembic has no implementation for {kind.__name__}")


def _wrapper(implementation: Any, created: dict[str | None, set[tuple[str | None, str]]]) -> Any:
    def safe(operations: Operations, operation: Any) -> Any:
        if (_inside.get() or isinstance(operations.impl, BatchOperationsImpl) or operations.get_context().as_sql
                or _written_safe(operations, operation)):
            return implementation(operations, operation)
        new_tables = created.setdefault(_running_revision(), set())  # what is done to them blocks no one
        if isinstance(operation, alembic_ops.CreateTableOp):
            new_tables.add((operation.schema, operation.table_name))
            return implementation(operations, operation)
        parts = split_not_null(operation)
        token = _inside.set(True)
        try:
            for part in parts:
                form = safe_form(part, new_tables)
                if form is None or not _runs_unsigned(form):
                    operations.invoke(part)
                else:
                    _run(operations, form)
        finally:
            _inside.reset(token)
        return None

    return safe


def _written_safe(operations: Operations, operation: Any) -> bool:
    """Code that is safe as written (safemigrate's generated forms, or a careful person's) runs as written."""
    if operations.get_bind().get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return True  # inside an autocommit block: its author chose what runs outside the transaction
    kw = getattr(operation, "kw", {}) or {}
    return bool(kw.get("postgresql_concurrently") or kw.get("postgresql_not_valid"))


def _running_revision() -> str | None:
    """The revision whose ``upgrade()``/``downgrade()`` is on the stack (its module's ``revision``)."""
    frame = sys._getframe(1)
    while frame is not None:
        names = frame.f_globals
        if "revision" in names and "down_revision" in names and "upgrade" in names:
            return str(names["revision"])
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _row(operations: Operations, sql: str, **params: str) -> bool:
    return operations.get_bind().execute(text(sql), params).first() is not None


def _runs_unsigned(form: Any) -> bool:
    """Whether the safe form needs no sign-off in the revision file (see the module's docstring)."""
    if isinstance(form, SetNotNullOp | PrimaryKeyUsingIndexOp):
        return False
    if isinstance(form, VolatileDefaultColumnOp):
        return form.not_null is None
    return isinstance(form, ConcurrentIndexOp | NotValidConstraintOp | UniqueUsingIndexOp)


def _run(operations: Operations, form: Any) -> None:
    """What the rendered code of ``form`` does (``render``), run through ``operations``."""
    autocommit = operations.get_context().autocommit_block
    if isinstance(form, ConcurrentIndexOp):
        inner = form.op
        with autocommit():
            if isinstance(inner, alembic_ops.CreateIndexOp) and inner.index_name is not None and _row(
                    operations, INVALID_INDEX, name=qualified(inner.index_name, inner.schema)):
                operations.drop_index(inner.index_name, table_name=inner.table_name, schema=inner.schema,
                                      if_exists=True, postgresql_concurrently=True)
            operations.invoke(inner)
    elif isinstance(form, NotValidConstraintOp):
        schema, table_name = form.table
        table = qualified(table_name, schema)
        name = str(form.op.constraint_name)
        if not _row(operations, CONSTRAINT_EXISTS, name=name, table=table):
            operations.invoke(form.op)
        with autocommit():
            operations.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {PREPARER.quote(name)}")
    elif isinstance(form, UniqueUsingIndexOp):
        _run(operations, ConcurrentIndexOp(form.index))
        name = str(form.op.constraint_name)
        table = qualified(form.op.table_name, form.op.schema)
        if not _row(operations, CONSTRAINT_EXISTS, name=name, table=table):
            operations.execute(f"ALTER TABLE {table} ADD CONSTRAINT {PREPARER.quote(name)} UNIQUE USING INDEX "
                               f"{PREPARER.quote(name)}")
    else:
        assert isinstance(form, VolatileDefaultColumnOp) and form.not_null is None
        add = form.add
        table = qualified(add.table_name, add.schema)
        if not _row(operations, COLUMN_EXISTS, table=table, column=str(add.column.name)):
            operations.invoke(add)
        operations.alter_column(add.table_name, str(add.column.name), schema=add.schema,
                                existing_type=add.column.type, server_default=form.op.column.server_default)
        with autocommit():
            backfill(operations.get_bind(), add.table_name, str(add.column.name), form.expression,
                     schema=add.schema)
