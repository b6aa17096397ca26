"""Writing fixes: SQL and Alembic code in the user's names."""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.stream import RawStream as _RawStream
from pglast.stream import maybe_double_quote_name as _maybe_double_quote_name

from safemigrate.guard.analysis.pgast import (
    AlterTableType,
    ConstrType,
    alter_commands,
    column_constraints,
    option_enabled,
    relation,
    string_values,
    table_of,
    type_modifiers,
    type_name,
)


def sql_of(node: Any) -> str:
    """``node`` printed back as SQL by pglast (empty when pglast cannot print it)."""
    try:
        return _RawStream()(node)
    except Exception:
        return ""


def quote_ident(name: str) -> str:
    """``name`` as a SQL identifier, double-quoted only when PostgreSQL needs it."""
    return _maybe_double_quote_name(name)


def quoted_relation(node: Any) -> str:
    """A RangeVar as SQL: ``orders``, ``app."Orders"``."""
    if node is None:
        return ""
    name = quote_ident(node.relname or "")
    return f"{quote_ident(node.schemaname)}.{name}" if getattr(node, "schemaname", None) else name


def py_str(text: str) -> str:
    """``text`` as a Python string literal, preferring double quotes (SQL inside keeps its quotes)."""
    text = text.replace("\\", "\\\\")
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return '"""' + text.replace('"""', '\\"\\"\\"') + '"""'


def op_table(table: str) -> tuple[str, str]:
    """(bare table name as a Python literal, ``, schema="s"`` or "") for Alembic's ``op.*`` calls."""
    schema, _, bare = table.rpartition(".")
    return py_str(bare), (f", schema={py_str(schema)}" if schema else "")


def added_columns(node: Any) -> list[Any]:
    """The ColumnDefs of ``ALTER TABLE ... ADD COLUMN`` subcommands."""
    return [cmd.def_ for cmd in alter_commands(node)
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef)]


def column_default(column: Any) -> Any:
    """The DEFAULT expression of a ColumnDef (None when there is none, or it is DEFAULT NULL)."""
    for constraint in column_constraints(column, ConstrType.CONSTR_DEFAULT):
        expr = constraint.raw_expr
        if isinstance(expr, ast.TypeCast):
            expr = expr.arg
        if isinstance(expr, ast.A_Const) and expr.isnull:
            return None
        return constraint.raw_expr
    return column.raw_default


_SA_TYPES = {"int2": "sa.SmallInteger()", "int4": "sa.Integer()", "int8": "sa.BigInteger()",
             "text": "sa.Text()", "bool": "sa.Boolean()", "timestamptz": "sa.DateTime(timezone=True)",
             "timestamp": "sa.DateTime()", "date": "sa.Date()", "time": "sa.Time()", "uuid": "sa.Uuid()",
             "float8": "sa.Float()", "float4": "sa.REAL()", "bytea": "sa.LargeBinary()",
             "interval": "sa.Interval()", "json": "sa.JSON()", "jsonb": "postgresql.JSONB()"}


def sa_type(node: Any) -> str | None:
    """A SQLAlchemy type expression for a TypeName (``sa.String(40)``), None when there is no plain one.

    ``postgresql.JSONB()`` needs ``from sqlalchemy.dialects import postgresql``.
    """
    if node is None or node.arrayBounds:
        return None
    name = type_name(node)
    mods = type_modifiers(node)
    if name == "varchar":
        return f"sa.String({mods[0]})" if mods else "sa.String()"
    if name == "numeric":
        return f"sa.Numeric({', '.join(str(m) for m in mods)})"
    if mods:
        return None
    return _SA_TYPES.get(name)


def sa_column(column: Any, *, nullable: bool | None = None, server_default: str | None = None) -> str | None:
    """``sa.Column("name", sa.Type(), ...)`` for a ColumnDef, None when its type has no plain SQLAlchemy form."""
    kind = sa_type(column.typeName)
    if kind is None:
        return None
    extra = "" if nullable is None else f", nullable={nullable}"
    if server_default is not None:
        extra += f", server_default=sa.text({py_str(server_default)})"
    return f"sa.Column({py_str(column.colname)}, {kind}{extra})"


def with_imports(code: str) -> str:
    """``code`` preceded by the import its ``postgresql.`` types need."""
    if "postgresql." in code:
        return "from sqlalchemy.dialects import postgresql\n\n" + code
    return code


def reindex_is_concurrent(node: Any) -> bool:
    """Whether a ReindexStmt says CONCURRENTLY."""
    return option_enabled(getattr(node, "params", None), "concurrently")


