"""rename-table: ALTER TABLE ... RENAME TO / SET SCHEMA, RENAME TABLE."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import ObjectType, glot_table, looks_at, placed, relation, statements_run
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

BATCH_PREFIX = "_alembic_tmp_"


@rule("rename-table", severity="error", category="destructive",
      summary="Renaming a table breaks code still using the old name",
      dialects=("postgresql", "mysql", "sqlite"))
@looks_at(ast.RenameStmt, ast.AlterObjectSchemaStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Renaming a table (or moving it to another schema) breaks every running
    instance of the application that still queries the old name, from the moment
    the migration commits until the new code is deployed everywhere. Alembic's
    SQLite batch mode renames its ``_alembic_tmp_`` copy back: that is not reported.

    Bad::

        def upgrade():
            op.rename_table("users", "accounts")

    Good::

        # keep the old name working until every instance uses the new one
        # (a simple view can be read and written like the table), and say so:
        from safemigrate import allow

        def upgrade():
            with allow("rename-table", "users", reason="the view users keeps the old name working"):
                op.rename_table("users", "accounts")
            op.execute("CREATE VIEW users AS SELECT * FROM accounts")

        # later, once no code uses "users": op.execute("DROP VIEW users")
    """
    if statement.dialect == "postgresql":
        for node, where, ctx in statements_run(statement.node, context):
            if isinstance(node, ast.RenameStmt) and node.renameType in (ObjectType.OBJECT_TABLE,
                                                                        ObjectType.OBJECT_FOREIGN_TABLE):
                old = relation(node.relation)
                if _renamed_for_real(old, ctx):
                    yield placed(_violation(old, node.newname or "", None), where)
            elif (isinstance(node, ast.AlterObjectSchemaStmt) and node.objectType == ObjectType.OBJECT_TABLE
                    and node.relation is not None):
                old = relation(node.relation)
                if _renamed_for_real(old, ctx):
                    new = f"{node.newschema}.{node.relation.relname}"
                    yield placed(_violation(old, new, node.newschema), where)
        return
    node = statement.node
    if isinstance(node, exp.Alter) and (node.args.get("kind") or "").upper() == "TABLE":
        old = glot_table(node.this)
        for action in node.args.get("actions") or ():
            if isinstance(action, exp.AlterRename) and _renamed_for_real(old, context):
                yield _violation(old, glot_table(action.this), None)
    elif isinstance(node, exp.Command) and str(node.this).upper() == "RENAME":
        # sqlglot keeps MySQL's RENAME TABLE a TO b[, c TO d] as raw text: read it with its tokenizer
        for old, new in _rename_pairs(str(getattr(node.expression, "this", node.expression) or ""),
                                      statement.dialect):
            if _renamed_for_real(old, context):
                yield _violation(old, new, None)


def _rename_pairs(text: str, dialect: str) -> list[tuple[str, str]]:
    """``TABLE a TO b, s.c TO d`` (or ``TABLES ...``) -> [("a", "b"), ("s.c", "d")]; ``WAIT n``/``NOWAIT`` skipped."""
    from sqlglot import Dialect
    from sqlglot.errors import TokenError
    from sqlglot.tokens import TokenType

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except TokenError:
        return []
    if not tokens or tokens[0].text.upper() not in {"TABLE", "TABLES"}:  # MariaDB reads both
        return []
    pairs: list[tuple[str, str]] = []
    names: list[str] = [""]
    waits = {i for i, t in enumerate(tokens) if t.token_type == TokenType.VAR and (
        t.text.upper() == "NOWAIT" or (t.text.upper() == "WAIT" and i + 1 < len(tokens)
                                       and tokens[i + 1].token_type == TokenType.NUMBER))}
    waits |= {i + 1 for i in waits if tokens[i].text.upper() == "WAIT"}
    for token in [*(t for i, t in enumerate(tokens) if i and i not in waits), None]:
        if token is None or token.token_type == TokenType.COMMA:
            if len(names) == 2 and all(names):
                pairs.append((names[0], names[1]))
            names = [""]
        elif token.text.upper() == "TO" and token.token_type != TokenType.IDENTIFIER:
            names.append("")
        else:
            names[-1] += token.text  # identifiers and the dots between them
    return pairs


def _renamed_for_real(old: str, context: Context) -> bool:
    bare = old.rsplit(".", 1)[-1]
    return not (bare.lower().startswith(BATCH_PREFIX) or context.is_new_table(old))


def _violation(old: str, new: str, new_schema: str | None) -> Violation:
    schema, _, bare = old.rpartition(".")
    if new_schema:
        message = (f"Moving table `{old}` to schema `{new_schema}` breaks every running instance that still "
                   f"uses `{old}` until it is redeployed.")
        move = f'op.execute("ALTER TABLE {old} SET SCHEMA {new_schema}")'
    else:
        message = (f"Renaming table `{old}` to `{new}` breaks every running instance that still uses the old "
                   "name until it is redeployed.")
        extra = f', schema="{schema}"' if schema else ""
        move = f'op.rename_table("{bare}", "{new.rsplit(".", 1)[-1]}"{extra})'
    target_new = new if (new_schema or "." in new or not schema) else f"{schema}.{new}"
    return Violation(
        message=message,
        help=f"Rename it and create a view named `{old}` over the new table in the same revision, so both "
             "names work; drop the view in a later revision, once no running code uses the old name.",
        target=old,
        fix=("def upgrade():\n"
             f"    {move}\n"
             f'    op.execute("CREATE VIEW {old} AS SELECT * FROM {target_new}")\n\n'
             f'# later, once no code uses {old}: op.execute("DROP VIEW {old}")'),
    )
