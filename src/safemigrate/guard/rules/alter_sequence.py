"""alter-sequence: ALTER SEQUENCE (or an identity column's SET) changing increment, bounds, cycling or type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from safemigrate.guard.analysis.pg import (
    AlterTableType,
    column_sequence,
    existing_table_commands,
    placed,
    py_str,
    relation,
    sign_off_fix,
    statements_run,
    type_name,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

#: sequence types narrower than bigint: ``AS`` one of them can lower the maximum
_NARROW_TYPES = {"int2", "int4", "smallint", "integer", "int"}


@rule("alter-sequence", severity="error", category="destructive",
      summary="Changing a sequence's increment, bounds or cycling can hand out keys already used")
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """A sequence whose increment changes (a negative one counts down into numbers
    already handed out), whose maximum is lowered or minimum raised (``MAXVALUE``,
    ``MINVALUE``, ``AS integer``), or that is made to ``CYCLE`` back to its start,
    hands out keys that rows already hold, or runs out, and inserts fail. The
    statement alone does not tell whether a new bound is lower or higher than the
    old one: the run-time guard compares them in production and refuses the
    change; this rule shows it before. Sequences created in the same revision
    (``CREATE SEQUENCE``, serial and identity columns of a new table) are not
    reported; ``NO MINVALUE``, ``NO MAXVALUE``, ``NO CYCLE``, ``CACHE``, ``OWNED BY``
    and ``AS bigint`` are not.

    Bad::

        def upgrade():
            op.execute("ALTER SEQUENCE orders_id_seq INCREMENT BY -1 MAXVALUE 1000 CYCLE")

    Good::

        # to make room for more keys, widen the sequence:
        def upgrade():
            op.execute("ALTER SEQUENCE orders_id_seq AS bigint NO MAXVALUE")

        # a higher bound set explicitly is fine too, once checked; say so:
        from safemigrate import allow

        def upgrade():
            with allow("alter-sequence", "orders_id_seq", reason="raises MAXVALUE, current max is 10^6"):
                op.execute("ALTER SEQUENCE orders_id_seq MAXVALUE 1000000000")
    """
    for node, where, ctx in statements_run(statement.node, context):
        if isinstance(node, ast.AlterSeqStmt):
            name = relation(node.sequence)
            changed = _changes(node.options)
            if changed and not ctx.is_new_sequence(name):
                yield placed(_violation(name, changed, statement.text), where)
    for cmd, _alter, table, where, _ctx in existing_table_commands(statement, context, AlterTableType.AT_SetIdentity):
        changed = _changes(cmd.def_)
        if changed:
            yield placed(_violation(column_sequence(table, cmd.name or ""), changed, statement.text), where)


def _changes(options: Any) -> list[str]:
    """What the options of ALTER SEQUENCE / an identity's SET change that can make keys collide, in words."""
    found: list[str] = []
    for option in options or ():
        if not isinstance(option, ast.DefElem):
            continue
        if option.defname == "increment":
            found.append("the increment")
        elif option.defname == "maxvalue" and option.arg is not None:
            found.append("the maximum")
        elif option.defname == "minvalue" and option.arg is not None:
            found.append("the minimum")
        elif option.defname == "cycle" and getattr(option.arg, "boolval", True):
            found.append("the cycling (CYCLE)")
        elif option.defname == "as" and isinstance(option.arg, ast.TypeName) \
                and type_name(option.arg).rsplit(".", 1)[-1] in _NARROW_TYPES:
            found.append(f"the type ({type_name(option.arg)})")
    return found


def _violation(name: str, changed: list[str], sql: str) -> Violation:
    return Violation(
        message=f"Changing {_words(changed)} of sequence `{name}` can make it hand out numbers that rows "
                "already hold, or run out: new inserts then fail.",
        help="Leave a sequence's increment, bounds and cycling as they are; to make room for more keys, widen "
             "it (AS bigint, NO MAXVALUE). If the change only raises a bound, check it against the sequence's "
             "current definition and sign it off.",
        target=name,
        fix=sign_off_fix("alter-sequence", name, "only raises the maximum, checked against pg_sequences",
                         f"op.execute({py_str(' '.join(sql.split()))})"),
    )


def _words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
