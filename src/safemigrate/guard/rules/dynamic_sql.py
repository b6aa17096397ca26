"""dynamic-sql: MySQL/MariaDB PREPARE, EXECUTE and CALL, which run SQL that exists only when they run."""

from __future__ import annotations

from collections.abc import Iterator

from safemigrate.guard.analysis.pg import py_str, sign_off_fix
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_DYNAMIC = {"PREPARE": "prepares a statement from text", "EXECUTE": "runs a prepared or assembled statement",
            "CALL": "runs a stored procedure"}


@rule("dynamic-sql", severity="error", category="destructive",
      summary="PREPARE, EXECUTE and CALL run SQL that no check sees before it runs",
      dialects=("mysql",))
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """``PREPARE s FROM @q`` / ``EXECUTE s`` and ``CALL proc()`` run SQL that is assembled
    or stored elsewhere: what reaches the server is not in the migration's text, so no
    rule can check it, and MySQL/MariaDB commit the DDL it runs at once. The run-time
    guard refuses these statements before they are sent (one sign-off covers both,
    naming the statement as written); this rule shows them before the deploy.

    Bad::

        def upgrade():
            op.execute("CALL archive_old_orders()")

    Good::

        # write the statements out, so that they are checked:
        def upgrade():
            op.execute("INSERT INTO orders_archive SELECT * FROM orders WHERE created_at < '2020-01-01'")
            op.execute("DELETE FROM orders WHERE created_at < '2020-01-01'")
    """
    node = statement.node
    if not isinstance(node, exp.Command):
        return
    what = _DYNAMIC.get(str(node.this).upper())
    if what is None:
        return
    text = " ".join(statement.text.split())
    yield Violation(
        message=f"`{_short(text)}` {what}: the SQL it runs is not in the migration, so no rule can check it "
                "before MySQL runs (and commits) it.",
        help="Write the statements out in the migration (op.execute with the SQL itself) so that they are "
             "checked; or review what it runs and sign it off, naming the statement as written.",
        target=text,
        fix=sign_off_fix("dynamic-sql", text, "what it runs, reviewed in <ticket>", f"op.execute({py_str(text)})"),
    )


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."
