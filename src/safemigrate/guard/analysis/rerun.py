"""Which committed steps of an interrupted revision would change data a second time if it ran again.

An interrupted revision is never run again silently: its committed steps would
run twice (an ``UPDATE ... + 100`` applied twice). A revision safemigrate
generated is signed ``# safemigrate: rerun-converges`` because each of its steps
checks the catalog first. The signature is a comment anyone can write, so what
the journal says the attempt committed is checked too: schema statements
either converge or fail loudly when run again, but a data statement may apply
twice. The one data statement that converges is a fill of NULLs: an ``UPDATE``
whose every target column is required ``IS NULL`` by its top-level ``WHERE``
(what :func:`safemigrate.schema.backfill.backfill` sends), since a row it
filled no longer matches.
"""

from __future__ import annotations

from pglast import ast
from pglast.enums import AlterTableType, BoolExprType, NullTestType

from safemigrate.guard.analysis.pgwalk import executed_nodes
from safemigrate.guard.analysis.sql import PgStatement, parse

_DATA = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt, ast.CopyStmt, ast.DoStmt, ast.CallStmt,
         ast.ExplainStmt, ast.ExecuteStmt)
#: functions a catalog check or a batch boundary calls: they write nothing
_READ_ONLY = {"to_regclass", "max", "min", "count", "coalesce", "format_type", "pg_get_indexdef", "current_setting",
              "pg_get_constraintdef", "quote_ident", "lower", "upper"}


def repeated_data_steps(steps: list[str]) -> list[str]:
    """The steps (SQL as the journal recorded it) that would change data again if they ran again; a step that
    cannot be read counts as one. A ``SELECT`` counts when it calls a function that might write."""
    return [step for step in steps if not _runs_twice_safely(step)]


def _runs_twice_safely(step: str) -> bool:
    parsed = parse(step, "postgresql")
    if not parsed:
        return False
    for one in parsed:
        if not isinstance(one, PgStatement):
            return False
        if isinstance(one.node, ast.SelectStmt):
            if any(isinstance(n, _DATA) or (isinstance(n, ast.FuncCall) and _name(n) not in _READ_ONLY)
                   for n in executed_nodes(one.node)):
                return False
        elif isinstance(one.node, _DATA) and not _fills_nulls(one.node):
            return False
    return True


def _name(call: ast.FuncCall) -> str:
    last = (call.funcname or ())[-1] if call.funcname else None
    return str(getattr(last, "sval", "")).lower()


def _fills_nulls(node: object) -> bool:
    if not isinstance(node, ast.UpdateStmt) or node.withClause is not None or node.fromClause:
        return False
    targets = {t.name for t in node.targetList or () if isinstance(t, ast.ResTarget) and not t.indirection}
    if not targets or len(targets) != len(node.targetList or ()):
        return False
    return targets <= _required_null(node.whereClause)


def _required_null(where: object) -> set[str]:
    """Columns the condition requires to be NULL: a ``col IS NULL`` alone or among top-level ANDs."""
    terms = where.args if isinstance(where, ast.BoolExpr) and where.boolop is BoolExprType.AND_EXPR else [where]
    found: set[str] = set()
    for term in terms or ():
        if isinstance(term, ast.NullTest) and term.nulltesttype is NullTestType.IS_NULL \
                and isinstance(term.arg, ast.ColumnRef):
            fields = term.arg.fields or ()
            if len(fields) == 1 and isinstance(fields[0], ast.String) and fields[0].sval:
                found.add(fields[0].sval)
    return found


def created_objects(statements: list[str]) -> set[tuple[str, ...]]:
    """What ``statements`` create, lower-case: ("table", t), ("column", t, c), ("index", name),
    ("constraint", name), ("not_null", t, c). Used to tell the objects an interrupted revision left from
    changes made by hand (its rerun finishes them)."""
    found: set[tuple[str, ...]] = set()
    for sql in statements:
        for one in parse(sql, "postgresql"):
            if isinstance(one, PgStatement):
                found |= _created(one.node)
    return found


def _created(node: object) -> set[tuple[str, ...]]:
    if isinstance(node, ast.IndexStmt) and node.idxname:
        return {("index", node.idxname.lower())}
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        return {("table", str(node.relation.relname).lower())}
    if not isinstance(node, ast.AlterTableStmt) or node.relation is None:
        return set()
    table = str(node.relation.relname).lower()
    found: set[tuple[str, ...]] = set()
    for command in node.cmds or ():
        if not isinstance(command, ast.AlterTableCmd):
            continue
        if command.subtype is AlterTableType.AT_AddColumn and isinstance(command.def_, ast.ColumnDef):
            found.add(("column", table, str(command.def_.colname).lower()))
        elif command.subtype is AlterTableType.AT_AddConstraint and isinstance(command.def_, ast.Constraint) \
                and command.def_.conname:
            found.add(("constraint", command.def_.conname.lower()))
        elif command.subtype is AlterTableType.AT_SetNotNull and command.name:
            found.add(("not_null", table, command.name.lower()))
    return found
