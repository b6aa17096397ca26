"""Write a change: its plan, its expand revision and its contract revision, and the model edits of each step.

The columns are read from the project's database (PostgreSQL, at its current
revision): the type, the primary key and NOT NULL come from the catalog, so
the revisions name exactly what is there. The revision files are rendered with
the project's own ``script.py.mako`` (Alembic's ``template_to_file``), next to
the current head's file, with ``alembic.util.rev_id()`` ids; the revision
files of the project are not imported here (the history comes from the env.py
process, as everywhere in safemigrate).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from alembic.util import format_as_comma, rev_id, template_to_file
from pglast import ast, parse_sql
from pglast.parser import ParseError
from sqlalchemy import text

from safemigrate.changes import mysql, sql
from safemigrate.changes.catalog import Dependents, dependents, table_shape
from safemigrate.changes.results import ChangeWritten
from safemigrate.changes.revisions import contract_body, describe, expand_body, model_steps
from safemigrate.core.db import connected, unreachable
from safemigrate.core.errors import SafemigrateError, UsageError
from safemigrate.core.urls import backend_of
from safemigrate.state.changes import ChangePlan, load_plans, save_plan

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from safemigrate.harness.workspace import Workspace

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_COLUMN_INFO = """
SELECT format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.oid = to_regclass(:table) AND a.attname = :column AND a.attnum > 0 AND NOT a.attisdropped
"""
_PRIMARY_KEY = """
SELECT array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = to_regclass(:table) AND i.indisprimary
"""


def split_target(target: str, what: str = "TABLE.COLUMN") -> tuple[str, str]:
    table, dot, column = target.partition(".")
    if not dot or not table or not column or "." in column:
        raise UsageError(f"{target!r} is not {what}.", "A change names one column of one table.",
                         f"Write it as {what}, for example users.email.")
    return table, column


def require_supported(url: URL) -> str:
    """The backend (postgresql or mysql); SQLite is refused. What MySQL/MariaDB must allow is checked per change
    (changes/mysql.py)."""
    backend = backend_of(url)
    if backend in ("postgresql", "mysql"):
        return backend
    raise UsageError(
        f"Expand–contract changes need PostgreSQL or MySQL/MariaDB; this project's database is {backend}.",
        "SQLite has no concurrent application versions to keep in step (one writer, no rolling deploys) and "
        "rebuilds tables to drop columns.",
        "Change the models and let `safemigrate migrate` generate the revision, or name a PostgreSQL database "
        "with --database-url.")


def _column(url: URL, table: str, column: str) -> tuple[str, bool, list[str]]:
    try:
        with connected(url) as conn:
            found = conn.execute(text(_COLUMN_INFO), {"table": sql.q(table), "column": column}).first()
            keys = conn.execute(text(_PRIMARY_KEY), {"table": sql.q(table)}).scalar()
    except SafemigrateError:
        raise
    except Exception as exc:
        raise unreachable(url, exc) from exc
    if found is None:
        raise UsageError(f"The database has no column {table}.{column}.",
                         "A change is written from the columns as they are in the database, at its current revision.",
                         "Check the names, and migrate the database you point at (--database-url) to head first.")
    return str(found[0]), bool(found[1]), list(keys or [])


def _mysql_plan(url: URL, kind: str, name: str, table: str, column: str, new_column: str | None,
                fill: str | None) -> ChangePlan:
    """A change on MySQL/MariaDB: what the server lacks refuses it by name (changes/mysql.py)."""
    try:
        with connected(url) as conn:
            problems = mysql.server_problems(conn, table, kind)
            found = mysql.column(conn, table, column) if not problems else None
            carried, blockers = mysql.dependents(conn, table, column, new_column if kind == sql.RENAME_COLUMN
                                                 else None) if found else ([], [])
            taken = bool(new_column) and kind == sql.RENAME_COLUMN and found is not None \
                and mysql.column(conn, table, new_column or "") is not None
    except SafemigrateError:
        raise
    except Exception as exc:
        raise unreachable(url, exc) from exc
    if problems:
        raise UsageError(f"{kind} on {table} cannot be done on this MySQL/MariaDB database: {'; '.join(problems)}.",
                         "While two versions of the application write, BEFORE INSERT and BEFORE UPDATE triggers keep "
                         "the old and the new shape in step; without them a rolling deploy loses writes.",
                         "Grant or enable what is named (or upgrade the server) and run the command again; or make "
                         "the change by hand in separate revisions (add, copy in batches, drop later with allow()).")
    if found is None:
        raise UsageError(f"The database has no column {table}.{column}.",
                         "A change is written from the columns as they are in the database, at its current revision.",
                         "Check the names, and migrate the database you point at (--database-url) to head first.")
    definition, not_null, default, keys = found
    _refuse_blockers(kind, table, column, Dependents(blockers=blockers))
    if kind == sql.RENAME_COLUMN:
        if not new_column or not _NAME.match(new_column.lower()):
            raise UsageError(f"{new_column!r} is not a usable column name.", "The expand revision adds it.",
                             "Name the new column with letters, digits and underscores.")
        if taken:
            raise UsageError(f"{table}.{new_column} exists already.", "The expand revision adds it.",
                             "Choose another name, or drop the existing column first.")
    if kind == sql.SET_NOT_NULL:
        _check_fill(fill, table, column, dialect="mysql")
    if kind != sql.DROP_COLUMN and len(keys) != 1:
        raise UsageError(f"{table} has {'no primary key' if not keys else 'a composite primary key'}.",
                         "The backfill walks the table in batches of its primary key (keyset pagination).",
                         "Add a single-column primary key first.")
    return ChangePlan(name=name, kind=kind, table=table, column=column, new_column=new_column,
                      column_type=definition.split(" ", 1)[0], primary_key=keys[0] if keys else "",
                      not_null=not_null, fill=fill, default=default, indexes=carried, dialect="mysql",
                      column_definition=definition)


def _check_fill(fill: str | None, table: str, column: str, dialect: str = "postgresql") -> None:
    """--fill is one SQL expression without a table (a literal, a cast, now()): it goes into the trigger and the
    backfill's UPDATE as written."""
    fix = "Pass --fill with one SQL literal, for example --fill \"''\" or --fill 0 or --fill \"'none'\"."
    if not fill:
        raise UsageError(f"set-not-null needs --fill for the rows where {table}.{column} is NULL.",
                         "The backfill writes that value into them, and the trigger into new rows that omit it.", fix)
    if dialect == "mysql":
        one = _one_mysql_value(fill)
    else:
        try:
            parsed = parse_sql(f"SELECT {fill}")
        except ParseError:
            parsed = ()
        select = parsed[0].stmt if len(parsed) == 1 else None
        one = isinstance(select, ast.SelectStmt) and not select.fromClause and len(select.targetList or ()) == 1 \
            and "$safemigrate$" not in fill
    if not one:
        raise UsageError(f"--fill {fill!r} is not one SQL value.",
                         "It is written into the trigger and the backfill as SQL, where it must be one expression.",
                         fix)


