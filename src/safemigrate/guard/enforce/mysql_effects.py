"""What a revision does on MySQL/MariaDB, judged against the schema it started from.

MySQL commits each DDL statement as it runs, so what a revision's DDL destroys
cannot be rolled back: on this backend the guard must see it coming. When a
revision starts, :func:`snapshot` reads ``information_schema`` (tables,
columns with their types, indexes and constraints, views, triggers, routines,
events) and the row count of every base table, up to :data:`ROW_CAP` (the
effects ask only whether a table that held rows was emptied). Then:

* before each statement is sent, :meth:`MysqlRun.judge` refuses what cannot be
  judged and what only this schema shows is destructive
  (:mod:`~safemigrate.guard.enforce.mysql_statements`);
* after the body, :meth:`MysqlRun.finish` compares a second snapshot with the
  first. What went around the hooks (a raw DBAPI cursor, another connection, a
  bound parameter that made a WHERE always true) is found there. DML is still
  in the revision's open transaction and is rolled back; DDL already
  committed, and the refusal says so and points to the verified backup. A
  listener or an ``on_version_apply`` callback the body left behind would run
  after this check: it is refused too.

Effects reuse :class:`~safemigrate.guard.enforce.effects.Effect` and the rule
ids of the SQL rules, so one sign-off covers a statement and its effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from safemigrate.core.errors import DestructiveChangeBlocked
from safemigrate.core.results import SignOff
from safemigrate.guard.analysis.mysqltypes import narrows
from safemigrate.guard.enforce import mysql_statements
from safemigrate.guard.enforce.effects import EFFECT_ONLY, Effect
from safemigrate.guard.enforce.mysql_statements import DYNAMIC_SQL, TRIGGER_OR_EVENT
from safemigrate.guard.engine import UNPARSABLE
from safemigrate.guard.model import Context, Severity
from safemigrate.guard.registry import load_rules

HOOK_AFTER_BODY = "hook-after-body"
#: Effects and refusals with no SQL rule of their own, and whether they block.
MYSQL_EFFECT_ONLY = {**EFFECT_ONLY, DYNAMIC_SQL: True, TRIGGER_OR_EVENT: True, UNPARSABLE: True,
                     HOOK_AFTER_BODY: True}
_BACKUP = ("what was committed can be restored from the verified backup taken before this run (`safemigrate "
           "backup list`, then `safemigrate backup restore <id>`; docs/BACKUPS.md)")


@dataclass
class Schema:
    """The user-visible schema of the migrated database, and its row counts, at one moment."""

    tables: dict[str, str] = field(default_factory=dict)  # name -> BASE TABLE / VIEW / SEQUENCE...
    columns: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # type, position
    indexes: dict[tuple[str, str], bool] = field(default_factory=dict)  # (table, index) -> unique
    constraints: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, name) -> FOREIGN KEY...
    triggers: dict[str, str] = field(default_factory=dict)  # trigger -> its table
    routines: set[str] = field(default_factory=set)  # "PROCEDURE wipe"
    events: set[str] = field(default_factory=set)
    rows: dict[str, int] = field(default_factory=dict)  # base table -> row count up to ROW_CAP + 1


def snapshot(connection: Connection, *, counts_from: Connection | None = None) -> Schema:
    """The schema ``connection`` sees now; row counts through ``counts_from`` when given."""
    schema = Schema()
    where = "WHERE {0} = DATABASE()"
    for name, kind in connection.execute(text("SELECT table_name, table_type FROM information_schema.tables "
                                              + where.format("table_schema"))):
        schema.tables[name.lower()] = kind
    for table, column, type_, position in connection.execute(text(
            "SELECT table_name, column_name, column_type, ordinal_position FROM information_schema.columns "
            + where.format("table_schema"))):
        schema.columns[(table.lower(), column.lower())] = (type_.lower(), position)
    for table, index, non_unique in connection.execute(text(
            "SELECT DISTINCT table_name, index_name, non_unique FROM information_schema.statistics "
            + where.format("table_schema"))):
        schema.indexes[(table.lower(), index.lower())] = not non_unique
    for table, name, kind in connection.execute(text(
            "SELECT table_name, constraint_name, constraint_type FROM information_schema.table_constraints "
            + where.format("constraint_schema"))):
        schema.constraints[(table.lower(), name.lower())] = kind
    for name, table in connection.execute(text("SELECT trigger_name, event_object_table FROM "
                                               "information_schema.triggers " + where.format("trigger_schema"))):
        schema.triggers[name.lower()] = table.lower()
    schema.routines = {f"{kind} {name}".lower() for name, kind in connection.execute(text(
        "SELECT routine_name, routine_type FROM information_schema.routines " + where.format("routine_schema")))}
    schema.events = {row[0].lower() for row in connection.execute(text(
        "SELECT event_name FROM information_schema.events " + where.format("event_schema")))}
    schema.rows = count_rows(counts_from or connection, [t for t, k in schema.tables.items() if k == "BASE TABLE"])
    return schema


#: Rows counted per table, at most: the effects only ask whether a table that held rows holds none, and an
#: exact COUNT(*) reads a whole InnoDB index (seconds to minutes per large table, three times per revision).
ROW_CAP = 1000


def count_rows(connection: Connection, tables: list[str]) -> dict[str, int]:
    """Row counts up to ``ROW_CAP + 1`` (ROW_CAP + 1 means "more than ROW_CAP"), in one round trip."""
    if not tables:
        return {}
    probes = [f"SELECT {_literal(t)}, COUNT(*) FROM (SELECT 1 FROM {_quoted(t)} LIMIT {ROW_CAP + 1}) AS probe"
              for t in sorted(tables)]
    return {name.lower(): int(count) for name, count in connection.execute(text(" UNION ALL ".join(probes)))}


def _rows(count: int) -> str:
    """How many rows a bounded count stands for, in words."""
    if count > ROW_CAP:
        return f"more than {ROW_CAP} rows"
    return f"{count} row{'s' if count != 1 else ''}"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "''") + "'"


def effects(before: Schema, after: Schema, *, fresh_rows: dict[str, int] | None = None) -> list[Effect]:
    """The destructive effects between two snapshots (``fresh_rows``: counts another connection read)."""
    found: list[Effect] = []
    gone = [t for t in before.tables if t not in after.tables]
    new = [t for t in after.tables if t not in before.tables]
    for table in gone:
        kind = before.tables[table]
        twin = next((n for n in new if _columns_of(after, n) == _columns_of(before, table)), None)
        if twin is not None and kind == "BASE TABLE":
            found.append(Effect("rename-table", table, f"renamed table {table} to {twin}"))
        elif kind == "VIEW":
            found.append(Effect("drop-view", table, f"dropped view {table}"))
        else:
            held = before.rows.get(table)
            found.append(Effect("drop-table", table, f"dropped table {table}"
                                + (f" (it held {_rows(held)})" if held else "")))
    for table, held in before.rows.items():
        if table not in after.tables or not held:
            continue
        left = [n for n in (after.rows.get(table), (fresh_rows or {}).get(table)) if n is not None]
        if 0 in left:
            found.append(Effect("delete-without-where", table, f"emptied table {table}: it held {_rows(held)} "
                                "and holds none (DELETE or TRUNCATE)"))
    for (table, column), (type_, position) in before.columns.items():
        if table not in after.tables or before.tables.get(table) != "BASE TABLE":
            continue  # a dropped table is reported as such; a view's columns follow its query
        target = f"{table}.{column}"
        now = after.columns.get((table, column))
        if now is None:
            renamed = next((c for (t, c), (ty, pos) in after.columns.items() if t == table and pos == position
                            and (t, c) not in before.columns), None)
            found.append(Effect("rename-column", target, f"renamed column {target} to {renamed}") if renamed
                         else Effect("drop-column", target, f"dropped column {target}"))
        elif now[0] != type_ and narrows(type_, now[0]):
            found.append(Effect("narrow-column-type", target, f"narrowed column {target} from {type_} to {now[0]}"))
    for (table, index), unique in before.indexes.items():
        if table in after.tables and (table, index) not in after.indexes:
            rule = "drop-constraint" if unique else "drop-index"
            found.append(Effect(rule, f"{table}.{index}", f"dropped {'unique ' if unique else ''}index {index} "
                                f"of {table}"))
    for (table, name), kind in before.constraints.items():
        # a unique key or a primary key is its index, reported above; a foreign key keeps its own index
        if (table in after.tables and (table, name) not in after.constraints
                and not (kind in {"UNIQUE", "PRIMARY KEY"} and (table, name) in before.indexes)):
            found.append(Effect("drop-constraint", f"{table}.{name}", f"dropped {kind.lower()} {name} on {table}"))
    for trigger, table in after.triggers.items():
        if trigger not in before.triggers and table in before.tables:
            found.append(Effect(TRIGGER_OR_EVENT, table, f"created trigger {trigger} on {table}: it runs on "
                                "every write to the table, where no guard sees it"))
    for event in sorted(after.events - before.events):
        found.append(Effect(TRIGGER_OR_EVENT, event, f"created event {event}: it runs on a schedule, where no "
                            "guard sees it"))
    return found


def _columns_of(schema: Schema, table: str) -> list[tuple[str, str]]:
    return sorted((c, ty) for (t, c), (ty, _) in schema.columns.items() if t == table)


def blocks(effect: Effect) -> bool:
    """Whether an effect is refused when no sign-off covers it (a warning rule's effect is not)."""
    if effect.rule in MYSQL_EFFECT_ONLY:
        return MYSQL_EFFECT_ONLY[effect.rule]
    rule = load_rules().get(effect.rule)
    return rule is None or rule.severity is Severity.ERROR


def covered(effect: Effect, signoffs: tuple[SignOff, ...]) -> bool:
    # an emptied table is a DELETE or a TRUNCATE: the counts cannot tell, so either sign-off covers it
    rules = {effect.rule, "truncate"} if effect.rule == "delete-without-where" else {effect.rule}
    return any(s.covers(rule, effect.target) for s in signoffs for rule in rules)


class MysqlRun:
    """One revision on MySQL/MariaDB: its schema at the start, its statements, and what it did."""

    def __init__(self, context: MigrationContext, *, revision: str, path: str | None):
        assert context.connection is not None
        self.revision = revision
        self.path = path
        self.before = snapshot(context.connection)
        self.hooks = _hooks(context)

    def judge(self, statement: str, *, signoffs: tuple[SignOff, ...], context: Context | None,
              line: int | None) -> None:
        """Before ``statement`` is sent: refuse it if it cannot be judged or the schema shows it destroys data."""
        mysql_statements.judge(statement, self.before, revision=self.revision, path=self.path, signoffs=signoffs,
                               context=context, line=line)


    # -- before each statement --------------------------------------------------------------
    # -- after the body --------------------------------------------------------------------
    def finish(self, context: MigrationContext, signoffs: tuple[SignOff, ...]) -> DestructiveChangeBlocked | None:
        """What the revision did that no sign-off covers, as a refusal (None when nothing)."""
        connection = context.connection
        assert connection is not None
        after = snapshot(connection)
        fresh = _fresh_counts(connection, [t for t, k in after.tables.items() if k == "BASE TABLE"])
        found = [*effects(self.before, after, fresh_rows=fresh), *_hooks_left(self.hooks, _hooks(context))]
        done = [e for e in found if blocks(e) and not covered(e, signoffs)]
        if not done:
            return None
        first = done[0]
        return DestructiveChangeBlocked(
            f"Revision {self.revision} ({self.path}) {'; '.join(e.description for e in done)}.",
            "safemigrate compared the database's schema and row counts before and after the revision's body, "
            "whatever path sent the SQL, and the revision is not recorded as applied. "
            + _what_stayed(done, elsewhere={t for t, n in (fresh or {}).items() if n == 0 and after.rows.get(t)}),
            f"Check the database now; {_BACKUP}. If this change is deliberate, sign it off in the migration: "
            f"`with allow({first.rule!r}, {first.target!r}, reason='...'):` around it, or "
            f"`safemigrate_allow = [allow({first.rule!r}, {first.target!r}, reason='...')]` at module level.",
            rule=first.rule, revision=self.revision, line=None,
        )


def _what_stayed(done: list[Effect], *, elsewhere: set[str]) -> str:
    """What of ``done`` the rollback undoes and what MySQL already committed, said plainly."""
    schema = [e.description for e in done if e.rule not in {"delete-without-where", HOOK_AFTER_BODY}]
    emptied = [e.target for e in done if e.rule == "delete-without-where"]
    parts: list[str] = []
    if schema:
        parts.append("MySQL/MariaDB commits each DDL statement as it runs, so this is already committed and "
                     f"the rollback cannot undo it: {'; '.join(schema)}.")
    own = [t for t in emptied if t not in elsewhere]
    if own:
        parts.append(f"Rows deleted from {', '.join(own)} on the revision's connection are rolled back with its "
                     "transaction; if they went with a TRUNCATE (DDL), they are committed and gone.")
    if elsewhere & set(emptied):
        parts.append(f"Rows of {', '.join(sorted(elsewhere & set(emptied)))} were deleted by another connection, "
                     "which committed on its own: they are gone.")
    if not parts:
        parts.append("Nothing it did was committed: its transaction is rolled back.")
    return " ".join(parts)


def _hooks(context: MigrationContext) -> dict[str, set[int]]:
    """The code set to run on the revision's connection's events and on Alembic's version bump."""
    hooks: dict[str, set[int]] = {"on_version_apply": {id(f) for f in context.on_version_apply_callbacks or ()}}
    dispatch = context.connection.dispatch if context.connection is not None else None
    for name in dir(dispatch) if dispatch is not None else ():
        if not name.startswith("_") and name not in {"local", "parent"}:
            try:
                hooks[name] = {id(f) for f in getattr(dispatch, name)}
            except TypeError:  # not a listener collection
                continue
    return hooks


def _hooks_left(before: dict[str, set[int]], after: dict[str, set[int]]) -> list[Effect]:
    """Code the body registered to run after it: when the guard no longer judges the revision's statements."""
    return [Effect(HOOK_AFTER_BODY, name, f"left code to run on {name} (after its body, where the guard no longer "
                   "judges its statements)") for name, now in after.items() if now - before.get(name, set())]


def _fresh_counts(connection: Connection, tables: list[str]) -> dict[str, int] | None:
    """Row counts as another connection sees them: rows another session deleted and committed.

    The revision's own transaction reads a consistent snapshot (REPEATABLE READ) taken when it first read,
    so a DELETE committed by another connection (a second driver connection, a client in a subprocess) is
    invisible to it.
    """
    try:
        with connection.engine.connect() as other:
            # the revision may hold a table lock (LOCK TABLES) this connection would wait on forever
            other.execute(text("SET SESSION lock_wait_timeout = 5"))
            counts = count_rows(other, tables)
            other.rollback()
            return counts
    except Exception:  # no second connection possible here: the revision's own counts still judge
        return None


