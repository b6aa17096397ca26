"""The application start-up guard: refuse to serve against a schema the code does not expect.

>>> from safemigrate import require_current_schema
>>> require_current_schema(engine, "path/to/project")   # at start, after the app's imports

It must cost next to nothing at every start, so it never does the expensive
things the other checks do:

* the code's heads come from a cache keyed by the versions folder listing
  (names, sizes, mtimes). On a miss they are read from the revision files'
  ``revision`` / ``down_revision`` literals without importing them; only a file
  that cannot be read that way makes it ask Alembic's ScriptDirectory (which
  imports all of them). Alembic is also asked whenever the guard is about to
  refuse, so a refusal always rests on Alembic's own graph;
* the database's revision is one query on the version table;
* the schema check is one catalog query (pg_catalog on PostgreSQL: faster than
  information_schema; information_schema.columns on MySQL/MariaDB; SQLite's
  table-valued pragma_table_info), compared with the models' MetaData for what
  breaks the application at run time only: missing tables, missing columns,
  and NOT NULL columns without a default the models do not know (every insert
  would fail). Extra tables, columns and indexes are harmless and ignored.

Nothing here imports Alembic (~70 ms) unless the guard refuses or a revision
file is not plain. The cache lives in ``<project>/.safemigrate/heads.json``
(git-ignored), or under the user's cache folder when the project is read-only.
The heads cache lives in :mod:`safemigrate.headcache`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, bindparam, create_engine, pool, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import BindParameter

from safemigrate.config.settings import Settings
from safemigrate.core.errors import ConfigError, DatabaseUnreachable, SchemaNotCurrent
from safemigrate.core.secrets import mask_url, redact
from safemigrate.core.urls import parse_url, sync_url
from safemigrate.project.layout import Layout
from safemigrate.project.models import import_metadata
from safemigrate.startup.heads import _Target, code_heads_cached, remember_heads
from safemigrate.state import changes as change_state
from safemigrate.state import instances

if TYPE_CHECKING:
    from safemigrate.harness.workspace import Workspace

_engines: dict[str, Engine] = {}  # one engine per URL given as text, kept for later calls
_lock = threading.Lock()


def require_current_revision(engine_or_url: Engine | Connection | URL | str,
                             project: str | os.PathLike[str] | Workspace | None = None, *,
                             version_table: str = "alembic_version", version_table_schema: str | None = None) -> None:
    """Raise SchemaNotCurrent unless the database is at the code's single head.

    ``project`` is the project folder (or a folder below it) or a Workspace; by
    default it is found from the working directory. ``version_table`` and
    ``version_table_schema`` are the values the project's env.py passes to
    ``context.configure`` when it does not use Alembic's default.
    """
    _require(engine_or_url, project, check_schema=False, metadata=None,
             version_table=version_table, version_table_schema=version_table_schema)


def require_current_schema(engine_or_url: Engine | Connection | URL | str,
                           project: str | os.PathLike[str] | Workspace | None = None, *, check_schema: bool = True,
                           metadata: MetaData | None = None, version_table: str = "alembic_version",
                           version_table_schema: str | None = None) -> None:
    """Raise SchemaNotCurrent unless the database is at head and its schema serves the models.

    The models are ``metadata`` when given, else ``[tool.safemigrate] metadata``.
    ``check_schema=False`` checks the revision only (require_current_revision).
    """
    _require(engine_or_url, project, check_schema=check_schema, metadata=metadata,
             version_table=version_table, version_table_schema=version_table_schema)


def _require(engine_or_url: Any, project: Any, *, check_schema: bool, metadata: MetaData | None,
             version_table: str, version_table_schema: str | None) -> None:
    target = _Target(project)
    code_heads = code_heads_cached(target)
    models = _models(target.settings, metadata) if check_schema else None
    differences: list[tuple[str, str]] = []
    with _connect(engine_or_url) as (conn, where), _reading(where):
        db_heads = _database_heads(conn, version_table, version_table_schema)
        current = db_heads is not None and len(code_heads) == 1 and db_heads == code_heads
        if current and models is not None:
            differences = _schema_differences(conn, models)
    if not current:
        _refuse_revision(target, db_heads, where, version_table)  # returns only when Alembic finds it at head
        if models is not None:
            with _connect(engine_or_url) as (conn, where), _reading(where):
                differences = _schema_differences(conn, models)
    if differences:
        _refuse_schema(differences, where, code_heads)
    if models is not None and not isinstance(engine_or_url, Connection):  # the caller's transaction is theirs
        _heartbeat(engine_or_url, target, models)


def _heartbeat(engine_or_url: Any, target: _Target, models: MetaData | list[MetaData]) -> None:
    """Record this instance and the expand–contract changes whose old shape its models still use
    (state/instances.py). Only in a project with such changes; a role that cannot write the table is not seen."""
    plans = _plans(target.settings)
    if not plans:
        return
    old = [name for name, plan in plans.items() if change_state.uses_old_shape(plan, models)]
    try:
        with _connect(engine_or_url) as (conn, _), conn.begin():
            instances.beat(conn, old)
    except (DBAPIError, OSError):
        return


def _plans(settings: Settings) -> dict[str, change_state.ChangePlan]:
    script = settings.root / (settings.script_location or "migrations")
    if ":" in (settings.script_location or "") or not script.is_dir():
        try:
            script = Layout(settings).script_location
        except ConfigError:
            return {}
    try:
        return change_state.load_plans(script)
    except (OSError, ValueError, TypeError):
        return {}


# -- the database ----------------------------------------------------------------------
@contextmanager
def _connect(engine_or_url: Any) -> Iterator[tuple[Connection, str]]:
    """A connection to the database, and its URL without password for messages."""
    if hasattr(engine_or_url, "sync_engine") or hasattr(engine_or_url, "sync_connection"):  # asyncio
        engine_or_url = engine_or_url.engine.url if hasattr(engine_or_url, "sync_connection") else engine_or_url.url
    if isinstance(engine_or_url, Connection):
        conn = engine_or_url
        where = mask_url(conn.engine.url)
        began = not conn.in_transaction()
        try:
            yield conn, where
        finally:
            if began and conn.in_transaction():
                conn.rollback()  # only our reads are in it: leave the caller's connection as we found it
        return
    if isinstance(engine_or_url, Engine):
        engine = engine_or_url
    elif isinstance(engine_or_url, (str, URL)):
        engine = _engine_for(engine_or_url)
    else:
        raise ConfigError(
            f"require_current_schema() was given a {type(engine_or_url).__name__}.",
            "The start-up guard needs to know which database the application uses.",
            "Pass the application's Engine or Connection, or its database URL as a string.",
        )
    where = mask_url(engine.url)
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        from safemigrate.core.db import unreachable

        raise unreachable(engine.url, exc) from None
    with conn:
        yield conn, where


def _engine_for(url: str | URL) -> Engine:
    parsed = parse_url(url)  # remembers the password so that redact() masks it
    key = parsed.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_engine(sync_url(parsed), poolclass=pool.NullPool)
        return engine


@contextmanager
def _reading(where: str) -> Iterator[None]:
    try:
        yield
    except DBAPIError as exc:
        first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnreachable(
            f"Reading the revision and schema of {where} failed: {redact(first)}",
            "The start-up guard cannot tell whether the database matches this code.",
            "Check that the application's database user may read the version table and the system catalog.",
        ) from None


def _database_heads(conn: Connection, table: str, schema: str | None) -> list[str] | None:
    """The revisions in the version table, or None when there is no version table."""
    if not conn.dialect.has_table(conn, table, schema=schema):
        return None
    quote = conn.dialect.identifier_preparer
    name = f"{quote.quote_schema(schema)}.{quote.quote(table)}" if schema else quote.quote(table)
    return sorted(row[0] for row in conn.execute(text(f"SELECT version_num FROM {name}")))


# -- refusals -------------------------------------------------------------------------------
def _refuse_revision(target: _Target, db_heads: list[str] | None, where: str, table: str) -> None:
    """Raise the reason the revision is not current, asking Alembic's graph (imports the revisions)."""
    alembic = target.alembic.history
    heads = sorted(alembic.heads)
    remember_heads(target, heads)
    context = {"database_heads": db_heads or [], "code_heads": heads}
    head_text = ", ".join(heads)
    if len(heads) > 1:
        raise SchemaNotCurrent(
            f"The migration history has {len(heads)} heads ({head_text}): two branches each added a revision "
            "on the same parent.",
            "The database cannot be at one known schema of this code while the history is split.",
            "Join them with `alembic merge -m \"merge heads\" heads`, or re-parent the newer revision, "
            "then migrate and deploy.", reason="multiple_heads", **context)
    if db_heads == heads:
        return  # the static reading was stale or wrong; Alembic says the database is at head
    if not db_heads:
        pending = alembic.pending([])
        state = f"has no {table} table" if db_heads is None else f"has no revision recorded in {table}"
        raise SchemaNotCurrent(
            f"The database {where} has never been migrated: it {state} ({len(pending)} revision(s) to apply).",
            "None of the application's tables can be assumed to exist.",
            "Run `safemigrate migrate` (or `alembic upgrade head`) against it, or check that the application "
            "points at the right database.", reason="never_migrated", pending=pending, **context)
    unknown = [h for h in db_heads if not alembic.known(h)]
    if unknown:
        raise SchemaNotCurrent(
            f"The database {where} is at revision {', '.join(unknown)}, which this code does not have "
            f"(its head is {head_text}): the database is ahead of this code (migrated by a newer release), "
            "or that revision file is missing (deleted or renamed).",
            "The schema may have tables or columns this code does not expect, or lack ones it needs.",
            "Deploy the code that contains that revision, or restore the missing file. Do not run migrations "
            "from this code against this database.", reason="unknown_revision", **context)
    pending = alembic.pending(db_heads)
    listed = ", ".join(pending[:5]) + (", ..." if len(pending) > 5 else "")
    raise SchemaNotCurrent(
        f"The database {where} is behind the code: {len(pending)} pending revision(s) ({listed}); it is at "
        f"{', '.join(db_heads)}, the code's head is {head_text}.",
        "The application would fail on the tables and columns those revisions add.",
        "Apply them with `safemigrate migrate` (or `alembic upgrade head`) before starting the application.",
        reason="behind", pending=pending, **context)