def _one_mysql_value(value: str) -> bool:
    """One expression without a table, a subquery or a statement separator (it goes into a trigger's SET)."""
    import sqlglot
    from sqlglot import exp

    try:
        parsed = sqlglot.parse(f"SELECT {value}", read="mysql")
    except sqlglot.errors.SqlglotError:
        return False
    select = parsed[0] if len(parsed) == 1 else None
    return isinstance(select, exp.Select) and len(select.expressions) == 1 and not select.args.get("from") \
        and select.find(exp.Subquery) is None and select.find(exp.Column) is None


def _refuse_blockers(kind: str, table: str, column: str, found: Dependents) -> None:
    if not found.blockers:
        return
    listed = ", ".join(found.blockers)
    if kind == sql.RENAME_COLUMN:
        raise UsageError(f"{table}.{column} carries what safemigrate cannot move to the new column yet: {listed}.",
                         "The contract drops the old column, and with it everything that depends on it; a rename "
                         "must not lose a constraint, an index or a view on the way.",
                         "Drop or rewrite those first (each in its own revision), or rename the column by hand in "
                         "separate revisions.")
    raise UsageError(f"{table}.{column} cannot be dropped while these depend on it: {listed}.",
                     "The database refuses DROP COLUMN while another table's foreign key uses the column (PostgreSQL "
                     "also while a view does; MySQL/MariaDB leave the view broken), and safemigrate never drops them "
                     "for you (no CASCADE).",
                     "Drop or change those first, each in its own revision, then write this change.")


