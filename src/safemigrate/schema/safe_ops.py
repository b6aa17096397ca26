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

from __future__ import annotations

import copy
import hashlib
import re
import textwrap
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op
from alembic.operations import ops as alembic_ops
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import postgresql

_PREPARER = postgresql.dialect().identifier_preparer

#: An index is INVALID when a CONCURRENTLY build was interrupted; ``to_regclass`` resolves the name as
#: PostgreSQL would (search_path, quoting) and gives NULL when there is no such index.
_INVALID_INDEX = ("SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:name) AND NOT indisvalid")
_CONSTRAINT_EXISTS = ("SELECT 1 FROM pg_constraint WHERE conname = :name AND conrelid = to_regclass(:table)")
_COLUMN_NOT_NULL = ("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :column "
                    "AND attnotnull")
_COLUMN_EXISTS = ("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :column "
                  "AND NOT attisdropped")
_RELATION_EXISTS = "SELECT 1 WHERE to_regclass(:name) IS NOT NULL"
#: Functions PostgreSQL marks volatile (``pg_proc.provolatile = 'v'``) that are seen in column defaults:
#: the same list as the ``add-column-volatile-default`` rule's. A function not listed is taken as stable.
VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
    "uuidv4", "uuidv7", "gen_random_bytes", "clock_timestamp", "timeofday", "nextval", "txid_current",
    "pg_current_xact_id"})
_CALLED = re.compile(r"([A-Za-z_][\w.]*)\s*\(")
_RERUN_CONVERGES = re.compile(r"#\s*safemigrate:\s*rerun-converges\b")
#: PostgreSQL truncates longer identifiers, and the catalog would then hold another name than the one asked for
_MAX_IDENTIFIER = 63


class _SafeOp(alembic_ops.MigrateOperation):
    """A step that checks the catalog before it acts: run again, it finishes what an interrupted run began."""

    #: set on the first step of a revision whose every step is one of these: it renders the sign-off comment
    rerun_converges = False


class ConcurrentIndexOp(_SafeOp):
    """Build or drop an index with CONCURRENTLY, outside the revision's transaction."""

    def __init__(self, op: alembic_ops.CreateIndexOp | alembic_ops.DropIndexOp) -> None:
        self.op = op

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class NotValidConstraintOp(_SafeOp):
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


class SetNotNullOp(_SafeOp):
    """SET NOT NULL proved by a validated CHECK first, so it takes its strong lock without scanning."""

    def __init__(self, op: alembic_ops.AlterColumnOp) -> None:
        self.op = op

    @property
    def check_name(self) -> str:
        name = f"ck_{self.op.table_name}_{self.op.column_name}_not_null"
        if len(name) > _MAX_IDENTIFIER:
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            name = f"{name[:_MAX_IDENTIFIER - 9]}_{digest}"
        return name

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class UniqueUsingIndexOp(_SafeOp):
    """A unique constraint attached to a unique index built CONCURRENTLY before."""

    def __init__(self, op: alembic_ops.CreateUniqueConstraintOp, index: alembic_ops.CreateIndexOp) -> None:
        self.op = op
        self.index = index

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class PrimaryKeyUsingIndexOp(UniqueUsingIndexOp):
    """A primary key: its columns made NOT NULL through validated checks, then as for a unique constraint."""

    def __init__(self, op: alembic_ops.CreatePrimaryKeyOp, index: alembic_ops.CreateIndexOp) -> None:
        self.op = op  # type: ignore[assignment]  # the same attributes that matter: name, table, schema, kw
        self.index = index
        self.not_null = [SetNotNullOp(alembic_ops.AlterColumnOp(op.table_name, column, schema=op.schema,
                                                                modify_nullable=False))
                         for column in op.columns]


