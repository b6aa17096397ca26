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
  of the ADD, commits first, and the validation scan lets writes go on.

The replacements are operation objects rendered to Python by Alembic's own
renderer (``renderers.dispatch_for``, its documented extension point), so the
generated revision file holds plain ``op.*`` calls. Other dialects are left
as they are for now.
"""

from __future__ import annotations

import copy
from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op
from alembic.operations import ops as alembic_ops
from sqlalchemy.dialects import postgresql

_PREPARER = postgresql.dialect().identifier_preparer

#: An index is INVALID when a CONCURRENTLY build was interrupted; ``to_regclass`` resolves the name as
#: PostgreSQL would (search_path, quoting) and gives NULL when there is no such index.
_INVALID_INDEX = ("SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:name) AND NOT indisvalid")
_CONSTRAINT_EXISTS = ("SELECT 1 FROM pg_constraint WHERE conname = :name AND conrelid = to_regclass(:table)")


class ConcurrentIndexOp(alembic_ops.MigrateOperation):
    """Build or drop an index with CONCURRENTLY, outside the revision's transaction."""

    def __init__(self, op: alembic_ops.CreateIndexOp | alembic_ops.DropIndexOp) -> None:
        self.op = op

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class NotValidConstraintOp(alembic_ops.MigrateOperation):
    """Add a foreign key or CHECK NOT VALID in the revision's transaction, then VALIDATE it after that commits."""

    def __init__(self, op: alembic_ops.CreateForeignKeyOp | alembic_ops.CreateCheckConstraintOp) -> None:
        self.op = op

    @property
    def table(self) -> tuple[str | None, str]:
        if isinstance(self.op, alembic_ops.CreateForeignKeyOp):
            return self.op.kw.get("source_schema"), self.op.source_table
        return self.op.schema, self.op.table_name

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


def rewrite_for(dialect: str, upgrade_ops: alembic_ops.UpgradeOps, downgrade_ops: alembic_ops.DowngradeOps) -> int:
    """Rewrite both directions of a revision in place for ``dialect``; return how many operations changed.

    Tables created in either direction are new: what is done to them cannot block anyone.
    """
    if dialect != "postgresql":
        return 0
    new_tables = _created_tables(upgrade_ops) | _created_tables(downgrade_ops)
    return _rewrite(upgrade_ops, new_tables) + _rewrite(downgrade_ops, new_tables)


def concurrently(op: alembic_ops.CreateIndexOp | alembic_ops.DropIndexOp) -> Any:
    """A copy of ``op`` that builds (drops) the index CONCURRENTLY and IF NOT EXISTS (IF EXISTS)."""
    changed = copy.copy(op)
    changed.kw = {**op.kw, "postgresql_concurrently": True}
    if isinstance(changed, alembic_ops.CreateIndexOp):
        changed.if_not_exists = True
    else:
        changed.if_exists = True
    return changed


def _created_tables(container: alembic_ops.OpContainer) -> set[tuple[str | None, str]]:
    return {(op.schema, op.table_name) for op in container.ops if isinstance(op, alembic_ops.CreateTableOp)}


def _rewrite(container: alembic_ops.OpContainer, new_tables: set[tuple[str | None, str]]) -> int:
    """Replace in place; a rewritten operation leaves its table's group and stands on its own.

    Outside the group it renders with ``op.`` at the top level even where the project renders batch
    blocks (``render_as_batch``): an autocommit block has no place inside ``batch_alter_table``.
    """
    changed = 0
    result: list[alembic_ops.MigrateOperation] = []
    for op in container.ops:
        if not isinstance(op, alembic_ops.ModifyTableOps):
            replacement = _safe_form(op, new_tables)
            changed += replacement is not None
            result.append(replacement or op)
            continue
        group: list[alembic_ops.MigrateOperation] = []
        for inner in op.ops:
            replacement = _safe_form(inner, new_tables)
            if replacement is None:
                group.append(inner)
                continue
            changed += 1
            if group:
                result.append(alembic_ops.ModifyTableOps(op.table_name, group, schema=op.schema))
                group = []
            result.append(replacement)
        if group or not op.ops:
            result.append(alembic_ops.ModifyTableOps(op.table_name, group, schema=op.schema) if group != op.ops
                          else op)
    container.ops = result
    return changed