def _check_conversion(url: URL, table: str, column: str, new_column: str, new_type: str | None, using: str | None,
                      down: str | None) -> None:
    """TYPE, --using and --down, tried on the table itself (LIMIT 0: planned, type-checked, nothing read)."""
    for option, value in (("TYPE", new_type), ("--using", using), ("--down", down)):
        if not value:
            raise UsageError(f"change-type needs {option}.",
                             "--using computes the new column from a row, --down the old column from a row the new "
                             "version wrote, so both versions read what the other writes.",
                             f"For example: change-type {table}.{column} 'numeric(12,2)' --to {column}_v2 "
                             f"--using '{column}::numeric(12,2)' --down '{column}_v2::integer'.")
        if value and option != "TYPE":
            _check_expression(value, option)
    tries = (
        (f"SELECT CAST(NULL AS {new_type})", f"{new_type!r} is not a type PostgreSQL knows"),
        (f"SELECT CAST(({using}) AS {new_type}) FROM {sql.q(table)} LIMIT 0",
         f"--using {using!r} does not give a {new_type} from a row of {table}"),
        (f"SELECT ({down}) FROM (SELECT CAST(NULL AS {new_type}) AS {sql.q(new_column)}, t.* FROM {sql.q(table)} AS t "
         "LIMIT 0) AS s", f"--down {down!r} does not compute {column} from a row with {new_column}"),
    )
    with connected(url) as conn:
        for statement, problem in tries:
            try:
                with conn.begin_nested():
                    conn.execute(text(statement))
            except Exception as exc:
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                raise UsageError(f"{problem}: {reason}.", "The expand revision and its trigger would fail.",
                                 "Fix the expression; it is SQL, written as in ALTER COLUMN ... USING, and it may "
                                 "use any column of the row.") from exc


def _check_expression(value: str, option: str) -> None:
    try:
        parsed = parse_sql(f"SELECT {value}")
    except ParseError:
        parsed = ()
    select = parsed[0].stmt if len(parsed) == 1 else None
    if not isinstance(select, ast.SelectStmt) or select.fromClause or len(select.targetList or ()) != 1 \
            or "$safemigrate$" in value:
        raise UsageError(f"{option} {value!r} is not one SQL expression.",
                         "It is written into the trigger and the backfill as SQL, where it must be one expression.",
                         "Pass one expression, for example amount::numeric(12,2).")


def _template(project: Workspace) -> Path:
    template = project.layout.script_location / "script.py.mako"
    if not template.is_file():
        raise UsageError(f"The project has no {template.name} in {project.layout.script_location}.",
                         "safemigrate writes the revisions with the project's own template, as `alembic revision`.",
                         "Restore script.py.mako (`alembic init` writes one).")
    return template


def _head(project: Workspace) -> tuple[str, Path]:
    history = project.history
    heads = history.heads
    if len(heads) != 1:
        raise UsageError(f"The migration history has {len(heads)} heads ({', '.join(heads) or 'none'}).",
                         "An expand–contract change is written on top of the one head.",
                         "Merge the heads first (`alembic merge heads`), or create the table's revision first.")
    record = history.get(heads[0])
    assert record is not None
    return heads[0], Path(record.path).parent


def _slug(message: str) -> str:
    return "_".join(re.findall(r"\w+", message.lower()))[:40].rstrip("_")