class VolatileDefaultColumnOp(_SafeOp):
    """A column whose default is computed per row: added empty, its default set, old rows filled in batches."""

    def __init__(self, op: alembic_ops.AddColumnOp, expression: str) -> None:
        self.op = op
        self.expression = expression
        column = op.column._copy()
        column.server_default = None
        column.nullable = True
        self.add = alembic_ops.AddColumnOp(op.table_name, column, schema=op.schema)
        self.not_null = (SetNotNullOp(alembic_ops.AlterColumnOp(op.table_name, column.name, schema=op.schema,
                                                                existing_type=column.type, modify_nullable=False))
                         if op.column.nullable is False else None)

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class GuardedOp(_SafeOp):
    """An operation Alembic wrote as it is, run only when the catalog shows it has not run yet.

    In a revision with an autocommit block, what comes before the block commits with it; a rerun after an
    interruption must not fail on a column or table that is already there.
    """

    def __init__(self, op: alembic_ops.AddColumnOp | alembic_ops.CreateTableOp | alembic_ops.CreateIndexOp) -> None:
        self.op = op

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class TypeChangeNoteOp(alembic_ops.MigrateOperation):
    """A type change kept as Alembic wrote it, with the safe recipe beside it: never rewritten silently.

    It is not a :class:`_SafeOp`: a revision with one is never signed rerunnable, and the lint still
    reports the change (``change-column-type``) until someone signs it off or follows the recipe.
    """

    def __init__(self, op: alembic_ops.AlterColumnOp) -> None:
        self.op = op

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class OnlineDdlOp(alembic_ops.MigrateOperation):
    """MySQL/MariaDB: the operation's DDL with the ALGORITHM/LOCK clause that makes the server refuse, not lock.

    Without the clause the server picks the algorithm itself, and falls back to copying the table (writes
    blocked) without a word when it cannot do better; with it, the statement fails instead.
    """

    def __init__(self, op: Any, sql: str, why: str, exists: str, params: dict[str, str], *, create: bool) -> None:
        self.op = op
        self.sql = sql
        self.why = why
        self.exists = exists  # SQL giving a row when the object is there
        self.params = params
        self.create = create

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


def rewrite_for(dialect: str, upgrade_ops: alembic_ops.UpgradeOps, downgrade_ops: alembic_ops.DowngradeOps) -> int:
    """Rewrite both directions of a revision in place for ``dialect``; return how many operations changed.

    Tables created in either direction are new: what is done to them cannot block anyone.
    """
    if dialect not in ("postgresql", "mysql"):
        return 0  # SQLite: the project's batch mode (render_as_batch) copies the table anyway
    new_tables = _created_tables(upgrade_ops) | _created_tables(downgrade_ops)
    if dialect == "mysql":
        # no split of alter_column there: each MODIFY rebuilds the table
        return (_rewrite(upgrade_ops, lambda op: _online_form(op, new_tables), split=False)
                + _rewrite(downgrade_ops, lambda op: _online_form(op, new_tables), split=False))
    changed_up = _rewrite(upgrade_ops, lambda op: _safe_form(op, new_tables))
    changed = changed_up + _rewrite(downgrade_ops, lambda op: _safe_form(op, new_tables))
    if changed_up:
        # the first autocommit block commits what came before it: a rerun must find that done and go on
        _rewrite(upgrade_ops, _guarded_form)
        _mark_rerun_converges(upgrade_ops)
    return changed


def reruns_converge(path: str | Path) -> bool:
    """Whether a revision file carries the ``# safemigrate: rerun-converges`` comment.

    safemigrate writes it on a revision whose every upgrade step checks the catalog before it acts (the
    forms of this module), so that running it again after an interruption finishes the job: the runner then
    reruns such a revision instead of refusing it as an interrupted one. Like any sign-off it is a claim
    whoever keeps it makes: a step added by hand that must not run twice means the line must go.
    """
    try:
        with open(path, "rb") as handle:
            tokens = list(tokenize.tokenize(handle.readline))
    except (OSError, SyntaxError, tokenize.TokenError, UnicodeDecodeError):
        return False
    return any(t.type == tokenize.COMMENT and _RERUN_CONVERGES.match(t.string) for t in tokens)


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


