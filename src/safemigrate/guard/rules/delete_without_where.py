"""delete-without-where: DELETE with no WHERE clause, or an always-true one."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import placed, writes_to_every_row
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("delete-without-where", severity="error", category="destructive",
      summary="Deleting without a WHERE clause empties the table",
      dialects=("postgresql", "mysql", "sqlite"))
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """A DELETE without a WHERE clause, or with one that is always true
    (``WHERE 1 = 1``, ``WHERE true``), deletes every row of the table. It is
    found wherever it runs: in a CTE, a DO block, an EXECUTE of a literal
    string, or the body of a function the migration creates.

    Bad::

        def upgrade():
            op.execute("DELETE FROM sessions")

    Good::

        def upgrade():
            op.execute("DELETE FROM sessions WHERE expires_at < now()")

        # or, if every row must go, say so:
        from safemigrate import allow

        def upgrade():
            with allow("delete-without-where", "sessions", reason="sessions are recreated on login"):
                op.execute("DELETE FROM sessions")
    """
    for _, name, always_true, where in writes_to_every_row(statement, context, ast.DeleteStmt):
        yield placed(_violation(name, always_true), where)


def _violation(name: str, always_true: str | None) -> Violation:
    how = "without a WHERE clause" if always_true is None else f"with an always-true WHERE clause (`{always_true}`)"
    return Violation(
        message=f"Deleting from `{name}` {how} deletes every row of the table.",
        help="Add a WHERE clause that selects only the rows to delete (in batches on a large table); "
             "if every row really must go, sign it off explicitly.",
        target=name,
        fix=("from safemigrate import allow\n\n"
             "def upgrade():\n"
             f'    op.execute("DELETE FROM {name} WHERE <only the rows to delete>")\n'
             "    # or, if every row must go:\n"
             f'    with allow("delete-without-where", "{name.lower()}", reason="why no row is needed"):\n'
             f'        op.execute("DELETE FROM {name}")'),
    )