def _write(template: Path, folder: Path, revision: str, down: str | None, depends_on: str | None,
           message: str, upgrades: list[str], downgrades: list[str], allows: list[str]) -> Path:
    path = folder / f"{revision}_{_slug(message.splitlines()[0])}.py"
    imports = "from safemigrate import allow\n\n# expand–contract sign-offs: the guard allows exactly these\n" \
              "safemigrate_allow = [\n" + "".join(f"    {a},\n" for a in allows) + "]\n" \
        if allows else "from safemigrate import allow  # noqa: F401\n"
    template_to_file(template, path, "utf-8", up_revision=revision, down_revision=down,
                     branch_labels=None, depends_on=depends_on,
                     create_date=datetime.now(UTC).replace(tzinfo=None), comma=format_as_comma,
                     message=message, imports=imports, upgrades="\n    ".join(upgrades),
                     downgrades="\n    ".join(downgrades))
    written = path.read_text()
    if allows and "safemigrate_allow" not in written:  # a project template without ${imports}
        lines = written.splitlines(keepends=True)
        at = next((i + 1 for i, line in enumerate(lines) if line.startswith("depends_on")), len(lines))
        lines.insert(at, "\n" + imports)
        path.write_text("".join(lines))
    return path


def write_change(project: Workspace, kind: str, table: str, column: str = "", *, new_column: str | None = None,
                 fill: str | None = None, new_type: str | None = None, using: str | None = None,
                 down: str | None = None, new_table: str | None = None, name: str | None = None,
                 contract_later: bool = False) -> ChangeWritten:
    """Write the plan and the expand revision (and, unless ``contract_later``, the contract revision)."""
    url = project.require_live()
    backend = require_supported(url)
    if kind not in sql.KINDS:
        raise UsageError(f"Unknown change kind {kind!r}.", "", f"Use one of: {', '.join(sql.KINDS)}.")
    name = name or {sql.RENAME_COLUMN: f"rename_{table}_{column}", sql.DROP_COLUMN: f"drop_{table}_{column}",
                    sql.SET_NOT_NULL: f"not_null_{table}_{column}",
                    sql.CHANGE_TYPE: f"type_{table}_{column}", sql.RENAME_TABLE: f"rename_table_{table}"}[kind].lower()
    if not _NAME.match(name):
        raise UsageError(f"{name!r} cannot name a change.", "The name becomes part of a trigger's name.",
                         "Pass --name with lowercase letters, digits and underscores (at most 63).")
    if name in load_plans(project.layout.script_location):
        raise UsageError(f"A change named {name} exists already.", "Each change keeps its phase under its name.",
                         "Pass another --name, or finish or abort the existing one (`safemigrate change status`).")
    if backend == "mysql":
        plan = _mysql_plan(url, kind, name, table, column, new_column, fill)
    elif kind == sql.RENAME_TABLE:
        plan = _table_plan(url, name, table, new_table)
    else:
        plan = _column_plan(url, kind, name, table, column, new_column, fill, new_type, using, down)
    head, folder = _head(project)
    template = _template(project)
    steps = model_steps(plan)
    plan.expand_revision = rev_id()
    expand_up, expand_down, expand_allows = expand_body(plan)
    expand = _write(template, folder, plan.expand_revision, head, None,
                    f"expand: {describe(plan)}\n\n{steps[0]}", expand_up, expand_down, expand_allows)
    written = [expand]
    if not contract_later:
        written.append(write_contract_file(project, plan, folder=folder, template=template,
                                           down=plan.expand_revision))
    plan_path = save_plan(project.layout.script_location, plan)
    return ChangeWritten(name=plan.name, change_kind=kind, description=describe(plan),
                         expand_revision=plan.expand_revision, contract_revision=plan.contract_revision,
                         files=[str(p) for p in written], plan_file=str(plan_path), steps=steps)