def _rewrite(container: alembic_ops.OpContainer,
             transform: Callable[[Any], alembic_ops.MigrateOperation | None], *, split: bool = True) -> int:
    """Replace in place; a rewritten operation leaves its table's group and stands on its own.

    Outside the group it renders with ``op.`` at the top level even where the project renders batch
    blocks (``render_as_batch``): an autocommit block has no place inside ``batch_alter_table``.
    """
    changed = 0
    result: list[alembic_ops.MigrateOperation] = []
    for op in container.ops:
        if not isinstance(op, alembic_ops.ModifyTableOps):
            for part in _split(op) if split else [op]:
                replacement = transform(part)
                changed += replacement is not None and not isinstance(replacement, TypeChangeNoteOp)  # a note: no
                result.append(replacement or part)
            continue
        group: list[alembic_ops.MigrateOperation] = []
        for inner in [part for original in op.ops for part in (_split(original) if split else [original])]:
            replacement = transform(inner)
            if replacement is None:
                group.append(inner)
                continue
            changed += not isinstance(replacement, TypeChangeNoteOp)
            if group:
                result.append(alembic_ops.ModifyTableOps(op.table_name, group, schema=op.schema))
                group = []
            result.append(replacement)
        if group or not op.ops:
            result.append(alembic_ops.ModifyTableOps(op.table_name, group, schema=op.schema) if group != op.ops
                          else op)
    container.ops = result
    return changed


def _split(op: Any) -> list[Any]:
    """``alter_column`` that sets NOT NULL and changes more: the other changes first, then NOT NULL alone."""
    if not isinstance(op, alembic_ops.AlterColumnOp) or op.modify_nullable is not False:
        return [op]
    others = copy.copy(op)
    others.modify_nullable = None
    if (op.modify_type is None and op.modify_server_default is False and op.modify_comment is False
            and op.modify_name is None):
        return [op]
    not_null = alembic_ops.AlterColumnOp(
        op.table_name, op.modify_name or op.column_name, schema=op.schema,
        existing_type=op.modify_type if op.modify_type is not None else op.existing_type,
        existing_server_default=(op.modify_server_default if op.modify_server_default is not False
                                 else op.existing_server_default),
        existing_nullable=op.existing_nullable,
        existing_comment=op.modify_comment if op.modify_comment is not False else op.existing_comment,
        modify_nullable=False)
    return [others, not_null]


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
    if isinstance(op, alembic_ops.AlterColumnOp) and op.modify_type is not None:
        if (op.schema, op.table_name) in new_tables or not _may_rewrite(op.existing_type, op.modify_type):
            return None
        return TypeChangeNoteOp(op)  # _split left NOT NULL to an alter_column of its own
    if isinstance(op, alembic_ops.AlterColumnOp) and op.modify_nullable is False:
        if (op.schema, op.table_name) in new_tables:
            return None
        return SetNotNullOp(op)  # _split left nothing else to change
    if isinstance(op, alembic_ops.CreateUniqueConstraintOp):
        if (op.schema, op.table_name) in new_tables:
            return None
        unique = copy.copy(op)
        # USING INDEX needs a name: the one PostgreSQL would give it when the models give none
        name = op.constraint_name if isinstance(op.constraint_name, str) else None
        unique.constraint_name = name or "_".join([op.table_name, *op.columns, "key"])
        index_kw = {k: v for k, v in op.kw.items() if k.startswith("postgresql_")}
        index = alembic_ops.CreateIndexOp(unique.constraint_name, op.table_name, list(op.columns),
                                          schema=op.schema, unique=True, **index_kw)
        return UniqueUsingIndexOp(unique, concurrently(index))
    if isinstance(op, alembic_ops.AddColumnOp) and (op.schema, op.table_name) not in new_tables:
        expression = volatile_default(op.column)
        return VolatileDefaultColumnOp(op, expression) if expression is not None else None
    if isinstance(op, alembic_ops.CreatePrimaryKeyOp):
        if (op.schema, op.table_name) in new_tables:
            return None
        primary = copy.copy(op)
        name = op.constraint_name if isinstance(op.constraint_name, str) else None
        primary.constraint_name = name or f"{op.table_name}_pkey"
        index = alembic_ops.CreateIndexOp(primary.constraint_name, op.table_name, list(op.columns),
                                          schema=op.schema, unique=True)
        return PrimaryKeyUsingIndexOp(primary, concurrently(index))
    return None