def _safe_form(op: Any, new_tables: set[tuple[str | None, str]]) -> alembic_ops.MigrateOperation | None:
    if isinstance(op, alembic_ops.CreateIndexOp | alembic_ops.DropIndexOp):
        if op.table_name is None or (op.schema, op.table_name) in new_tables:
            return None
        return ConcurrentIndexOp(concurrently(op))
    if isinstance(op, alembic_ops.CreateForeignKeyOp):
        schema = op.kw.get("source_schema")
        if (schema, op.source_table) in new_tables:
            return None
        named = copy.copy(op)
        named.kw = {**op.kw, "postgresql_not_valid": True}
        if named.constraint_name is None:  # VALIDATE needs the name PostgreSQL will give it
            named.constraint_name = "_".join([op.source_table, *op.local_cols, "fkey"])
        return NotValidConstraintOp(named)
    if isinstance(op, alembic_ops.CreateCheckConstraintOp):
        # autogenerate does not compare CHECK constraints; this is for a project's own comparator or hook
        if op.constraint_name is None or (op.schema, op.table_name) in new_tables:
            return None
        check = copy.copy(op)
        check.kw = {**op.kw, "postgresql_not_valid": True}
        return NotValidConstraintOp(check)
    return None


def _qualified(name: str, schema: str | None) -> str:
    """``name`` as PostgreSQL's regclass input reads it (quoted where needed)."""
    quoted = _PREPARER.quote(str(name))
    return f"{_PREPARER.quote_schema(schema)}.{quoted}" if schema else quoted


def _query(autogen_context: AutogenContext, sql: str, **params: str) -> str:
    """Python that runs ``sql`` on the migration's own connection and gives its first row (or None).

    Offline (``--sql``) there is no database to ask: the generated code checks ``as_sql`` first. The
    prefixes are the project's (``op.``, ``sa.`` by default), as in the rest of the generated file.
    """
    op, sa = _op_prefix(autogen_context), _sa_prefix(autogen_context)
    return f"{op}get_bind().execute({sa}text({sql!r}), {params!r}).first()"


def _op_prefix(autogen_context: AutogenContext) -> str:
    # context.configure(alembic_module_prefix=..., sqlalchemy_module_prefix=...), the documented options
    return str(autogen_context.opts.get("alembic_module_prefix") or "op.")


def _sa_prefix(autogen_context: AutogenContext) -> str:
    return str(autogen_context.opts.get("sqlalchemy_module_prefix") or "sa.")


def _offline(autogen_context: AutogenContext) -> str:
    return f"{_op_prefix(autogen_context)}get_context().as_sql"


def _autocommit(autogen_context: AutogenContext) -> str:
    return f"with {_op_prefix(autogen_context)}get_context().autocommit_block():"


@renderers.dispatch_for(ConcurrentIndexOp)
def _render_concurrent_index(autogen_context: AutogenContext, op: ConcurrentIndexOp) -> list[str]:
    inner = op.op
    lines = [_autocommit(autogen_context)]
    if isinstance(inner, alembic_ops.CreateIndexOp) and inner.index_name is not None:
        name = _qualified(inner.index_name, inner.schema)
        drop = alembic_ops.DropIndexOp(inner.index_name, table_name=inner.table_name, schema=inner.schema,
                                       if_exists=True, postgresql_concurrently=True)
        lines += ["# a build interrupted earlier leaves an INVALID index, which IF NOT EXISTS would keep",
                  f"if not {_offline(autogen_context)} and {_query(autogen_context, _INVALID_INDEX, name=name)}:",
                  *render_op(autogen_context, drop),
                  ""]
    lines += [*render_op(autogen_context, inner), ""]
    return lines


def _without_not_valid(op: Any) -> Any:
    plain = copy.copy(op)
    plain.kw = {k: v for k, v in op.kw.items() if k != "postgresql_not_valid"}
    return plain


def _with_not_valid(rendered: list[str]) -> str:
    """The rendered ``create_*`` call with ``postgresql_not_valid=True`` as its last keyword.

    Alembic 1.13 drops a foreign key's dialect keywords when it renders the call, so the keyword is
    added to the call Alembic rendered without it, on every version alike.
    """
    [call] = rendered
    assert call.endswith(")"), call
    return f"{call[:-1]}, postgresql_not_valid=True)"


@renderers.dispatch_for(NotValidConstraintOp)
def _render_not_valid_constraint(autogen_context: AutogenContext, op: NotValidConstraintOp) -> list[str]:
    inner = op.op
    name = str(inner.constraint_name)
    schema, table_name = op.table
    table = _qualified(table_name, schema)
    validate = f"ALTER TABLE {table} VALIDATE CONSTRAINT {_PREPARER.quote(name)}"
    return ["# NOT VALID checks only new rows; rerun after an interruption, it is already there",
            f"if {_offline(autogen_context)} or not "
            f"{_query(autogen_context, _CONSTRAINT_EXISTS, name=name, table=table)}:",
            _with_not_valid(render_op(autogen_context, _without_not_valid(inner))),
            "",
            "# validating after the ADD has committed scans the table without blocking writes",
            _autocommit(autogen_context),
            f"{_op_prefix(autogen_context)}execute({validate!r})",
            ""]
