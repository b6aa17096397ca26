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

from safemigrate.changes import sql
from safemigrate.changes.catalog import CarriedIndex, Dependents, dependents
from safemigrate.changes.results import ChangeWritten
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


def require_postgresql(url: URL) -> None:
    backend = backend_of(url)
    if backend == "postgresql":
        return
    if backend == "mysql":
        raise UsageError(
            "Expand–contract changes are not available on MySQL/MariaDB yet.",
            "Keeping the old and the new shape in step needs BEFORE INSERT/UPDATE triggers that safemigrate does "
            "not write for MySQL/MariaDB yet (they also need the TRIGGER privilege and, with binary logging, "
            "log_bin_trust_function_creators=1); without them a rolling deploy loses writes.",
            "Make the change in separate revisions by hand (add the column, copy in batches, drop later with "
            "allow(...)), or run it on PostgreSQL.")
    raise UsageError(
        f"Expand–contract changes need PostgreSQL; this project's database is {backend}.",
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


def _check_fill(fill: str | None, table: str, column: str) -> None:
    """--fill is one SQL expression without a table (a literal, a cast, now()): it goes into the trigger and the
    backfill's UPDATE as written."""
    fix = "Pass --fill with one SQL literal, for example --fill \"''\" or --fill 0 or --fill \"'none'\"."
    if not fill:
        raise UsageError(f"set-not-null needs --fill for the rows where {table}.{column} is NULL.",
                         "The backfill writes that value into them, and the trigger into new rows that omit it.", fix)
    try:
        parsed = parse_sql(f"SELECT {fill}")
    except ParseError:
        parsed = ()
    select = parsed[0].stmt if len(parsed) == 1 else None
    if not isinstance(select, ast.SelectStmt) or select.fromClause or len(select.targetList or ()) != 1 \
            or "$safemigrate$" in fill:
        raise UsageError(f"--fill {fill!r} is not one SQL value.",
                         "It is written into the trigger and the backfill as SQL, where it must be one expression.",
                         fix)


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
                     "PostgreSQL refuses DROP COLUMN while a view or another table's foreign key uses the column, "
                     "and safemigrate never drops them for you (no CASCADE).",
                     "Drop or change those first, each in its own revision, then write this change.")


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


def _execute(statement: str) -> list[str]:
    return [f"op.execute({statement!r})"] if "\n" not in statement else \
        ["op.execute(", *[f"    {line!r}" for line in _lines(statement)], ")"]


def _lines(statement: str) -> list[str]:
    parts = statement.split("\n")
    return [p + "\n" for p in parts[:-1]] + [parts[-1]]


def _allow(rule: str, target: str, plan: ChangePlan) -> str:
    return f"allow({rule!r}, {target!r}, reason={'expand-contract change ' + plan.name!r})"


def write_change(project: Workspace, kind: str, table: str, column: str, *, new_column: str | None = None,
                 fill: str | None = None, name: str | None = None, contract_later: bool = False) -> ChangeWritten:
    """Write the plan and the expand revision (and, unless ``contract_later``, the contract revision)."""
    url = project.require_live()
    require_postgresql(url)
    if kind not in sql.KINDS:
        raise UsageError(f"Unknown change kind {kind!r}.", "", f"Use one of: {', '.join(sql.KINDS)}.")
    name = name or {sql.RENAME_COLUMN: f"rename_{table}_{column}", sql.DROP_COLUMN: f"drop_{table}_{column}",
                    sql.SET_NOT_NULL: f"not_null_{table}_{column}"}[kind].lower()
    if not _NAME.match(name):
        raise UsageError(f"{name!r} cannot name a change.", "The name becomes part of a trigger's name.",
                         "Pass --name with lowercase letters, digits and underscores (at most 63).")
    if name in load_plans(project.layout.script_location):
        raise UsageError(f"A change named {name} exists already.", "Each change keeps its phase under its name.",
                         "Pass another --name, or finish or abort the existing one (`safemigrate change status`).")
    column_type, not_null, keys = _column(url, table, column)
    with connected(url) as conn:
        found = dependents(conn, table, column, new_column if kind == sql.RENAME_COLUMN else None)
    _refuse_blockers(kind, table, column, found)
    if kind == sql.RENAME_COLUMN:
        if not new_column or not _NAME.match(new_column.lower()):
            raise UsageError(f"{new_column!r} is not a usable column name.", "", "Pass the new name as NEW.")
        taken = _column_exists(url, table, new_column)
        if taken:
            raise UsageError(f"{table}.{new_column} exists already.", "The expand revision adds it.",
                             "Choose another name, or drop the existing column first.")
    if kind == sql.SET_NOT_NULL:
        _check_fill(fill, table, column)
    if kind != sql.DROP_COLUMN and len(keys) != 1:
        raise UsageError(f"{table} has {'no primary key' if not keys else 'a composite primary key'}.",
                         "The backfill walks the table in batches of its primary key (keyset pagination).",
                         "Add a single-column primary key first.")
    head, folder = _head(project)
    template = _template(project)
    plan = ChangePlan(name=name, kind=kind, table=table, column=column, new_column=new_column,
                      column_type=column_type, primary_key=keys[0] if keys else "", not_null=not_null, fill=fill,
                      default=found.default if kind == sql.RENAME_COLUMN else None,
                      indexes=[vars(i) for i in found.indexes])
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