def _refuse_schema(differences: list[tuple[str, str]], where: str, code_heads: list[str]) -> None:
    kinds = {kind for kind, _ in differences}
    lines = [line for _, line in differences]
    listed = "; ".join(lines[:5]) + (f"; and {len(lines) - 5} more" if len(lines) > 5 else "")
    why, fix = [], ["Run `safemigrate check --live` to see every difference with the DDL that fixes it."]
    if kinds & {"missing_table", "missing_column"}:
        why.append("The application's first query that uses a missing table or column would fail.")
        fix.append("Restore what is missing.")
    if "extra_not_null" in kinds:
        why.append("Inserts from the application never set columns the models do not know, so every insert "
                   "into those tables would fail.")
        fix.append("Give the extra column a server default or make it nullable (or add it to the models).")
    why.append("The database is at head, so the schema was changed outside the migrations.")
    raise SchemaNotCurrent(
        f"The database {where} is at head ({', '.join(code_heads)}) but its schema does not serve the models: "
        f"{listed}.", " ".join(why), " ".join(fix),
        reason="schema_differs", database_heads=code_heads, code_heads=code_heads, differences=lines)


# -- the schema -----------------------------------------------------------------------------
def _models(settings: Settings, metadata: MetaData | None) -> MetaData | list[MetaData]:
    if metadata is not None:
        return metadata
    if not settings.metadata:
        raise ConfigError(
            "require_current_schema() does not know the models: [tool.safemigrate] has no metadata key.",
            "The guard compares the live schema with the models' MetaData.",
            "Set metadata = 'package.module:Base.metadata' in [tool.safemigrate], pass metadata=Base.metadata, "
            "or call require_current_revision() to check the revision only.",
        )
    return import_metadata(settings.metadata, settings.root)


