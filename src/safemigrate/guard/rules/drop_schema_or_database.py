"""drop-schema-or-database: DROP SCHEMA, DROP DATABASE."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    is_cascade,
    looks_at,
    object_name,
    placed,
    sign_off_fix,
    statements_run,
)
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("drop-schema-or-database", severity="error", category="destructive",
      summary="Dropping a schema or a database loses everything in it",
      dialects=("postgresql", "mysql"))
@looks_at(ast.DropStmt, ast.DropdbStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """A migration that drops a schema (with CASCADE: every table, view and
    function in it) or a whole database deletes data for good, and every running
    instance that uses it fails. That belongs in a deliberate, backed-up manual
    step, not in a revision that runs on every deploy.

    Bad::

        def upgrade():
            op.execute("DROP SCHEMA reporting CASCADE")

    Good::

        # move what is still used, take a backup, then sign the drop off explicitly:
        from safemigrate import allow

        def upgrade():
            with allow("drop-schema-or-database", "reporting", reason="replaced by the warehouse, backup #88"):
                op.execute("DROP SCHEMA reporting")
    """
    if statement.dialect != "postgresql":
        node = statement.node
        # on MySQL/MariaDB a schema is a database: DROP SCHEMA and DROP DATABASE are one statement
        if isinstance(node, exp.Drop) and (node.args.get("kind") or "").upper() in {"SCHEMA", "DATABASE"}:
            for table in node.args.get("tables") or ():
                name = table.name or table.db
                yield _violation("database", name, f"Dropping database `{name}` deletes all its data for good.")
        return
    for node, where, _ in statements_run(statement.node, context):
        if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_SCHEMA:
            for obj in node.objects or ():
                name = object_name(obj)
                what = ("deletes every table in it, with all their rows, for good" if is_cascade(node)
                        else "deletes it for good")
                yield placed(_violation("schema", name, f"Dropping schema `{name}` {what}, and breaks every "
                                        "running instance that still uses it."), where)
        elif isinstance(node, ast.DropdbStmt):
            yield placed(_violation("database", node.dbname or "", f"Dropping database `{node.dbname}` deletes all "
                                    "its data for good."), where)


def _violation(kind: str, name: str, message: str) -> Violation:
    return Violation(
        message=message,
        help=f"A migration should not drop a {kind}: move what is still used, take a backup, and drop it "
             "in a deliberate step with an explicit sign-off.",
        target=name,
        fix=sign_off_fix("drop-schema-or-database", name, "backed up in <ticket>",
                         f'op.execute(\'DROP {kind.upper()} "{name}"\')'),
    )