def describe(plan: ChangePlan) -> str:
    if plan.kind == sql.RENAME_COLUMN:
        return f"rename {plan.table}.{plan.column} to {plan.new_column} (change {plan.name})"
    if plan.kind == sql.DROP_COLUMN:
        return f"drop {plan.table}.{plan.column} (change {plan.name})"
    return f"make {plan.table}.{plan.column} NOT NULL, NULLs filled with {plan.fill} (change {plan.name})"


def expand_body(plan: ChangePlan) -> tuple[list[str], list[str], list[str]]:
    table = sql.q(plan.table)
    trigger = sql.object_name(plan)
    up: list[str] = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")"]
    down: list[str] = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")"]
    allows: list[str] = []
    if plan.kind == sql.RENAME_COLUMN:
        new = plan.new_column or ""
        up += ["# the new column, nullable: the trigger fills it on every write, the backfill fills the rows before",
               *_execute(f"ALTER TABLE {table} ADD COLUMN {sql.q(new)} {plan.column_type}")]
        if plan.not_null:
            up += ["# NOT NULL on the new column: checked for new rows now, validated by the contract revision",
                   *_execute(f"ALTER TABLE {table} ADD CONSTRAINT {sql.q(sql.check_name(plan))} "
                             f"CHECK ({sql.q(new)} IS NOT NULL) NOT VALID")]
        down += [f"with allow('drop-column', {plan.table + '.' + new!r}, reason='undo of the expand of {plan.name}'):",
                 *["    " + line for line in _execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {sql.q(new)}")]]
    if plan.kind == sql.SET_NOT_NULL:
        up += ["# rows written from now on may not be NULL (checked for new rows only: no scan)",
               *_execute(f"ALTER TABLE {table} ADD CONSTRAINT {sql.q(sql.check_name(plan))} "
                         f"CHECK ({sql.q(plan.column)} IS NOT NULL) NOT VALID")]
        down += [f"with allow('drop-constraint', {plan.table + '.' + sql.check_name(plan)!r}, "
                 f"reason='undo of the expand of {plan.name}'):",
                 *["    " + line for line in _execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "
                                                      f"{sql.q(sql.check_name(plan))}")]]
    if plan.kind == sql.DROP_COLUMN:
        if plan.not_null:
            up += ["# the application stops writing the column: it may no longer be required",
                   *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(plan.column)} DROP NOT NULL")]
        else:
            up += ["# the column is nullable already: the application can stop writing it; nothing to change"]
        return up, down, allows
    up += ["# keeps the old and the new shape in step, in both directions, while both application versions run",
           *_execute(sql.trigger_function(plan)), *_execute(sql.create_trigger(plan))]
    down = down[:1] + [line for s in sql.drop_trigger(plan) for line in _execute(s)] + down[1:]
    allows.append(_allow("create-trigger", f"{plan.table}.{trigger}", plan))
    up += _carried_indexes(plan)
    return up, down, allows


_INVALID_INDEX = "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:name) AND NOT indisvalid"


def _carried_indexes(plan: ChangePlan) -> list[str]:
    """The old column's indexes on the new one, built CONCURRENTLY once the column and trigger have committed."""
    lines: list[str] = []
    for index in (CarriedIndex(**i) for i in plan.indexes):  # type: ignore[arg-type]
        name = sql.q(index.new_name)
        create = (f"CREATE {'UNIQUE ' if index.unique else ''}INDEX CONCURRENTLY IF NOT EXISTS {name} ON "
                  f"{sql.q(plan.table)} USING {index.method} ({', '.join(sql.q(c) for c in index.columns)})")
        lines += [f"# {index.name} on the new column, built without blocking writes (after the trigger committed)",
                  "with op.get_context().autocommit_block():",
                  "    # an interrupted build leaves an INVALID index, which IF NOT EXISTS would keep",
                  f"    if not op.get_context().as_sql and op.get_bind().execute(sa.text({_INVALID_INDEX!r}), "
                  f"{{'name': {name!r}}}).first():",
                  *["        " + line for line in _execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")],
                  *["    " + line for line in _execute(create)]]
    return lines


def contract_body(plan: ChangePlan) -> tuple[list[str], list[str], list[str]]:
    table = sql.q(plan.table)
    up: list[str] = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")"]
    allows: list[str] = []
    down = ["# a contract drops data: it is undone by restoring a backup, or by a new expand–contract change",
            f"raise NotImplementedError('the contract of {plan.name} dropped {plan.table}.{plan.column}')"] \
        if plan.kind != sql.SET_NOT_NULL else []
    if plan.kind == sql.RENAME_COLUMN:
        new = plan.new_column or ""
        if plan.not_null:
            name = sql.check_name(plan)
            up += ["# the check added NOT VALID by the expand proves NOT NULL once validated (no long lock)",
                   *_execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {sql.q(name)}"),
                   *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(new)} SET NOT NULL"),
                   *_execute(f"ALTER TABLE {table} DROP CONSTRAINT {sql.q(name)}")]
            allows += [_allow("set-not-null", f"{plan.table}.{new}", plan),
                       _allow("drop-constraint", f"{plan.table}.{name}", plan)]
        if plan.default is not None:
            up += [f"# the default of {plan.column} moves to {new}",
                   *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(new)} SET DEFAULT {plan.default}")]
        up += [line for s in sql.drop_trigger(plan) for line in _execute(s)]
        up += _execute(f"ALTER TABLE {table} DROP COLUMN {sql.q(plan.column)}")
        allows.append(_allow("drop-column", f"{plan.table}.{plan.column}", plan))
        for index in (CarriedIndex(**i) for i in plan.indexes):  # type: ignore[arg-type]
            if index.new_constraint:
                up += [f"# {index.constraint} again, on the index the expand built (a catalog change, no scan)",
                       *_execute(f"ALTER TABLE {table} ADD CONSTRAINT {sql.q(index.new_constraint)} "
                                 f"UNIQUE USING INDEX {sql.q(index.new_name)}")]
    elif plan.kind == sql.DROP_COLUMN:
        up += _execute(f"ALTER TABLE {table} DROP COLUMN {sql.q(plan.column)}")
        allows.append(_allow("drop-column", f"{plan.table}.{plan.column}", plan))
    else:
        name = sql.check_name(plan)
        up += ["# every row was filled by the backfill: validating scans without blocking writes",
               *_execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {sql.q(name)}"),
               *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(plan.column)} SET NOT NULL"),
               *_execute(f"ALTER TABLE {table} DROP CONSTRAINT {sql.q(name)}"),
               *[line for s in sql.drop_trigger(plan) for line in _execute(s)]]
        allows += [_allow("set-not-null", f"{plan.table}.{plan.column}", plan),
                   _allow("drop-constraint", f"{plan.table}.{name}", plan)]
        down = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")",
                *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(plan.column)} DROP NOT NULL")]
    return up, down, allows


