"""The forms: which operation becomes what, as operation objects (rendered by ``render``, run by ``runtime``)."""

from __future__ import annotations

import copy
import hashlib
import re
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic.operations import ops as alembic_ops
from sqlalchemy import types as sa_types
from sqlalchemy.dialects import postgresql

from safemigrate.schema.safe_ops.mysql import online_form

PREPARER = postgresql.dialect().identifier_preparer

#: An index is INVALID when a CONCURRENTLY build was interrupted; ``to_regclass`` resolves the name as
#: PostgreSQL would (search_path, quoting) and gives NULL when there is no such index.
INVALID_INDEX = ("SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:name) AND NOT indisvalid")
CONSTRAINT_EXISTS = ("SELECT 1 FROM pg_constraint WHERE conname = :name AND conrelid = to_regclass(:table)")
COLUMN_NOT_NULL = ("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :column "
                    "AND attnotnull")
COLUMN_EXISTS = ("SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:table) AND attname = :column "
                  "AND NOT attisdropped")
RELATION_EXISTS = "SELECT 1 WHERE to_regclass(:name) IS NOT NULL"
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


class SafeOp(alembic_ops.MigrateOperation):
    """A step that checks the catalog before it acts: run again, it finishes what an interrupted run began."""

    #: set on the first step of a revision whose every step is one of these: it renders the sign-off comment
    rerun_converges = False


class ConcurrentIndexOp(SafeOp):
    """Build or drop an index with CONCURRENTLY, outside the revision's transaction."""

    def __init__(self, op: alembic_ops.CreateIndexOp | alembic_ops.DropIndexOp) -> None:
        self.op = op

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


class NotValidConstraintOp(SafeOp):
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


class SetNotNullOp(SafeOp):
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


class UniqueUsingIndexOp(SafeOp):
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


class VolatileDefaultColumnOp(SafeOp):
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


class GuardedOp(SafeOp):
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

    It is not a :class:`SafeOp`: a revision with one is never signed rerunnable, and the lint still
    reports the change (``change-column-type``) until someone signs it off or follows the recipe.
    """

    def __init__(self, op: alembic_ops.AlterColumnOp) -> None:
        self.op = op

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
        return (_rewrite(upgrade_ops, lambda op: online_form(op, new_tables), split=False)
                + _rewrite(downgrade_ops, lambda op: online_form(op, new_tables), split=False))
    changed_up = _rewrite(upgrade_ops, lambda op: safe_form(op, new_tables))
    changed = changed_up + _rewrite(downgrade_ops, lambda op: safe_form(op, new_tables))
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
            for part in split_not_null(op) if split else [op]:
                replacement = transform(part)
                changed += replacement is not None and not isinstance(replacement, TypeChangeNoteOp)  # a note: no
                result.append(replacement or part)
            continue
        group: list[alembic_ops.MigrateOperation] = []
        for inner in [part for original in op.ops for part in (split_not_null(original) if split else [original])]:
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


def split_not_null(op: Any) -> list[Any]:
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


def safe_form(op: Any, new_tables: set[tuple[str | None, str]]) -> alembic_ops.MigrateOperation | None:
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
        return TypeChangeNoteOp(op)  # split_not_null left NOT NULL to an alter_column of its own
    if isinstance(op, alembic_ops.AlterColumnOp) and op.modify_nullable is False:
        if (op.schema, op.table_name) in new_tables:
            return None
        return SetNotNullOp(op)  # split_not_null left nothing else to change
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
    safe = [op for op in ops if isinstance(op, SafeOp)]
    if safe and len(safe) == len(ops):
        safe[0].rerun_converges = True


def qualified(name: str, schema: str | None) -> str:
    """``name`` as PostgreSQL's regclass input reads it (quoted where needed)."""
    quoted = PREPARER.quote(str(name))
    return f"{PREPARER.quote_schema(schema)}.{quoted}" if schema else quoted
