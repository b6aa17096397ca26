"""transaction-control: COMMIT, ROLLBACK, PREPARE TRANSACTION... sent by a revision inside its transaction."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast
from pglast.enums import TransactionStmtKind

from safemigrate.guard.analysis.pg import looks_at, py_str
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

_ENDS = {TransactionStmtKind.TRANS_STMT_COMMIT: "commit", TransactionStmtKind.TRANS_STMT_ROLLBACK: "rollback",
         TransactionStmtKind.TRANS_STMT_PREPARE: "prepare transaction",
         TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED: "commit prepared",
         TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED: "rollback prepared",
         TransactionStmtKind.TRANS_STMT_BEGIN: "begin", TransactionStmtKind.TRANS_STMT_START: "begin"}


@rule("transaction-control", severity="error", category="destructive",
      summary="A revision that ends its own transaction commits what was never checked")
@looks_at(ast.TransactionStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Alembic runs each revision in a transaction, and safemigrate checks what the
    revision did before that transaction commits. A ``COMMIT`` (``END``, ``COMMIT
    AND CHAIN``), ``ROLLBACK``, ``PREPARE TRANSACTION``, ``COMMIT``/``ROLLBACK
    PREPARED`` or a nested ``BEGIN`` sent from inside it takes the transaction out of
    Alembic's hands: what ran before commits (or vanishes) unchecked, and the rest of
    the revision runs outside the transaction that is rolled back on failure. The
    run-time guard refuses these statements in production, with no sign-off; this
    rule shows them before. Inside ``autocommit_block()`` there is no transaction to
    end, and they are not reported; ``SAVEPOINT`` and ``ROLLBACK TO SAVEPOINT`` stay
    inside the transaction and are fine.

    Bad::

        def upgrade():
            for batch in range(10):
                op.execute(f"UPDATE orders SET status = 'open' WHERE status IS NULL AND id % 10 = {batch}")
                op.execute("COMMIT AND CHAIN")  # commit each batch and carry on

    Good::

        # let Alembic commit; what must commit step by step goes in an autocommit block:
        def upgrade():
            with op.get_context().autocommit_block():
                for batch in range(10):
                    op.execute(f"UPDATE orders SET status = 'open' WHERE status IS NULL AND id % 10 = {batch}")
    """
    # only the statement itself: PL/pgSQL cannot end its caller's transaction (a COMMIT in a DO block or a
    # procedure fails inside a transaction block), and SQL functions cannot hold these statements
    node = statement.node
    if isinstance(node, ast.TransactionStmt) and node.kind in _ENDS and context.in_transaction:
        keyword = _ENDS[node.kind]
        yield Violation(
            message=f"`{' '.join(statement.text.split())}` inside the revision's transaction takes it out of "
                    "Alembic's hands: what ran before commits (or vanishes) before safemigrate has checked it, "
                    "and the rest runs outside the transaction that a failure rolls back.",
            help="Let Alembic commit each revision; for a statement that must run outside a transaction, use "
                 "`with op.get_context().autocommit_block():`.",
            target=keyword,
            fix=("def upgrade():\n"
                 f"    # instead of op.execute({py_str(keyword.upper())}): what must commit on its own goes in here\n"
                 "    with op.get_context().autocommit_block():\n"
                 "        op.execute(\"...\")"),
        )