_MYSQL_INDEX_EXISTS = ("SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() "
                       "AND table_name = :table AND index_name = :name")
_MYSQL_COLUMN_EXISTS = ("SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() "
                        "AND table_name = :table AND column_name = :name")
_INPLACE = ("MySQL/MariaDB: ALGORITHM=INPLACE, LOCK=NONE {} it while reads and writes go on; a server that "
            "cannot do it that way fails here instead of locking the table")
_INSTANT = ("MySQL 8.0.12+/MariaDB 10.3.2+: ALGORITHM=INSTANT changes the catalog only; a server that would "
            "copy the table fails here instead of locking it")


def _online_form(op: Any, new_tables: set[tuple[str | None, str]]) -> alembic_ops.MigrateOperation | None:
    """The MySQL/MariaDB statement of ``op`` with its ALGORITHM/LOCK clause, or None to keep Alembic's."""
    from sqlalchemy.dialects import mysql
    from sqlalchemy.schema import AddConstraint, CreateColumn, CreateIndex

    table = getattr(op, "table_name", None)
    if table is None or op.schema is not None or (op.schema, table) in new_tables:
        return None
    dialect = mysql.dialect()
    quote = dialect.identifier_preparer.quote
    # ALTER TABLE ..., ALGORITHM=..., LOCK=...: the form the guard's MySQL parser reads (CREATE INDEX ... ALGORITHM not)
    if isinstance(op, alembic_ops.CreateIndexOp) and op.index_name is not None and "mysql_prefix" not in op.kw:
        created = str(CreateIndex(op.to_index()).compile(dialect=dialect))
        _, on, columns = created.partition(f" ON {quote(table)} ")
        if not on:
            return None
        unique = "UNIQUE " if op.unique else ""
        return OnlineDdlOp(op, f"ALTER TABLE {quote(table)} ADD {unique}INDEX {quote(str(op.index_name))} {columns}, "
                           "ALGORITHM=INPLACE, LOCK=NONE", _INPLACE.format("builds"), _MYSQL_INDEX_EXISTS,
                           {"table": table, "name": str(op.index_name)}, create=True)
    if isinstance(op, alembic_ops.DropIndexOp):
        return OnlineDdlOp(op, f"ALTER TABLE {quote(table)} DROP INDEX {quote(str(op.index_name))}, "
                           "ALGORITHM=INPLACE, LOCK=NONE", _INPLACE.format("drops"), _MYSQL_INDEX_EXISTS,
                           {"table": table, "name": str(op.index_name)}, create=False)
    if isinstance(op, alembic_ops.CreateUniqueConstraintOp) and isinstance(op.constraint_name, str):
        sql = str(AddConstraint(op.to_constraint()).compile(dialect=dialect))
        return OnlineDdlOp(op, f"{sql}, ALGORITHM=INPLACE, LOCK=NONE", _INPLACE.format("builds"), _MYSQL_INDEX_EXISTS,
                           {"table": table, "name": op.constraint_name}, create=True)
    if isinstance(op, alembic_ops.AddColumnOp):
        column = op.column
        if column.foreign_keys or column.primary_key or column.computed is not None or column.identity is not None:
            return None
        spec = str(CreateColumn(column).compile(dialect=dialect))
        return OnlineDdlOp(op, f"ALTER TABLE {quote(table)} ADD COLUMN {spec}, ALGORITHM=INSTANT", _INSTANT,
                           _MYSQL_COLUMN_EXISTS, {"table": table, "name": str(column.name)}, create=True)
    return None