#: (schema, table, column or None, NOT NULL without any default) per dialect; one query each.
_PG_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, a.attnotnull AND NOT ({has_default})
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname IN :schemas AND c.relname IN :tables
"""
_MYSQL_COLUMNS = """
SELECT table_schema, table_name, column_name,
       is_nullable = 'NO' AND column_default IS NULL AND extra NOT LIKE '%auto_increment%'
       AND extra NOT LIKE '%GENERATED%'
FROM information_schema.columns WHERE table_schema IN :schemas AND table_name IN :tables
"""
_SQLITE_COLUMNS = """
SELECT m.name, p.name, p."notnull" AND p.dflt_value IS NULL
       AND NOT (p.pk = 1 AND upper(p.type) = 'INTEGER'
                AND (SELECT count(*) FROM pragma_table_info(m.name, :schema) WHERE pk > 0) = 1)
FROM {schema}.sqlite_master AS m JOIN pragma_table_info(m.name, :schema) AS p
WHERE m.type IN ('table', 'view') AND lower(m.name) IN :tables
"""


def _schema_differences(conn: Connection, models: MetaData | list[MetaData]) -> list[tuple[str, str]]:
    """What in the live schema breaks the models at run time, as (kind, description) pairs."""
    dialect = conn.dialect
    default = dialect.default_schema_name
    fold = (lambda s: s.lower()) if dialect.name in {"mysql", "mariadb", "sqlite"} else (lambda s: s)
    tables = [t for md in (models if isinstance(models, list) else [models]) for t in md.tables.values()]
    wanted = {(fold(t.schema or default or ""), fold(t.name)): t for t in tables}
    # Names as the models spell them and folded: catalogs differ in how they compare case.
    names = sorted({t.name for t in tables} | {t.name.lower() for t in tables})
    live = _live_columns(conn, sorted({t.schema or default or "" for t in tables}), names)
    live = {(fold(s), fold(t)): {fold(c): required for c, required in cols.items()} for (s, t), cols in live.items()}
    found: list[tuple[str, str]] = []
    for key, table in sorted(wanted.items()):
        label = f"{table.schema}.{table.name}" if table.schema else table.name
        columns = live.get(key)
        if columns is None:
            found.append(("missing_table", f"table {label} is missing"))
            continue
        known = {fold(c.name) for c in table.columns}
        found += [("missing_column", f"column {label}.{c.name} is missing")
                  for c in table.columns if fold(c.name) not in columns]
        found += [("extra_not_null", f"column {label}.{name} exists only in the database and is NOT NULL "
                   "without a default") for name, required in sorted(columns.items()) if required and name not in known]
    return found


def _live_columns(conn: Connection, schemas: list[str], tables: list[str]) -> dict[tuple[str, str], dict[str, bool]]:
    """{(schema, table): {column: NOT NULL without default}} for the named tables that exist."""
    name = conn.dialect.name
    expanding: list[BindParameter[Any]] = [bindparam("tables", expanding=True)]
    rows: list[Any] = []
    if name == "postgresql":
        version = conn.dialect.server_version_info or (0,)
        has_default = "a.atthasdef" + (" OR a.attidentity <> ''" if version >= (10,) else "") \
            + (" OR a.attgenerated <> ''" if version >= (12,) else "")
        statement = text(_PG_COLUMNS.format(has_default=has_default)).bindparams(
            bindparam("schemas", expanding=True), *expanding)
        rows = list(conn.execute(statement, {"schemas": schemas, "tables": tables}).all())
    elif name in {"mysql", "mariadb"}:
        statement = text(_MYSQL_COLUMNS).bindparams(bindparam("schemas", expanding=True), *expanding)
        rows = list(conn.execute(statement, {"schemas": schemas, "tables": tables}).all())
    elif name == "sqlite":
        quote = conn.dialect.identifier_preparer
        for schema in schemas:
            statement = text(_SQLITE_COLUMNS.format(schema=quote.quote(schema))).bindparams(*expanding)
            lowered = sorted({t.lower() for t in tables})
            rows += [(schema, *row) for row in conn.execute(statement, {"schema": schema, "tables": lowered})]
    else:
        return _inspected_columns(conn, schemas, tables)
    live: dict[tuple[str, str], dict[str, bool]] = {}
    for schema, table, column, required in rows:
        columns = live.setdefault((schema, table), {})
        if column is not None:
            columns[column] = bool(required)
    return live


def _inspected_columns(conn: Connection, schemas: list[str],
                       tables: list[str]) -> dict[tuple[str, str], dict[str, bool]]:
    # Other dialects: SQLAlchemy's reflection, one multi-table query per schema where the dialect has one.
    from sqlalchemy import inspect

    inspector = inspect(conn)
    default = conn.dialect.default_schema_name
    live: dict[tuple[str, str], dict[str, bool]] = {}
    for schema in schemas:
        found = inspector.get_multi_columns(schema=None if schema == default else schema, filter_names=tables)
        for (_, table), columns in found.items():
            live[(schema, table)] = {
                c["name"]: not c["nullable"] and c.get("default") is None and not c.get("computed")
                and not c.get("identity") and c.get("autoincrement") is not True for c in columns}
    return live
