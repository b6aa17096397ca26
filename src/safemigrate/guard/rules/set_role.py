"""set-role: SET ROLE, SET SESSION AUTHORIZATION, set_config('role', ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast
from pglast.enums import VariableSetKind

from safemigrate.guard.analysis.pg import executed_nodes, placed, sql_of, statements_run, string_values
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_SETTINGS = {"role": "SET ROLE", "session_authorization": "SET SESSION AUTHORIZATION"}


@rule("set-role", severity="error", category="destructive",
      summary="Switching roles makes the rest of the revision run with another role's rights")
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """After ``SET ROLE`` or ``SET SESSION AUTHORIZATION`` (or ``set_config('role',
    ...)``), what the revision does next runs with another role's rights than the
    ones the migration was reviewed and checked with: it can reach what the
    migration's role cannot, the objects it creates belong to that role, and
    safemigrate's run-time guard reads the catalog as someone else. The run-time
    guard refuses the switch in production, with no sign-off; this rule shows it
    before. ``RESET ROLE`` and ``SET ROLE NONE`` go back to the login role and are
    not reported.

    Bad::

        def upgrade():
            op.execute("SET ROLE app_owner")
            op.create_table("invoices", sa.Column("id", sa.BigInteger, primary_key=True))

    Good::

        # run the migrations as the role that owns the schema (the database URL's user),
        # or give the new table to it explicitly:
        def upgrade():
            op.create_table("invoices", sa.Column("id", sa.BigInteger, primary_key=True))
            op.execute("ALTER TABLE invoices OWNER TO app_owner")
    """
    for node, where, _ in statements_run(statement.node, context):
        if isinstance(node, ast.VariableSetStmt) and node.name in _SETTINGS \
                and node.kind == VariableSetKind.VAR_SET_VALUE:
            role = _literal(node.args[0]) if node.args else None
            if role is not None and role.lower() != "none":
                yield placed(_violation(role, _SETTINGS[node.name]), where)
        for item in executed_nodes(node):
            if isinstance(item, ast.FuncCall) and string_values(item.funcname)[-1:] == ["set_config"]:
                args = list(item.args or ())
                setting = _literal(args[0]) if args else None
                if setting is not None and setting.lower() in _SETTINGS and len(args) > 1:
                    role = _literal(args[1])
                    role = role if role is not None else sql_of(args[1]) or "?"
                    if role.lower() not in {"none", ""}:
                        yield placed(_violation(role, "set_config"), where)


def _literal(node: Any) -> str | None:
    value = getattr(node, "val", None)
    return value.sval if isinstance(value, ast.String) else None


def _violation(role: str, how: str) -> Violation:
    return Violation(
        message=f"Switching to role `{role}` ({how}) makes the rest of the revision run with that role's rights, "
                "not those of the migration's own role: it can do what the migration was not checked for, and "
                "what it creates belongs to that role.",
        help="Run the migrations as the role that should own their objects (the database URL's user), or grant "
             "that role what it needs; give a new object to another role with ALTER ... OWNER TO.",
        target=role,
    )
