"""update-without-where: UPDATE with no WHERE clause, or an always-true one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from safemigrate.guard.analysis.pg import (
    executed_nodes,
    glot_is_constant_true,
    glot_table,
    is_constant_true,
    placed,
    relation,
    statements_run,
    writes_to_every_row,
)
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("update-without-where", severity="error", category="destructive",
      summary="Updating without a WHERE clause overwrites every row",
      dialects=("postgresql", "mysql", "sqlite"))
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """An UPDATE without a WHERE clause, or with one that is always true
    (``WHERE 1 = 1``, ``WHERE true``), overwrites the columns it sets in every row
    of the table, and the old values are gone. A backfill of a new column should
    say which rows it fills (``WHERE new_column IS NULL``), which also makes it
    safe to run again and to run in batches.

    Bad::

        def upgrade():
            op.execute("UPDATE users SET status = 'active'")

    Good::

        def upgrade():
            op.execute("UPDATE users SET status = 'active' WHERE status IS NULL")
    """
    for node, name, always_true, where in writes_to_every_row(statement, context, ast.UpdateStmt):
        yield placed(_violation(name, _columns(node, statement.dialect), always_true), where)
    if statement.dialect != "postgresql":
        yield from _upserts_of_every_row(statement, context)
        return
    for top, where, ctx in statements_run(statement.node, context):
        for node in executed_nodes(top):
            found = _pg_self_upsert(node, ctx) or _pg_self_merge(node, ctx)
            if found is not None:
                yield placed(_violation(*found, None), where)


def _reads_all_of(select: Any, name: str) -> bool:
    """Whether ``select`` reads every row of table ``name`` and nothing else (no WHERE, or an always-true one)."""
    sources = tuple(select.fromClause or ()) if isinstance(select, ast.SelectStmt) else ()
    if len(sources) != 1:
        return False
    source = sources[0]
    return (isinstance(source, ast.RangeVar) and _same(relation(source), name)
            and (select.whereClause is None or is_constant_true(select.whereClause)) and select.limitCount is None)


def _same(one: str, other: str) -> bool:
    """Whether two table names (``public.`` optional) name the same table."""
    def bare(name: str) -> str:
        return name.lower().removeprefix("public.")
    return bare(one) == bare(other)


def _pg_self_upsert(node: Any, ctx: Context) -> tuple[str, list[str]] | None:
    """``INSERT INTO t SELECT ... FROM t ON CONFLICT DO UPDATE``: every row collides with itself and is updated."""
    conflict = getattr(node, "onConflictClause", None) if isinstance(node, ast.InsertStmt) else None
    if conflict is None or conflict.action != enums.OnConflictAction.ONCONFLICT_UPDATE or conflict.whereClause:
        return None
    name = relation(node.relation)
    if ctx.is_new_table(name) or not _reads_all_of(node.selectStmt, name):
        return None
    return name, [t.name for t in conflict.targetList or () if isinstance(t, ast.ResTarget) and t.name]


def _pg_self_merge(node: Any, ctx: Context) -> tuple[str, list[str]] | None:
    """``MERGE INTO t USING t ON ... WHEN MATCHED THEN UPDATE``: every row matches itself and is updated."""
    if not isinstance(node, ast.MergeStmt) or not isinstance(node.sourceRelation, ast.RangeVar):
        return None
    name = relation(node.relation)
    if ctx.is_new_table(name) or not _same(relation(node.sourceRelation), name):
        return None
    for when in node.mergeWhenClauses or ():
        if when.matchKind == enums.MergeMatchKind.MERGE_WHEN_MATCHED and when.commandType == enums.CmdType.CMD_UPDATE \
                and (when.condition is None or is_constant_true(when.condition)):
            return name, [t.name for t in when.targetList or () if isinstance(t, ast.ResTarget) and t.name]
    return None


def _upserts_of_every_row(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``INSERT INTO t SELECT ... FROM t ON DUPLICATE KEY UPDATE`` (or ``ON CONFLICT DO UPDATE``): every row of
    ``t`` collides with itself, so the upsert updates every row, with no UPDATE statement to see."""
    for insert in statement.node.find_all(exp.Insert):
        conflict, source = insert.args.get("conflict"), insert.expression
        action = conflict.args.get("action") if conflict is not None else None
        if conflict is None or not isinstance(source, exp.Select) or (
                action is not None and "UPDATE" not in action.sql().upper()):
            continue
        target = insert.this.this if isinstance(insert.this, exp.Schema) else insert.this
        name = glot_table(target)
        read = source.args.get("from") or source.args.get("from_")
        if context.is_new_table(name) or read is None or source.args.get("joins"):
            continue
        condition = source.args.get("where")
        if glot_table(read.this).lower() != name.lower() or (condition is not None
                                                            and not glot_is_constant_true(condition)):
            continue
        columns = [e.this.name for e in conflict.expressions or () if isinstance(e, exp.EQ)
                   and isinstance(e.this, exp.Column)]
        yield _violation(name, columns, None if condition is None else condition.this.sql(dialect=statement.dialect))


def _columns(node: Any, dialect: str) -> list[str]:
    """The columns an UPDATE sets (a pglast UpdateStmt, or a sqlglot Update for MySQL/SQLite)."""
    if dialect == "postgresql":
        return [t.name for t in node.targetList or () if isinstance(t, ast.ResTarget) and t.name]
    return [e.this.name for e in node.expressions or () if isinstance(e, exp.EQ) and isinstance(e.this, exp.Column)]


def _violation(name: str, columns: list[str], always_true: str | None) -> Violation:
    unique = list(dict.fromkeys(columns))
    how = "without a WHERE clause" if always_true is None else f"with an always-true WHERE clause (`{always_true}`)"
    names = [f"`{c}`" for c in unique]
    what = (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]) if names \
        else "the columns it sets"
    first = unique[0] if unique else "<column>"
    return Violation(
        message=f"Updating `{name}` {how} overwrites {what} in every row of the table.",
        help="Add a WHERE clause that selects only the rows to change (for a backfill, "
             f"`WHERE {first} IS NULL`), in batches on a large table; if every row really must change, "
             "sign it off explicitly.",
        target=name,
        fix=("from safemigrate import allow\n\n"
             "def upgrade():\n"
             f'    op.execute("UPDATE {name} SET {first} = <value> WHERE {first} IS NULL")\n'
             "    # or, if every row must change:\n"
             f'    with allow("update-without-where", "{name.lower()}", reason="why every row changes"):\n'
             f'        op.execute("UPDATE {name} SET {first} = <value>")'),
    )