def create_index_code(node: Any, *, concurrently: bool = True) -> str:
    """Alembic code (one call, no indentation) that builds the index of an IndexStmt.

    ``op.create_index`` when every part has an Alembic keyword, else ``op.execute`` of the SQL.
    """
    table = relation(node.relation)
    simple = (not node.tableSpace and not node.options and not node.nulls_not_distinct
              and all(not e.collation and not e.opclass and not e.opclassopts and e.ordering == 0
                      and e.nulls_ordering == 0 for e in node.indexParams or ()))
    if not simple:
        import copy

        changed = copy.copy(node)
        changed.concurrent = concurrently
        return f"op.execute({py_str(sql_of(changed))})"
    columns = []
    for element in node.indexParams or ():
        columns.append(py_str(element.name) if element.name else f"sa.text({py_str(sql_of(element.expr))})")
    name = node.idxname or default_index_name(table, node)
    bare, schema = op_table(table)
    args = [py_str(name), bare, f"[{', '.join(columns)}]"]
    if node.unique:
        args.append("unique=True")
    if schema:
        args.append(schema[2:])
    if node.accessMethod and node.accessMethod != "btree":
        args.append(f"postgresql_using={py_str(node.accessMethod)}")
    if node.indexIncludingParams:
        included = ", ".join(py_str(e.name) for e in node.indexIncludingParams if e.name)
        args.append(f"postgresql_include=[{included}]")
    if node.whereClause is not None:
        args.append(f"postgresql_where=sa.text({py_str(sql_of(node.whereClause))})")
    if node.if_not_exists:
        args.append("if_not_exists=True")
    if concurrently:
        args.append("postgresql_concurrently=True")
    return f"op.create_index({', '.join(args)})"


def default_index_name(table: str, node: Any) -> str:
    """The name PostgreSQL gives an unnamed index: ``orders_status_idx``."""
    parts = [e.name or "expr" for e in node.indexParams or ()]
    return "_".join([table_of(table), *parts, "key" if getattr(node, "isconstraint", False) else "idx"])


def split_schema(name: str) -> tuple[str, str]:
    """(bare name, ``, schema="s"`` or "") of ``s.name``, for fix code that quotes the name itself."""
    schema, _, bare = name.rpartition(".")
    return bare, (f', schema="{schema}"' if schema else "")


def sign_off_fix(rule: str, target: str, reason: str, *lines: str) -> str:
    """An ``upgrade()`` that runs ``lines`` (of code, unindented) under ``with allow(rule, target, reason=...)``.

    The fix for a change that is safe only once someone has checked what the linter cannot see.
    """
    return ("from safemigrate import allow\n\n"
            "def upgrade():\n"
            f'    with allow("{rule}", "{target.lower()}", reason="{reason}"):\n'
            + "\n".join("        " + line for line in lines))


def in_autocommit_block(code: str) -> str:
    """``code`` indented inside Alembic's autocommit block (run outside the migration's transaction)."""
    body = "\n".join("    " + line if line else line for line in code.splitlines())
    return "with op.get_context().autocommit_block():\n" + body


def reindex_sql(node: Any, *, concurrently: bool) -> str:
    """A ReindexStmt as ``REINDEX TABLE [CONCURRENTLY] name`` (the form PostgreSQL 12+ accepts)."""
    kind = node.kind.name.rsplit("_", 1)[-1]  # REINDEX_OBJECT_TABLE -> TABLE
    name = quoted_relation(node.relation) if node.relation is not None else quote_ident(node.name or "")
    return " ".join(part for part in ("REINDEX", kind, "CONCURRENTLY" if concurrently else "", name) if part)


def add_column_code(rel: Any, column: Any, *, without: tuple[Any, ...] = (), nullable: bool | None = None) -> str:
    """Alembic code adding ``column`` to the table of RangeVar ``rel``, leaving out constraints of ``without``.

    ``nullable=True`` also leaves out NOT NULL. ``op.add_column`` with ``sa.Column`` when the
    type and what is left have a plain SQLAlchemy form, else ``op.execute`` of the SQL.
    """
    import copy

    drop = set(without) | ({ConstrType.CONSTR_NOTNULL} if nullable else set())
    kept = [c for c in column.constraints or () if not (isinstance(c, ast.Constraint) and c.contype in drop)]
    changed = copy.copy(column)
    changed.constraints = tuple(kept) or None
    plain = {ConstrType.CONSTR_NOTNULL, ConstrType.CONSTR_NULL, ConstrType.CONSTR_DEFAULT}
    if all(isinstance(c, ast.Constraint) and c.contype in plain for c in kept) and changed.collClause is None:
        not_null = any(c.contype == ConstrType.CONSTR_NOTNULL for c in kept)
        default = column_default(changed)
        code = sa_column(changed, nullable=False if not_null else nullable,
                         server_default=sql_of(default) if default is not None else None)
        if code is not None:
            bare, schema = op_table(relation(rel))
            return f"op.add_column({bare}, {code}{schema})"
    return f"op.execute({py_str(f'ALTER TABLE {quoted_relation(rel)} ADD COLUMN {sql_of(changed)}')})"


