"""Server defaults that only differ in spelling are not drift.

Databases echo a default back in their own words: SQLite wraps it in
parentheses (``('')``, ``(0)``), MariaDB says ``current_timestamp()`` for
``now()`` and ``0`` for ``false``. Alembic compares the text and reports a
difference, so development auto-sync would write a pointless revision on
every run. After Alembic's comparison, :func:`settle` takes out the
server-default changes whose two sides mean the same.

This replaces a callable ``compare_server_default``: Alembic takes another
code path for a callable, and that path fails on ``Computed`` columns.
"""

from __future__ import annotations

from typing import Any

from alembic.operations import ops as alembic_ops
from sqlalchemy import Computed, Identity
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ClauseElement, TextClause

#: Spellings of "now" that mean the same on the dialects that accept them.
_NOW = {"now()", "current_timestamp", "current_timestamp()", "localtimestamp", "localtimestamp()",
        "transaction_timestamp()"}
_BOOLEANS = {"false": "0", "true": "1", "'0'": "0", "'1'": "1", "b'0'": "0", "b'1'": "1"}


def settle(upgrade_ops: alembic_ops.UpgradeOps, dialect: Dialect) -> bool:
    """Remove, in place, server-default changes whose old and new defaults mean the same on ``dialect``.

    Returns whether anything was removed.
    """
    changed = False
    for container in list(upgrade_ops.ops):
        if not isinstance(container, alembic_ops.ModifyTableOps):
            continue
        kept = []
        for op in container.ops:
            if isinstance(op, alembic_ops.AlterColumnOp) and op.modify_server_default is not False \
                    and equivalent(op.existing_server_default, op.modify_server_default, dialect):
                op.modify_server_default = False
                changed = True
                if not _changes_anything(op):
                    continue
            kept.append(op)
        container.ops = kept
    upgrade_ops.ops = [op for op in upgrade_ops.ops
                       if not (isinstance(op, alembic_ops.ModifyTableOps) and not op.ops)]
    return changed


def _changes_anything(op: alembic_ops.AlterColumnOp) -> bool:
    return (op.modify_type is not None or op.modify_nullable is not None or op.modify_name is not None
            or op.modify_comment is not False or op.modify_server_default is not False)


def equivalent(existing: Any, wanted: Any, dialect: Dialect) -> bool:
    """Whether a reflected default and a model's default mean the same on ``dialect``."""
    if isinstance(wanted, (Computed, Identity)) or isinstance(existing, (Computed, Identity)):
        # SQLite has neither, and MySQL/MariaDB have no Identity (an integer key is AUTO_INCREMENT there):
        # a model's Identity() is reflected as no default at all on them
        identity = isinstance(wanted, Identity) or isinstance(existing, Identity)
        without = {"sqlite", "mysql", "mariadb"} if identity else {"sqlite"}
        return dialect.name in without and (existing is None or wanted is None)
    old, new = text_of(existing, dialect), text_of(wanted, dialect)
    if old is None or new is None:
        return old is None and new is None
    return normalise(old, dialect.name) == normalise(new, dialect.name)


def text_of(default: Any, dialect: Dialect) -> str | None:
    """The SQL text of a server default (a DefaultClause, a TextClause, a SQL function or a plain string)."""
    if default is None or default is False:
        return None
    arg = getattr(default, "arg", default)
    if isinstance(arg, str):
        return f"'{arg}'"
    if isinstance(arg, TextClause):
        return arg.text
    if isinstance(arg, ClauseElement):
        try:
            return str(arg.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        except Exception:  # a construct this dialect cannot render: not ours to settle
            return None
    return str(arg)


def normalise(text: str, dialect: str) -> str:
    """A default's text with spelling that does not change its meaning removed."""
    text = " ".join(text.strip().split()).lower()
    while len(text) >= 2 and text[0] == "(" and text[-1] == ")" and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    if text in _NOW:
        return "current_timestamp"
    if dialect in {"mysql", "mariadb", "sqlite"} and text in _BOOLEANS:
        return _BOOLEANS[text]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        inner = text[1:-1]
        if dialect in {"mysql", "mariadb", "sqlite"} or inner.lstrip("-").replace(".", "", 1).isdigit():
            return inner  # '0' and 0 are the same default for a number column
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0
