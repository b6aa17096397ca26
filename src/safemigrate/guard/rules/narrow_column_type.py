"""narrow-column-type: ALTER COLUMN ... TYPE to a bounded type (varchar(n), integer, numeric(p, s)...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    existing_table_commands,
    looks_at,
    placed,
    sign_off_fix,
    split_schema,
    type_modifiers,
    type_name,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

# Types whose length or range is bounded: changing a column to one of them narrows it unless
# it was already at most as wide. Unbounded targets (text, bigint, numeric, varchar,
# timestamp, timestamptz...) are never narrowing and are not reported.
_LENGTH = {"varchar": "varchar", "bpchar": "char", "bit": "bit", "varbit": "varbit"}
_RANGE = {"int2": ("smallint", 32767), "int4": ("integer", 2147483647)}


@rule("narrow-column-type", severity="error", category="destructive",
      summary="Changing a column to a narrower type fails on, cuts or rounds existing values",
      dialects=("postgresql",))
@looks_at(ast.AlterTableStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Changing a column to a shorter ``varchar(n)``, from ``text`` to ``varchar(n)``,
    from ``bigint`` to ``integer`` or ``smallint``, or to a ``numeric`` with less
    precision or scale makes the migration fail on values that no longer fit, or
    silently cuts or rounds them (numeric scale, an explicit ``USING`` cast); and
    running code that still writes wider values breaks. Only the new type is known
    here, so any change to a bounded type is reported.

    Bad::

        def upgrade():
            op.alter_column("users", "email", type_=sa.String(50))

    Good::

        # check first: SELECT count(*) FROM users WHERE length(email) > 50  -- must be 0
        from safemigrate import allow

        def upgrade():
            with allow("narrow-column-type", "users.email", reason="max length is 42, app validates 50"):
                op.alter_column("users", "email", type_=sa.String(50))
    """
    if statement.dialect != "postgresql":
        return
    for cmd, _, table, where, _ in existing_table_commands(statement, context, AlterTableType.AT_AlterColumnType):
        bound = _bound(cmd.def_.typeName) if cmd.def_ is not None else None
        if bound is not None:
            yield placed(_violation(table, cmd.name, *bound), where)


def _bound(type_node: Any) -> tuple[str, str, str] | None:
    """(type as written, the check query condition, sa type) when the type is bounded."""
    name = type_name(type_node).rsplit(".", 1)[-1]
    mods = type_modifiers(type_node)
    if name in _LENGTH and mods:
        shown = f"{_LENGTH[name]}({mods[0]})"
        sa_type = {"varchar": f"sa.String({mods[0]})", "bpchar": f"sa.CHAR({mods[0]})"}.get(name, "")
        return shown, f"length({{col}}) > {mods[0]}", sa_type
    if name in _RANGE:
        shown, limit = _RANGE[name]
        sa_type = "sa.SmallInteger()" if name == "int2" else "sa.Integer()"
        return shown, f"{{col}} NOT BETWEEN {-limit - 1} AND {limit}", sa_type
    if name == "numeric" and mods:
        precision, scale = mods[0], (mods[1] if len(mods) > 1 else 0)
        shown = f"numeric({precision}, {scale})"
        return (shown, f"{{col}} <> round({{col}}, {scale}) OR abs({{col}}) >= 1e{precision - scale}",
                f"sa.Numeric({precision}, {scale})")
    if name == "float4":
        return "real", "", "sa.REAL()"
    return None


def _violation(table: str, column: str, shown: str, condition: str, sa_type: str) -> Violation:
    bare, schema = split_schema(table)
    check_line = (f"# check first: SELECT count(*) FROM {table} WHERE {condition.format(col=column)}  -- must be 0\n"
                  if condition else "")
    change = (f'op.alter_column("{bare}", "{column}", type_={sa_type}{schema})' if sa_type
              else f'op.execute("ALTER TABLE {table} ALTER COLUMN {column} TYPE {shown}")')
    return Violation(
        message=f"Changing column `{table}.{column}` to `{shown}` narrows it if it was wider: values that no "
                "longer fit make the migration fail or are cut or rounded, and running code that writes them "
                "breaks.",
        help="Keep the wider type, or check first that every value fits (and that the application never "
             "writes wider ones), then sign the change off explicitly.",
        target=f"{table}.{column}",
        fix=check_line + sign_off_fix("narrow-column-type", f"{table}.{column}", "every value fits", change),
    )
