"""Alembic renderers (``renderers.dispatch_for``, its documented extension point) for the forms: plain ``op.*`` code."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable
from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op
from alembic.operations import ops as alembic_ops
from sqlalchemy.dialects import postgresql

from safemigrate.schema.safe_ops.forms import (
    COLUMN_EXISTS,
    COLUMN_NOT_NULL,
    CONSTRAINT_EXISTS,
    INVALID_INDEX,
    PREPARER,
    RELATION_EXISTS,
    ConcurrentIndexOp,
    GuardedOp,
    NotValidConstraintOp,
    PrimaryKeyUsingIndexOp,
    SafeOp,
    SetNotNullOp,
    TypeChangeNoteOp,
    UniqueUsingIndexOp,
    VolatileDefaultColumnOp,
    qualified,
)
from safemigrate.schema.safe_ops.mysql import OnlineDdlOp


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
        name = qualified(inner.index_name, inner.schema)
        drop = alembic_ops.DropIndexOp(inner.index_name, table_name=inner.table_name, schema=inner.schema,
                                       if_exists=True, postgresql_concurrently=True)
        lines += ["# a build interrupted earlier leaves an INVALID index, which IF NOT EXISTS would keep",
                  f"if not {_offline(autogen_context)} and {_query(autogen_context, INVALID_INDEX, name=name)}:",
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
    table = qualified(table_name, schema)
    validate = f"ALTER TABLE {table} VALIDATE CONSTRAINT {PREPARER.quote(name)}"
    return ["# NOT VALID checks only new rows; rerun after an interruption, it is already there",
            f"if {_offline(autogen_context)} or not "
            f"{_query(autogen_context, CONSTRAINT_EXISTS, name=name, table=table)}:",
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
    table = qualified(alter.table_name, alter.schema)
    target = f"{alter.schema}.{alter.table_name}" if alter.schema else alter.table_name
    schema = f", schema={alter.schema!r}" if alter.schema else ""
    condition = f"{PREPARER.quote(alter.column_name)} IS NOT NULL"
    check_exists = _query(autogen_context, CONSTRAINT_EXISTS, name=name, table=table)
    not_null = _query(autogen_context, COLUMN_NOT_NULL, table=table, column=alter.column_name)
    offline = _offline(autogen_context)
    validate = f"ALTER TABLE {table} VALIDATE CONSTRAINT {PREPARER.quote(name)}"
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
    table = qualified(unique.table_name, unique.schema)
    kind = "UNIQUE"
    lines = ["# a unique constraint: its index built CONCURRENTLY first, so writes go on during the build"]
    if isinstance(op, PrimaryKeyUsingIndexOp):
        kind, lines = "PRIMARY KEY", ["# a primary key: its columns NOT NULL first (USING INDEX would scan for NULLs "
                                      "under its lock), then its index built CONCURRENTLY"]
        lines += [line for step in op.not_null for line in _render_set_not_null(autogen_context, step)]
    attach = (f"ALTER TABLE {table} ADD CONSTRAINT {PREPARER.quote(name)} {kind} USING INDEX "
              f"{PREPARER.quote(name)}")
    if unique.kw.get("deferrable") is not None:
        attach += " DEFERRABLE" if unique.kw["deferrable"] else " NOT DEFERRABLE"
    if unique.kw.get("initially"):
        attach += f" INITIALLY {unique.kw['initially']}"
    return [*lines,
            *_render_concurrent_index(autogen_context, ConcurrentIndexOp(op.index)),
            "# attaching the built index is instant; a rerun after an interruption finds it attached",
            f"if {_offline(autogen_context)} or not "
            f"{_query(autogen_context, CONSTRAINT_EXISTS, name=name, table=table)}:",
            f"{_op_prefix(autogen_context)}execute({attach!r})",
            ""]


def _render_volatile_default(autogen_context: AutogenContext, op: VolatileDefaultColumnOp) -> list[str]:
    add = op.add
    table = qualified(add.table_name, add.schema)
    column = str(add.column.name)
    autogen_context.imports.add("from safemigrate.schema.backfill import backfill")
    set_default = alembic_ops.AlterColumnOp(add.table_name, column, schema=add.schema, existing_type=add.column.type,
                                            modify_server_default=op.op.column.server_default)
    schema = f", schema={add.schema!r}" if add.schema else ""
    lines = [f"# {op.expression} is computed for each row: adding the column with it would rewrite the table under",
             "# its ACCESS EXCLUSIVE lock. Added empty instead (instant), the default set for new rows, and the",
             "# rows already there filled in batches of their own transactions (a rerun fills only those left)",
             f"if {_offline(autogen_context)} or not "
             f"{_query(autogen_context, COLUMN_EXISTS, table=table, column=column)}:",
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
    using = f"{PREPARER.quote(column)}::{new_type}"
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
        table = qualified(inner.table_name, inner.schema)
        exists = _query(autogen_context, COLUMN_EXISTS, table=table, column=str(inner.column.name))
    elif isinstance(inner, alembic_ops.CreateTableOp):
        exists = _query(autogen_context, RELATION_EXISTS, name=qualified(inner.table_name, inner.schema))
    else:
        exists = _query(autogen_context, RELATION_EXISTS, name=qualified(str(inner.index_name), inner.schema))
    return ["# an autocommit block commits it with what came before: a rerun after an interruption finds it there",
            f"if {_offline(autogen_context)} or not {exists}:",
            *render_op(autogen_context, inner),
            ""]


_RERUN_LINES = ["# safemigrate: rerun-converges -- every step below checks the catalog before it acts, so",
                "# `safemigrate migrate` finishes this revision after an interruption instead of refusing it;",
                "# delete this line if you add a step that must not run twice."]


def _register(kind: type[SafeOp], render: Callable[[AutogenContext, Any], list[str]]) -> None:
    """Alembic's renderer for ``kind``; the first step of a revision signed rerunnable carries the comment."""

    def rendered(autogen_context: AutogenContext, op: SafeOp) -> list[str]:
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