def model_steps(plan: ChangePlan) -> list[str]:
    """What the models look like at each of the three deploys (printed, and in the revisions' docstrings)."""
    t, c = plan.table, plan.column
    if plan.kind == sql.RENAME_COLUMN:
        n = plan.new_column
        return [
            f"Deploy 1 (expand): add {n} to the model of {t}, nullable, beside {c}; the application keeps "
            f"reading and writing {c} (the trigger copies it):\n"
            f"    {c}: Mapped[...] = mapped_column(...)  # unchanged\n"
            f"    {n}: Mapped[... | None] = mapped_column(<the type of {c}: {plan.column_type}>, nullable=True)",
            f"Deploy 2 (after `safemigrate change backfill {plan.name}`): the application reads and writes {n}; "
            f"{c} stays in the table but leaves the mapping (the trigger fills it for the old version):\n"
            f"    {c}: Unmapped[...] = unmapped_column(...)  # SQLAlchemy 2.1; on 2.0: "
            f"__mapper_args__ = {{'exclude_properties': [{c!r}]}}\n"
            f"    {n}: Mapped[...] = mapped_column(...)",
            f"Deploy 3 (contract): remove {c} from the model of {t}"
            + (f"; {n} becomes NOT NULL (nullable=False)" if plan.not_null else "") + ".",
        ]
    if plan.kind == sql.DROP_COLUMN:
        return [
            f"Deploy 1 (expand): the application stops writing {t}.{c}"
            + (" (it is no longer NOT NULL)" if plan.not_null else "") + "; keep it in the model.",
            f"Deploy 2: {c} leaves the mapping but stays in the table:\n"
            f"    {c}: Unmapped[...] = unmapped_column(...)  # SQLAlchemy 2.1; on 2.0: "
            f"__mapper_args__ = {{'exclude_properties': [{c!r}]}}",
            f"Deploy 3 (contract): remove {c} from the model of {t}.",
        ]
    return [
        f"Deploy 1 (expand): the application writes {t}.{c} on every insert (the trigger fills {plan.fill} "
        "when it does not); the model is unchanged.",
        f"Deploy 2 (after `safemigrate change backfill {plan.name}`): nothing to change in the model.",
        f"Deploy 3 (contract): {c} becomes nullable=False in the model of {t}.",
    ]
