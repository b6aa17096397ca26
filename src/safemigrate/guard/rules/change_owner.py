"""change-owner: ALTER TABLE / VIEW / SEQUENCE / SCHEMA ... OWNER TO, and REASSIGN OWNED."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    ObjectType,
    alter_commands,
    looks_at,
    placed,
    py_str,
    quote_ident,
    quoted_relation,
    relation,
    role_name,
    sign_off_fix,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_KINDS = {ObjectType.OBJECT_TABLE: "table", ObjectType.OBJECT_VIEW: "view",
          ObjectType.OBJECT_MATVIEW: "materialized view", ObjectType.OBJECT_SEQUENCE: "sequence",
          ObjectType.OBJECT_FOREIGN_TABLE: "foreign table"}
_KEYWORDS = {"materialized view": "MATERIALIZED VIEW", "foreign table": "FOREIGN TABLE"}
_ROLE_KEYWORDS = {"current_user", "session_user", "current_role", "public"}


@rule("change-owner", severity="error", category="destructive",
      summary="Giving a table, view, sequence or schema to another role takes it away from its owner")
@looks_at(ast.AlterTableStmt, ast.AlterOwnerStmt, ast.ReassignOwnedStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """The owner of a table, view, sequence or schema is the role that may alter and
    drop it, and what was granted to the old owner passes to the new one. An
    application or a later migration that connects as the old owner gets
    "permission denied" on it, and the new owner can drop it. ``REASSIGN OWNED``
    does that to every object a role owns. The run-time guard refuses an owner
    change in production; this rule shows it before. Objects created earlier in the
    same revision are not reported: giving a new table to the role that will own it
    is how it should be set up.

    Bad::

        def upgrade():
            op.execute("ALTER TABLE orders OWNER TO reporting")

    Good::

        # grant the other role what it needs, and keep the owner:
        def upgrade():
            op.execute("GRANT SELECT ON orders TO reporting")
    """
    for node, where, ctx in statements_run(statement.node, context):
        if isinstance(node, ast.AlterTableStmt):
            kind = _KINDS.get(node.objtype, "table") if node.objtype is not None else "table"
            name = relation(node.relation)
            if _is_new(name, ctx):
                continue
            for cmd in alter_commands(node):
                if cmd.subtype == AlterTableType.AT_ChangeOwner:
                    sql = f"ALTER {_KEYWORDS.get(kind, kind.upper())} {quoted_relation(node.relation)} OWNER TO"
                    yield placed(_violation(f"{kind} `{name}`", name, role_name(cmd.newowner), sql), where)
        elif isinstance(node, ast.AlterOwnerStmt) and node.objectType == ObjectType.OBJECT_SCHEMA:
            name = getattr(node.object, "sval", "") or ""
            if not ctx.is_new_schema(name):
                sql = f"ALTER SCHEMA {quote_ident(name)} OWNER TO"
                yield placed(_violation(f"schema `{name}`", name, role_name(node.newowner), sql), where)
        elif isinstance(node, ast.ReassignOwnedStmt):
            for old in node.roles or ():
                name = role_name(old)
                sql = f"REASSIGN OWNED BY {_role_sql(name)} TO"
                yield placed(_violation(f"every object role `{name}` owns in this database", name,
                                        role_name(node.newrole), sql, away=f"them away from `{name}`"), where)


def _is_new(name: str, context: Context) -> bool:
    # ALTER TABLE also changes views and sequences: tables, views and sequences share their names
    return context.is_new_table(name) or context.is_new_view(name) or context.is_new_sequence(name)


def _role_sql(role: str) -> str:
    return role.upper() if role in _ROLE_KEYWORDS else quote_ident(role)


def _violation(what: str, target: str, role: str, sql: str, *, away: str = "it away from its owner") -> Violation:
    return Violation(
        message=f"Giving {what} to role `{role}` takes {away}: an application or migration that connects as "
                "the old owner gets \"permission denied\", and the new owner can drop what it was given.",
        help="Grant the other role the rights it needs (GRANT ... TO ...) and keep the owner; if the owner "
             "really must change, check which roles connect as the old owner and sign it off.",
        target=target,
        fix=sign_off_fix("change-owner", target, "the application connects as the new owner",
                         f"op.execute({py_str(f'{sql} {_role_sql(role)}')})"),
    )