def volatile_default(column: Any) -> str | None:
    """The SQL of ``column``'s server default when it calls a function PostgreSQL marks volatile, else None.

    Read from the expression's text against :data:`VOLATILE_FUNCTIONS` (the generator has no database to ask
    ``pg_proc.provolatile``). ``now()``/``CURRENT_TIMESTAMP`` are stable: PostgreSQL 11+ adds such a column
    without touching the rows, and it stays as Alembic wrote it.
    """
    default = getattr(column, "server_default", None)
    arg = getattr(default, "arg", None)
    if arg is None:
        return None
    sql = str(getattr(arg, "text", arg))
    called = {name.rsplit(".", 1)[-1].lower() for name in _CALLED.findall(sql)}
    return sql if called & VOLATILE_FUNCTIONS else None


def _may_rewrite(before: Any, after: Any) -> bool:
    """False only for changes PostgreSQL makes by relabelling: a string widened, or made ``text``."""
    if isinstance(before, sa_types.String) and isinstance(after, sa_types.String):
        if isinstance(after, sa_types.Text) or after.length is None:
            return False
        return before.length is None or after.length < before.length
    return True


def _guarded_form(op: Any) -> alembic_ops.MigrateOperation | None:
    if isinstance(op, alembic_ops.AddColumnOp | alembic_ops.CreateTableOp):
        return GuardedOp(op)
    if isinstance(op, alembic_ops.CreateIndexOp) and op.index_name is not None:  # on a table of this revision
        return GuardedOp(op)
    return None


def _mark_rerun_converges(container: alembic_ops.OpContainer) -> None:
    """Sign the revision as rerunnable when every step of it is one of the convergent forms."""
    ops = [inner for op in container.ops
           for inner in (op.ops if isinstance(op, alembic_ops.ModifyTableOps) else [op])]
    safe = [op for op in ops if isinstance(op, _SafeOp)]
    if safe and len(safe) == len(ops):
        safe[0].rerun_converges = True


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


def _allow(autogen_context: AutogenContext, rule: str, target: str, reason: str) -> str:
    """``with allow(...)``: safemigrate's sign-off, imported at the top of the generated file."""
    autogen_context.imports.add("from safemigrate import allow")
    return f"with allow({rule!r}, {target!r}, reason={reason!r}):"


def _render_set_not_null(autogen_context: AutogenContext, op: SetNotNullOp) -> list[str]:
    alter = op.op
    op_, name = _op_prefix(autogen_context), op.check_name
    table = _qualified(alter.table_name, alter.schema)
    target = f"{alter.schema}.{alter.table_name}" if alter.schema else alter.table_name
    schema = f", schema={alter.schema!r}" if alter.schema else ""
    condition = f"{_PREPARER.quote(alter.column_name)} IS NOT NULL"
    check_exists = _query(autogen_context, _CONSTRAINT_EXISTS, name=name, table=table)
    not_null = _query(autogen_context, _COLUMN_NOT_NULL, table=table, column=alter.column_name)
    offline = _offline(autogen_context)
    validate = f"ALTER TABLE {table} VALIDATE CONSTRAINT {_PREPARER.quote(name)}"
    # Alembic's printer indents after a line ending in ":" and goes back one level at each blank line
    return ["# SET NOT NULL scans the table under its ACCESS EXCLUSIVE lock unless a validated CHECK proves it",
            "# (PostgreSQL 12+): add the check NOT VALID (only new rows are checked), unless a rerun finds it",
            f"if {offline} or not ({check_exists} or {not_null}):",
            f"{op_}create_check_constraint({op_}f({name!r}), {alter.table_name!r}, {condition!r}{schema}, "
            "postgresql_not_valid=True)",
            "",
            "# after the ADD has committed: the validation scan lets writes go on, SET NOT NULL skips its scan",
            _autocommit(autogen_context),
            f"if {offline} or {check_exists}:",
            f"{op_}execute({validate!r})",
            "",
            f"if {offline} or not {not_null}:",
            _allow(autogen_context, "set-not-null", f"{target}.{alter.column_name}",
                   f"validated check {name} proves it"),
            *render_op(autogen_context, alter),
            "",
            "",
            f"if {offline} or {check_exists}:",
            _allow(autogen_context, "drop-constraint", f"{target}.{name}",
                   "NOT NULL now holds what the check proved"),
            f"{op_}drop_constraint({op_}f({name!r}), {alter.table_name!r}, type_='check'{schema})",
            "",
            "",
            ""]


