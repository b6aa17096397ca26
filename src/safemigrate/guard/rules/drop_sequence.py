"""drop-sequence: DROP SEQUENCE of a sequence the revision did not create."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    looks_at,
    object_name,
    placed,
    py_str,
    quote_ident,
    sign_off_fix,
    statements_run,
    string_values,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("drop-sequence", severity="error", category="destructive",
      summary="Dropping a sequence breaks what takes numbers from it and loses its position")
@looks_at(ast.DropStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """A sequence hands out the keys of new rows. Once it is dropped, every insert that
    still takes a number from it (a column default, ``nextval()`` in the code) fails,
    and a sequence created again under that name starts over, handing out keys that
    rows already hold. The run-time guard refuses the drop in production; this rule
    shows it before. Sequences created earlier in the same revision (``CREATE
    SEQUENCE``, serial and identity columns of a new table) are not reported.

    Bad::

        def upgrade():
            op.execute("DROP SEQUENCE invoice_number_seq")

    Good::

        # 1. stop using the sequence (defaults, nextval() in the code), and deploy;
        # 2. then, in a later revision, sign the drop off explicitly:
        from safemigrate import allow

        def upgrade():
            with allow("drop-sequence", "invoice_number_seq", reason="numbers come from billing since 4.1"):
                op.execute("DROP SEQUENCE invoice_number_seq")
    """
    for node, where, ctx in statements_run(statement.node, context):
        if isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_SEQUENCE:
            for obj in node.objects or ():
                name = object_name(obj)
                if not ctx.is_new_sequence(name):
                    yield placed(_violation(name, ".".join(quote_ident(p) for p in string_values(obj))), where)


def _violation(name: str, quoted: str) -> Violation:
    return Violation(
        message=f"Dropping sequence `{name}` breaks every insert that still takes a number from it, and a "
                "sequence created again in its place would hand out keys that rows already hold.",
        help="Stop using the sequence (column defaults, nextval() in the code) and deploy first; then drop it "
             "in a later revision with an explicit sign-off.",
        target=name,
        fix=(f"# 1. stop using {name} (column defaults, nextval() in the code), and deploy;\n"
             "# 2. then, in a later revision:\n"
             + sign_off_fix("drop-sequence", name, "unused since <release>",
                            f"op.execute({py_str(f'DROP SEQUENCE {quoted}')})")),
    )
