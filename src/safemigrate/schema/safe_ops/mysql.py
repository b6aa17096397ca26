"""MySQL/MariaDB: the DDL of an operation with the ALGORITHM/LOCK clause that makes the server refuse, not lock."""

from __future__ import annotations

from typing import Any

from alembic.operations import ops as alembic_ops


class OnlineDdlOp(alembic_ops.MigrateOperation):
    """MySQL/MariaDB: the operation's DDL with the ALGORITHM/LOCK clause that makes the server refuse, not lock.

    Without the clause the server picks the algorithm itself, and falls back to copying the table (writes
    blocked) without a word when it cannot do better; with it, the statement fails instead.
    """

    def __init__(self, op: Any, sql: str, why: str, exists: str, params: dict[str, str], *, create: bool) -> None:
        self.op = op
        self.sql = sql
        self.why = why
        self.exists = exists  # SQL giving a row when the object is there
        self.params = params
        self.create = create

    def to_diff_tuple(self) -> Any:
        return self.op.to_diff_tuple()


_MYSQL_INDEX_EXISTS = ("SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() "
                       "AND table_name = :table AND index_name = :name")
_MYSQL_COLUMN_EXISTS = ("SELECT 1 FROM information_schema.columns WHERE table_schema = DATABASE() "
                        "AND table_name = :table AND column_name = :name")
_INPLACE = ("MySQL/MariaDB: ALGORITHM=INPLACE, LOCK=NONE {} it while reads and writes go on; a server that "
            "cannot do it that way fails here instead of locking the table")
_INSTANT = ("MySQL 8.0.12+/MariaDB 10.3.2+: ALGORITHM=INSTANT changes the catalog only; a server that would "
            "copy the table fails here instead of locking it")


def online_form(op: Any, new_tables: set[tuple[str | None, str]]) -> alembic_ops.MigrateOperation | None:
    """The MySQL/MariaDB statement of ``op`` with its ALGORITHM/LOCK clause, or None to keep Alembic's."""
    from sqlalchemy.dialects import mysql
    from sqlalchemy.schema import AddConstraint, CreateColumn, CreateIndex

    table = getattr(op, "table_name", None)
    if table is None or op.schema is not None or (op.schema, table) in new_tables:
        return None
    dialect = mysql.dialect()
    quote = dialect.identifier_preparer.quote
    # ALTER TABLE ..., ALGORITHM=..., LOCK=...: the form the guard's MySQL parser reads (CREATE INDEX ... ALGORITHM not)
    if isinstance(op, alembic_ops.CreateIndexOp) and op.index_name is not None and "mysql_prefix" not in op.kw:
        created = str(CreateIndex(op.to_index()).compile(dialect=dialect))
        _, on, columns = created.partition(f" ON {quote(table)} ")
        if not on:
            return None
        unique = "UNIQUE " if op.unique else ""
        return OnlineDdlOp(op, f"ALTER TABLE {quote(table)} ADD {unique}INDEX {quote(str(op.index_name))} {columns}, "
                           "ALGORITHM=INPLACE, LOCK=NONE", _INPLACE.format("builds"), _MYSQL_INDEX_EXISTS,
                           {"table": table, "name": str(op.index_name)}, create=True)
    if isinstance(op, alembic_ops.DropIndexOp):
        return OnlineDdlOp(op, f"ALTER TABLE {quote(table)} DROP INDEX {quote(str(op.index_name))}, "
                           "ALGORITHM=INPLACE, LOCK=NONE", _INPLACE.format("drops"), _MYSQL_INDEX_EXISTS,
                           {"table": table, "name": str(op.index_name)}, create=False)
    if isinstance(op, alembic_ops.CreateUniqueConstraintOp) and isinstance(op.constraint_name, str):
        sql = str(AddConstraint(op.to_constraint()).compile(dialect=dialect))
        return OnlineDdlOp(op, f"{sql}, ALGORITHM=INPLACE, LOCK=NONE", _INPLACE.format("builds"), _MYSQL_INDEX_EXISTS,
                           {"table": table, "name": op.constraint_name}, create=True)
    if isinstance(op, alembic_ops.AddColumnOp):
        column = op.column
        if column.foreign_keys or column.primary_key or column.computed is not None or column.identity is not None:
            return None
        spec = str(CreateColumn(column).compile(dialect=dialect))
        return OnlineDdlOp(op, f"ALTER TABLE {quote(table)} ADD COLUMN {spec}, ALGORITHM=INSTANT", _INSTANT,
                           _MYSQL_COLUMN_EXISTS, {"table": table, "name": str(column.name)}, create=True)
    return None