def _render_unique_using_index(autogen_context: AutogenContext, op: UniqueUsingIndexOp) -> list[str]:
    unique = op.op
    name = str(unique.constraint_name)
    table = _qualified(unique.table_name, unique.schema)
    kind = "UNIQUE"
    lines = ["# a unique constraint: its index built CONCURRENTLY first, so writes go on during the build"]
    if isinstance(op, PrimaryKeyUsingIndexOp):
        kind, lines = "PRIMARY KEY", ["# a primary key: its columns NOT NULL first (USING INDEX would scan for NULLs "
                                      "under its lock), then its index built CONCURRENTLY"]
        lines += [line for step in op.not_null for line in _render_set_not_null(autogen_context, step)]
    attach = (f"ALTER TABLE {table} ADD CONSTRAINT {_PREPARER.quote(name)} {kind} USING INDEX "
              f"{_PREPARER.quote(name)}")
    if unique.kw.get("deferrable") is not None:
        attach += " DEFERRABLE" if unique.kw["deferrable"] else " NOT DEFERRABLE"
    if unique.kw.get("initially"):
        attach += f" INITIALLY {unique.kw['initially']}"
    return [*lines,
            *_render_concurrent_index(autogen_context, ConcurrentIndexOp(op.index)),
            "# attaching the built index is instant; a rerun after an interruption finds it attached",
            f"if {_offline(autogen_context)} or not "
            f"{_query(autogen_context, _CONSTRAINT_EXISTS, name=name, table=table)}:",
            f"{_op_prefix(autogen_context)}execute({attach!r})",
            ""]


def _render_volatile_default(autogen_context: AutogenContext, op: VolatileDefaultColumnOp) -> list[str]:
    add = op.add
    table = _qualified(add.table_name, add.schema)
    column = str(add.column.name)
    autogen_context.imports.add("from safemigrate.schema.backfill import backfill")
    set_default = alembic_ops.AlterColumnOp(add.table_name, column, schema=add.schema, existing_type=add.column.type,
                                            modify_server_default=op.op.column.server_default)
    schema = f", schema={add.schema!r}" if add.schema else ""
    lines = [f"# {op.expression} is computed for each row: adding the column with it would rewrite the table under",
             "# its ACCESS EXCLUSIVE lock. Added empty instead (instant), the default set for new rows, and the",
             "# rows already there filled in batches of their own transactions (a rerun fills only those left)",
             f"if {_offline(autogen_context)} or not "
             f"{_query(autogen_context, _COLUMN_EXISTS, table=table, column=column)}:",
             *render_op(autogen_context, add),
             "",
             *render_op(autogen_context, set_default),
             _autocommit(autogen_context),
             f"if not {_offline(autogen_context)}:",
             f"backfill({_op_prefix(autogen_context)}get_bind(), {add.table_name!r}, {column!r}, "
             f"{op.expression!r}{schema}, batch_size=1000, pause=0.05)",
             "",
             ""]
    if op.not_null is not None:
        lines += _render_set_not_null(autogen_context, op.not_null)
    return lines


