"""alter-sequence-restart: ALTER SEQUENCE ... RESTART, an identity's RESTART, setval() to a fixed value."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    column_sequence,
    executed_nodes,
    existing_table_commands,
    placed,
    py_str,
    reads_rows,
    regclass_name,
    relation,
    sign_off_fix,
    sql_of,
    statements_run,
    string_values,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("alter-sequence-restart", severity="error", category="destructive",
      summary="Moving a sequence back makes it hand out keys that rows already hold")
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """A sequence that is restarted, or set to a fixed number with ``setval()``, can hand
    out again numbers it has handed out before: new rows then collide with existing
    keys, or reuse ids that other systems still hold. The run-time guard refuses a
    sequence that went back in production; this rule shows it before. ``setval()`` to
    a value computed from the data (``(SELECT max(id) FROM orders)``) moves the
    sequence past the existing keys and is not reported (the run-time guard still
    checks where it went). Sequences created in the same revision are not reported.

    Bad::

        def upgrade():
            op.execute("ALTER SEQUENCE orders_id_seq RESTART")
            op.execute("SELECT setval('invoices_id_seq', 1)")

    Good::

        # after loading rows with explicit ids, move the sequence past them:
        def upgrade():
            op.execute("SELECT setval('orders_id_seq', (SELECT max(id) FROM orders))")
    """
    for node, where, ctx in statements_run(statement.node, context):
        if isinstance(node, ast.AlterSeqStmt) and _has_option(node.options, "restart"):
            name = relation(node.sequence)
            if not ctx.is_new_sequence(name):
                yield placed(_violation(name, "restart", statement.text), where)
        for item in executed_nodes(node):
            if isinstance(item, ast.FuncCall) and _fixed_setval(item):
                name, table = _sequence_of(list(item.args or ())[0])
                if not (ctx.is_new_sequence(name) or (table and ctx.is_new_table(table))):
                    yield placed(_violation(name, "setval", statement.text), where)
    for cmd, _alter, table, where, _ctx in existing_table_commands(statement, context, AlterTableType.AT_SetIdentity):
        if _has_option(cmd.def_, "restart"):
            yield placed(_violation(column_sequence(table, cmd.name or ""), "restart", statement.text), where)


def _has_option(options: Any, name: str) -> bool:
    return any(isinstance(o, ast.DefElem) and o.defname == name for o in options or ())


def _fixed_setval(call: Any) -> bool:
    """``setval(sequence, value[, is_called])`` whose value is written in the statement, not read from the data."""
    args = list(call.args or ())
    return string_values(call.funcname)[-1:] == ["setval"] and len(args) >= 2 and not reads_rows(args[1])


def _sequence_of(arg: Any) -> tuple[str, str]:
    """(sequence, table) that setval's first argument names; ``table`` is set for ``pg_get_serial_sequence``."""
    while isinstance(arg, ast.TypeCast):
        arg = arg.arg
    if isinstance(arg, ast.A_Const) and arg.isnull:
        return "<a bound parameter>", ""  # the driver's placeholder, read as NULL
    if isinstance(arg, ast.A_Const) and isinstance(arg.val, ast.String):
        return regclass_name(arg.val.sval or ""), ""
    if isinstance(arg, ast.FuncCall) and string_values(arg.funcname)[-1:] == ["pg_get_serial_sequence"]:
        texts = [a.val.sval for a in arg.args or () if isinstance(a, ast.A_Const) and isinstance(a.val, ast.String)]
        if len(texts) == 2:
            table = regclass_name(texts[0] or "")
            return column_sequence(table, texts[1] or ""), table
    return sql_of(arg) or "?", ""


def _violation(name: str, how: str, sql: str) -> Violation:
    moved = (f"Restarting sequence `{name}`" if how == "restart"
             else f"Setting sequence `{name}` to a fixed value with setval()")
    return Violation(
        message=f"{moved} can move it back: it then hands out numbers that rows already hold, and new inserts "
                "collide with existing keys.",
        help="To move a sequence past the keys already used, compute the value from the data "
             f"(`SELECT setval('{name}', (SELECT max(id) FROM <table>))`); if it really must go back, check that "
             "no row holds the numbers it will hand out, and sign it off.",
        target=name,
        fix=sign_off_fix("alter-sequence-restart", name, "no row holds the numbers it hands out again",
                         f"op.execute({py_str(' '.join(sql.split()))})"),
    )