_FK_ACTIONS = {"r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def not_valid_foreign_key_code(rel: Any, constraint: Any, columns: list[str], name: str) -> str:
    """Alembic code adding a FOREIGN KEY constraint NOT VALID (``op.create_foreign_key`` when it can)."""
    import copy

    table = relation(rel)
    remote = string_values(constraint.pk_attrs)
    plain = (remote and constraint.fk_matchtype in ("s", None, "") and not constraint.deferrable
             and not constraint.fk_del_set_cols and constraint.fk_upd_action in ("a", None, ""))
    if plain:
        bare, schema = op_table(table)
        referent, referent_schema = op_table(relation(constraint.pktable))
        args = [py_str(name), bare, referent, "[" + ", ".join(py_str(c) for c in columns) + "]",
                "[" + ", ".join(py_str(c) for c in remote) + "]"]
        if constraint.fk_del_action in _FK_ACTIONS:
            args.append(f"ondelete={py_str(_FK_ACTIONS[constraint.fk_del_action])}")
        if schema:
            args.append("source_" + schema[2:])
        if referent_schema:
            args.append("referent_" + referent_schema[2:])
        args.append("postgresql_not_valid=True")
        return f"op.create_foreign_key({', '.join(args)})"
    changed = copy.copy(constraint)
    changed.conname = name
    changed.skip_validation = True
    changed.initially_valid = False
    if not changed.fk_attrs:
        changed.fk_attrs = tuple(ast.String(sval=c) for c in columns)
    return f"op.execute({py_str(f'ALTER TABLE {quoted_relation(rel)} ADD {sql_of(changed)}')})"


def validate_constraint_code(rel: Any, name: str) -> str:
    """``op.execute("ALTER TABLE t VALIDATE CONSTRAINT name")``."""
    return f"op.execute({py_str(f'ALTER TABLE {quoted_relation(rel)} VALIDATE CONSTRAINT {quote_ident(name)}')})"


_PRECISION_TYPES = {"time": "time", "timetz": "time with time zone", "interval": "interval"}


def rewrite_free_sources(node: Any, pg_version: int) -> str | None:
    """The column types that ALTER COLUMN ... TYPE ``node`` converts without rewriting the table, in words.

    None when no other type does (``bigint``, ``uuid``, ``jsonb``, arrays...): then the change
    always rewrites. Checked against PostgreSQL's binary-coercible casts and length/precision
    support functions: varchar widening, varchar <-> text, numeric precision, cidr -> inet,
    varbit widening, higher time precision, timestamp <-> timestamptz when TimeZone is UTC (12+).
    """
    if node is None or node.arrayBounds:
        return None
    name = type_name(node).rsplit(".", 1)[-1]
    mods = type_modifiers(node)
    if name == "varchar":
        return f"a `varchar` of at most {mods[0]} characters" if mods else "a `varchar` or `text`"
    if name in ("text", "citext"):
        return "a `varchar` or `text`"
    if name == "numeric":
        if not mods:
            return "a `numeric`"
        scale = mods[1] if len(mods) > 1 else 0
        return f"a `numeric` with scale {scale} and precision at most {mods[0]}"
    if name == "inet":
        return "a `cidr`"
    if name == "varbit":
        return f"a `varbit` of at most {mods[0]} bits" if mods else "a `varbit`"
    if name in ("timestamp", "timestamptz"):
        same = "a `timestamp`" if name == "timestamp" else "a `timestamptz`"
        other = "a `timestamptz`" if name == "timestamp" else "a `timestamp`"
        sources = f"{same} of lower precision"
        if pg_version >= 12:
            sources += f", or {other} while the session TimeZone is UTC"
        return sources
    if name in _PRECISION_TYPES:
        return f"a `{_PRECISION_TYPES[name]}` of lower precision"
    return None


def using_is_plain(column: str, expr: Any) -> bool:
    """Whether a USING expression is just the column (possibly cast), which changes nothing about a rewrite."""
    while isinstance(expr, ast.TypeCast):
        expr = expr.arg
    return expr is None or (isinstance(expr, ast.ColumnRef) and string_values(expr.fields)[-1:] == [column])


def type_sql(node: Any) -> str:
    """A TypeName as the user would write it: ``bigint``, ``varchar(20)``, ``json`` (no pg_catalog prefix)."""
    text = sql_of(node)
    return text[len("pg_catalog."):] if text.startswith("pg_catalog.") else text