def _render_type_change(autogen_context: AutogenContext, op: TypeChangeNoteOp) -> list[str]:
    alter = op.op
    table, column = alter.table_name, alter.column_name
    target = f"{alter.schema}.{table}" if alter.schema else table
    assert alter.modify_type is not None
    new_type = alter.modify_type.compile(dialect=postgresql.dialect())
    using = f"{_PREPARER.quote(column)}::{new_type}"
    new = f"{column}_new"
    return [f"# Changing {target}.{column} to {new_type} rewrites {target} and rebuilds its indexes under an ACCESS",
            "# EXCLUSIVE lock: reads and writes wait until it finishes (lint: change-column-type). Kept as",
            "# autogenerate wrote it, for a small table; sign it off there: with allow('change-column-type',",
            f"# {f'{target}.{column}'!r}, reason='...'). On a large table, expand and contract instead:",
            f"#   1. op.add_column({table!r}, sa.Column({new!r}, <the new type>)); the application writes both",
            "#   2. fill old rows in batches of their own transactions:",
            f"#      with op.get_context().autocommit_block(): backfill(op.get_bind(), {table!r}, {new!r},",
            f"#          {using!r})  (from safemigrate.schema.backfill import backfill)",
            f"#   3. reads move to {new}; a later revision drops {column} and renames {new} (each signed off)",
            *render_op(autogen_context, alter)]


def _render_online_ddl(autogen_context: AutogenContext, op: OnlineDdlOp) -> list[str]:
    op_ = _op_prefix(autogen_context)
    exists = f"{op_}get_bind().execute({_sa_prefix(autogen_context)}text({op.exists!r}), {op.params!r}).first()"
    condition = f"not {exists}" if op.create else exists
    lines = [f"# {line}" for line in textwrap.wrap(op.why, 100)]
    return [*lines,
            "# (each DDL statement commits on its own here: a rerun finds what is done and goes on)",
            f"if {_offline(autogen_context)} or {condition}:",
            f"{op_}execute({op.sql!r})",
            ""]


def _render_guarded(autogen_context: AutogenContext, op: GuardedOp) -> list[str]:
    inner = op.op
    if isinstance(inner, alembic_ops.AddColumnOp):
        table = _qualified(inner.table_name, inner.schema)
        exists = _query(autogen_context, _COLUMN_EXISTS, table=table, column=str(inner.column.name))
    elif isinstance(inner, alembic_ops.CreateTableOp):
        exists = _query(autogen_context, _RELATION_EXISTS, name=_qualified(inner.table_name, inner.schema))
    else:
        exists = _query(autogen_context, _RELATION_EXISTS, name=_qualified(str(inner.index_name), inner.schema))
    return ["# an autocommit block commits it with what came before: a rerun after an interruption finds it there",
            f"if {_offline(autogen_context)} or not {exists}:",
            *render_op(autogen_context, inner),
            ""]


_RERUN_LINES = ["# safemigrate: rerun-converges -- every step below checks the catalog before it acts, so",
                "# `safemigrate migrate` finishes this revision after an interruption instead of refusing it;",
                "# delete this line if you add a step that must not run twice."]


def _register(kind: type[_SafeOp], render: Callable[[AutogenContext, Any], list[str]]) -> None:
    """Alembic's renderer for ``kind``; the first step of a revision signed rerunnable carries the comment."""

    def rendered(autogen_context: AutogenContext, op: _SafeOp) -> list[str]:
        lines = render(autogen_context, op)
        return [*_RERUN_LINES, *lines] if op.rerun_converges else lines

    renderers.dispatch_for(kind)(rendered)


renderers.dispatch_for(TypeChangeNoteOp)(_render_type_change)
renderers.dispatch_for(OnlineDdlOp)(_render_online_ddl)
for _kind, _render in ((ConcurrentIndexOp, _render_concurrent_index),
                       (NotValidConstraintOp, _render_not_valid_constraint),
                       (SetNotNullOp, _render_set_not_null), (UniqueUsingIndexOp, _render_unique_using_index),
                       (PrimaryKeyUsingIndexOp, _render_unique_using_index),
                       (VolatileDefaultColumnOp, _render_volatile_default),
                       (GuardedOp, _render_guarded)):
    _register(_kind, _render)