def _table_plan(url: URL, name: str, table: str, new_table: str | None) -> ChangePlan:
    if not new_table or not _NAME.match(new_table.lower()):
        raise UsageError(f"{new_table!r} is not a usable table name.", "The expand revision creates it.",
                         "Name the new table with letters, digits and underscores.")
    with connected(url) as conn:
        exists = conn.execute(text(sql.TABLES), {"table": sql.q(table), "new_table": sql.q(new_table)}).one()
        if not exists[0]:
            raise UsageError(f"The database has no table {table}.", "A change is written from the database.",
                             "Check the name, and migrate the database you point at to head first.")
        if exists[1]:
            raise UsageError(f"{new_table} exists already.", "The expand revision creates it.",
                             "Choose another name, or drop the existing table first.")
        shape = table_shape(conn, table, new_table)
        keys = conn.execute(text(_PRIMARY_KEY), {"table": sql.q(table)}).scalar() or []
    if shape.blockers:
        raise UsageError(f"{table} carries what safemigrate cannot copy to {new_table} yet: "
                         f"{', '.join(shape.blockers)}.",
                         "The contract drops the old table; a rename must not lose a key, a link or a view.",
                         "Drop or rewrite those first (each in its own revision), or rename the table by hand.")
    if len(keys) != 1:
        raise UsageError(f"{table} has {'no primary key' if not keys else 'a composite primary key'}.",
                         "The triggers match rows and the backfill walks the table by a single-column primary key.",
                         "Add a single-column primary key first.")
    return ChangePlan(name=name, kind=sql.RENAME_TABLE, table=table, column="", new_table=new_table,
                      primary_key=keys[0], columns=shape.columns, pk_name=shape.pk_name, sequences=shape.sequences,
                      indexes=[vars(i) for i in shape.indexes])


def _column_plan(url: URL, kind: str, name: str, table: str, column: str, new_column: str | None,
                 fill: str | None, new_type: str | None, using: str | None, down: str | None) -> ChangePlan:
    column_type, not_null, keys = _column(url, table, column)
    with connected(url) as conn:
        found = dependents(conn, table, column, new_column if kind in sql.TWO_COLUMNS else None)
    _refuse_blockers(kind, table, column, found)
    if kind in sql.TWO_COLUMNS:
        if not new_column or not _NAME.match(new_column.lower()):
            raise UsageError(f"{new_column!r} is not a usable column name.", "The expand revision adds it.",
                             "Name the new column with letters, digits and underscores (--to for change-type).")
        taken = _column_exists(url, table, new_column)
        if taken:
            raise UsageError(f"{table}.{new_column} exists already.", "The expand revision adds it.",
                             "Choose another name, or drop the existing column first.")
    if kind == sql.SET_NOT_NULL:
        _check_fill(fill, table, column)
    if kind == sql.CHANGE_TYPE:
        _check_conversion(url, table, column, new_column or "", new_type, using, down)
    if kind != sql.DROP_COLUMN and len(keys) != 1:
        raise UsageError(f"{table} has {'no primary key' if not keys else 'a composite primary key'}.",
                         "The backfill walks the table in batches of its primary key (keyset pagination).",
                         "Add a single-column primary key first.")
    return ChangePlan(name=name, kind=kind, table=table, column=column, new_column=new_column,
                      column_type=column_type, primary_key=keys[0] if keys else "", not_null=not_null, fill=fill,
                      new_type=new_type, using=using, down=down,
                      default=found.default if kind in sql.TWO_COLUMNS else None,
                      indexes=[vars(i) for i in found.indexes])


def write_contract_file(project: Workspace, plan: ChangePlan, *, folder: Path | None = None,
                        template: Path | None = None, down: str | None = None) -> Path:
    """The contract revision, on top of ``down`` (default: the current head), ``depends_on`` the expand revision."""
    if down is None or folder is None:
        down, folder = _head(project)
    plan.contract_revision = rev_id()
    up, undo, allows = contract_body(plan)
    steps = model_steps(plan)
    return _write(template or _template(project), folder, plan.contract_revision, down,
                  plan.expand_revision, f"contract: {describe(plan)}\n\n{steps[2]}", up, undo, allows)


def _column_exists(url: URL, table: str, column: str) -> bool:
    with connected(url) as conn:
        return conn.execute(text(_COLUMN_INFO), {"table": sql.q(table), "column": column}).first() is not None
