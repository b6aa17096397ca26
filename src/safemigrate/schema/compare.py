"""Differences between a database and a MetaData, with the DDL that fixes each.

The comparison is Alembic's autogenerate (``produce_migrations``) run with
the options the project's env.py configured (``include_object``,
``include_name``, ``include_schemas``...), plus type and server-default
comparison. Each resulting operation becomes a :class:`Difference` carrying
the SQL for the target dialect (rendered by Alembic's offline mode) and the
Alembic code that would go into a revision.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.operations import ops as alembic_ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from safemigrate.core.results import Difference
from safemigrate.schema import jsondefaults, safe_ops
from safemigrate.schema.ddl import needs_rebuild, render_rebuild, render_sql
from safemigrate.schema.defaults import settle
from safemigrate.schema.safe_ops.sql import safe_sql
from safemigrate.state.ledger import TABLES as LEDGER_TABLES

# Options of context.configure() that only matter for running migrations.
_RUN_ONLY_OPTIONS = {
    "fn", "as_sql", "output_buffer", "starting_rev", "destination_rev", "tag", "dont_mutate",
    "transactional_ddl", "transaction_per_migration", "on_version_apply", "literal_binds",
    "output_encoding", "upgrade_token", "downgrade_token", "template_args", "revision_context",
}


def comparison_context(connection: Connection, options: dict[str, Any], **overrides: Any) -> MigrationContext:
    """A MigrationContext on ``connection`` with env.py's comparison options.

    ``compare_server_default=True`` is passed as True, never as a function: Alembic's path for a
    function fails on ``Computed`` columns. Defaults that only differ in spelling are settled
    afterwards (:mod:`safemigrate.schema.defaults`).
    """
    opts = {k: v for k, v in options.items() if k not in _RUN_ONLY_OPTIONS}
    opts["include_name"] = without_ledger(opts.get("include_name"))
    for key, value in overrides.items():
        if key == "compare_server_default" and callable(opts.get(key)):
            continue  # the project's own comparison function wins
        opts[key] = value
    return MigrationContext.configure(connection=connection, opts=opts)


def without_ledger(user_filter: Any) -> Any:
    """include_name that hides safemigrate's own ledger table, then asks the project's filter."""
    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "table" and name in LEDGER_TABLES:
            return False
        return user_filter(name, type_, parent_names) if user_filter is not None else True

    return include_name


def names_filtered_on_both_sides(include_name: Any, include_object: Any) -> Any:
    """include_object that also runs env.py's include_name on the metadata side.

    Alembic runs include_name only on what it reflects from the database. When the "metadata" is the
    reflection of another database (check --live compares the live database with a rebuild of its
    revision), a column env.py hides (nova's REMOVED_COLUMNS) must be hidden on both sides, or it shows
    as missing from the live database.
    """
    if include_name is None:
        return include_object

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if not reflected and type_ in _NAMED_IN_TABLES | {"table"}:
            table = obj if type_ == "table" else getattr(obj, "table", None)
            if table is not None:
                parents = {"schema_name": table.schema,
                           "schema_qualified_table_name": f"{table.schema}.{table.name}" if table.schema
                           else table.name}
                if type_ != "table":
                    parents["table_name"] = table.name
                if not include_name(name, type_, parents):
                    return False
        return include_object(obj, name, type_, reflected, compare_to) if include_object is not None else True

    return include


_NAMED_IN_TABLES = {"column", "index", "unique_constraint", "foreign_key_constraint"}


def compare(context: MigrationContext, metadata: MetaData | Iterable[MetaData],
            dialect: str, reference: str = "the models") -> list[Difference]:
    """What would make the database behind ``context`` match ``metadata``.

    ``reference`` names what ``metadata`` stands for in the descriptions. The DDL
    of each difference is rendered for ``dialect`` and runs there: on SQLite, a
    change ALTER TABLE cannot make is rendered as the table rebuild Alembic's
    batch mode performs, one rebuild per table.
    """
    assert context.connection is not None
    with jsondefaults.compared_here(context.connection, metadata) as stand_ins:  # json has no `=` on PostgreSQL
        script = produce_migrations(context, metadata)  # type: ignore[arg-type]
    assert script.upgrade_ops is not None
    jsondefaults.restore_in_ops(script.upgrade_ops, stand_ins)
    settle(script.upgrade_ops, context.dialect)
    version = _server_major(context) if dialect == backend_name(context) else None
    differences: list[Difference] = []
    rebuilt: set[str] = set()
    for table_ops, op in _leaf_ops(script.upgrade_ops):
        batch = dialect == "sqlite" and table_ops is not None and needs_rebuild(op)
        difference = to_difference(table_ops, op, dialect, reference, batch=batch, server_version=version)
        if batch and table_ops is not None:
            key = f"{table_ops.schema}.{table_ops.table_name}"
            siblings = [o for o in table_ops.ops if needs_rebuild(o)]
            sql = ([f"-- included in the rebuild of {table_ops.table_name} above"] if key in rebuilt
                   else render_rebuild(context, table_ops.table_name, table_ops.schema, siblings))
            rebuilt.add(key)
            difference = dataclasses.replace(difference, sql=sql)
        differences.append(difference)
    # Alembic's create_table/add_column also emit the indexes of index=True
    # columns, which autogenerate lists again as create_index: show each once.
    seen: set[str] = set()
    unique: list[Difference] = []
    for diff in differences:
        sql = [s for s in diff.sql if s not in seen or s.startswith("--")]
        seen.update(sql)
        unique.append(dataclasses.replace(diff, sql=sql) if sql != diff.sql else diff)
    return unique


def backend_name(context: MigrationContext) -> str:
    return "mysql" if context.dialect.name == "mariadb" else context.dialect.name


def _server_major(context: MigrationContext) -> int | None:
    info = getattr(context.dialect, "server_version_info", None)
    return info[0] if info else None


def _leaf_ops(container: Any) -> Iterator[tuple[alembic_ops.ModifyTableOps | None, Any]]:
    for op in container.ops:
        if isinstance(op, alembic_ops.ModifyTableOps):
            for inner in op.ops:
                yield op, inner
        else:
            yield None, op


def to_difference(table_ops: alembic_ops.ModifyTableOps | None, op: Any, dialect: str,
                  reference: str = "the models", *, batch: bool = False,
                  server_version: int | None = None) -> Difference:
    kind, table, obj, description = describe(op, reference)
    wrapped = alembic_ops.ModifyTableOps(table_ops.table_name, [op], schema=table_ops.schema) if table_ops else op
    rendered = op
    if dialect == "postgresql" and table_ops is not None:  # an existing table: the fix is what autogenerate writes
        upgrade = alembic_ops.UpgradeOps(ops=[wrapped])
        if safe_ops.rewrite_for(dialect, upgrade, alembic_ops.DowngradeOps(ops=[])):
            wrapped = upgrade.ops[0]
            rendered = getattr(wrapped, "op", op)
    code = render_python_code(alembic_ops.UpgradeOps(ops=[wrapped]), render_as_batch=batch)
    code_lines = [line for line in code.splitlines() if line.strip() and not line.strip().startswith("# ###")]
    sql = safe_sql(wrapped, server_version) if dialect == "postgresql" else None
    if sql is None:
        sql = render_sql(rendered, dialect, server_version=server_version)
    return Difference(kind, table, obj, description, sql, textwrap.dedent("\n".join(code_lines)))


def _name(table: Any) -> str:
    schema = getattr(table, "schema", None)
    return f"{schema}.{table.name}" if schema else str(table.name)


def describe(op: Any, reference: str = "the models") -> tuple[str, str | None, Any, str]:
    """(kind, table, object, one readable line) for an autogenerate operation."""
    if isinstance(op, alembic_ops.CreateTableOp):
        return "add_table", op.table_name, None, f"table {op.table_name} is missing"
    if isinstance(op, alembic_ops.DropTableOp):
        return "remove_table", op.table_name, None, f"table {op.table_name} is not in {reference}"
    if isinstance(op, alembic_ops.AddColumnOp):
        col = op.column
        return ("add_column", op.table_name, col.name,
                f"column {op.table_name}.{col.name} ({col.type}) is missing")
    if isinstance(op, alembic_ops.DropColumnOp):
        return ("remove_column", op.table_name, op.column_name,
                f"column {op.table_name}.{op.column_name} is not in {reference}")
    if isinstance(op, alembic_ops.CreateIndexOp):
        cols = ", ".join(str(c) for c in op.columns)
        return ("add_index", op.table_name, op.index_name,
                f"index {op.index_name} on {op.table_name} ({cols}) is missing")
    if isinstance(op, alembic_ops.DropIndexOp):
        return ("remove_index", op.table_name, op.index_name,
                f"index {op.index_name} on {op.table_name} is not in {reference}")
    if isinstance(op, alembic_ops.CreateForeignKeyOp):
        return ("add_fk", op.source_table, op.constraint_name,
                f"foreign key {op.constraint_name or '(unnamed)'} {op.source_table}({', '.join(op.local_cols)}) -> "
                f"{op.referent_table}({', '.join(op.remote_cols)}) is missing")
    if isinstance(op, alembic_ops.CreateUniqueConstraintOp):
        return ("add_constraint", op.table_name, op.constraint_name,
                f"unique constraint {op.constraint_name or '(unnamed)'} on {op.table_name} "
                f"({', '.join(op.columns)}) is missing")
    if isinstance(op, alembic_ops.AddConstraintOp):
        table = getattr(op, "table_name", None)
        return "add_constraint", table, getattr(op, "constraint_name", None), f"constraint on {table} is missing"
    if isinstance(op, alembic_ops.DropConstraintOp):
        what = {"foreignkey": "foreign key", "unique": "unique constraint", "check": "check constraint",
                "primary": "primary key"}.get(op.constraint_type or "", "constraint")
        kind = "remove_fk" if op.constraint_type == "foreignkey" else "remove_constraint"
        return (kind, op.table_name, op.constraint_name,
                f"{what} {op.constraint_name} on {op.table_name} is not in {reference}")
    if isinstance(op, alembic_ops.AlterColumnOp):
        return _describe_alter(op, reference)
    if isinstance(op, (alembic_ops.CreateTableCommentOp, alembic_ops.DropTableCommentOp)):
        return "modify_table_comment", op.table_name, None, f"comment of table {op.table_name} differs"
    table = getattr(op, "table_name", None)
    return type(op).__name__, table, None, f"{type(op).__name__} on {table or '?'}"


def _describe_alter(op: alembic_ops.AlterColumnOp, reference: str) -> tuple[str, str | None, str | None, str]:
    where = f"{op.table_name}.{op.column_name}"
    parts: list[str] = []
    kinds: list[str] = []
    if op.modify_type is not None:
        kinds.append("modify_type")
        parts.append(f"type is {op.existing_type}, {reference} want {op.modify_type}")
    if op.modify_nullable is not None:
        kinds.append("modify_nullable")
        parts.append(f"nullable, {reference} want NOT NULL" if not op.modify_nullable
                     else f"NOT NULL, {reference} want nullable")
    if op.modify_server_default is not False:
        kinds.append("modify_default")
        parts.append(f"server default is {_default_text(op.existing_server_default)}, "
                     f"{reference} want {_default_text(op.modify_server_default)}")
    if op.modify_comment is not False:
        kinds.append("modify_comment")
        parts.append("comment differs")
    if op.modify_name is not None:
        kinds.append("modify_name")
        parts.append(f"renamed to {op.modify_name}")
    return "+".join(kinds) or "modify_column", op.table_name, op.column_name, f"column {where}: " + "; ".join(parts)


def _default_text(default: Any) -> str:
    if default is None or default is False:
        return "none"
    arg = getattr(default, "arg", default)
    text = getattr(arg, "text", None)
    return repr(text if text is not None else str(arg))


def reflect(connection: Connection, metadata: MetaData | Iterable[MetaData],
            version_table: str = "alembic_version", version_schema: str | None = None, *,
            include_name: Callable[[str | None, str, Any], bool] | None = None) -> MetaData:
    """The schema of the database behind ``connection`` as a MetaData.

    ``include_name`` is env.py's filter: a table it excludes is left out here
    too, as Alembic leaves it out of every comparison.
    """
    models = [metadata] if isinstance(metadata, MetaData) else list(metadata)
    schemas = {None} | {t.schema for md in models for t in md.tables.values()}
    reflected = MetaData()
    for schema in sorted(schemas, key=lambda s: s or ""):
        if include_name is None:
            reflected.reflect(connection, schema=schema)
        else:
            def only(name: str, _: MetaData, schema: str | None = schema) -> bool:
                return bool(include_name(name, "table", {"schema_name": schema}))
            reflected.reflect(connection, schema=schema, only=only)
    for name in (version_table, *LEDGER_TABLES):
        key = f"{version_schema}.{name}" if version_schema else name
        if key in reflected.tables:
            reflected.remove(reflected.tables[key])
    return reflected


def revision_message(differences: list[Difference]) -> str:
    """A readable revision message: 'add customers.nickname', 'add table tags', 'sync 3 model changes'."""
    if len(differences) != 1:
        return f"sync {len(differences)} model changes"
    d = differences[0]
    verb = {"add": "add", "remove": "drop", "modify": "alter"}.get(d.kind.split("_", 1)[0], "sync")
    noun = d.kind.split("_", 1)[-1].split("+")[0]
    if noun == "column" or d.kind.startswith("modify"):
        return f"{verb} {d.table}.{d.object}"
    return f"{verb} {noun} {d.object or d.table}"
