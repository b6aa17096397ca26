"""What safemigrate keeps about expand–contract changes: their plans and their phases.

A change's **plan** is a JSON file the ``safemigrate change`` command writes
beside the revisions (``<script_location>/safemigrate_changes/NAME.json``):
what the change does (kind, table, columns, primary key) and the ids of its
expand and contract revisions. It is read without importing anything of the
project, so the production preflight can tell which pending revision is a
contract and of which change.

A change's **phase** lives in the migrated database, in a table of its own
(``safemigrate_changes``), beside the ledger and never part of the project's
schema: planned → expanded → backfilling → backfilled (verified) →
contracted, or aborted. The backfill's last key is checkpointed in the same
transaction as its batch, so a killed backfill resumes within one batch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection

TABLE = "safemigrate_changes"
PLAN_FOLDER = "safemigrate_changes"

PLANNED = "planned"
EXPANDED = "expanded"
BACKFILLING = "backfilling"
BACKFILLED = "backfilled"
CONTRACTED = "contracted"
ABORTED = "aborted"
PHASES = (PLANNED, EXPANDED, BACKFILLING, BACKFILLED, CONTRACTED, ABORTED)

_metadata = MetaData()
changes = Table(
    TABLE, _metadata,
    Column("name", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("table_name", String(255), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("last_key", Text, nullable=True),  # JSON of the last primary key backfilled (checkpoint)
    Column("batches", Integer, nullable=False, default=0),
    Column("rows_done", BigInteger, nullable=False, default=0),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=True),
)


@dataclass
class ChangePlan:
    """One expand–contract change, as its plan file records it."""

    name: str
    kind: str  # rename-column | drop-column | set-not-null | change-type | rename-table
    table: str
    column: str
    new_column: str | None = None  # rename-column: the new name
    column_type: str = ""  # the column's type, as PostgreSQL's format_type() spells it
    primary_key: str = ""
    not_null: bool = False  # the old column is NOT NULL (rename: carried to the new one at contract)
    fill: str | None = None  # set-not-null: the SQL literal written into NULLs
    new_type: str | None = None  # change-type: the new column's type
    using: str | None = None  # change-type: the new value from the row (SQL, as in ALTER ... USING)
    down: str | None = None  # change-type: the old value from the row, for the version still on the old type
    default: str | None = None  # the old column's default (rename: set on the new one by the contract)
    indexes: list[dict[str, object]] = field(default_factory=list)  # rename: indexes carried to the new column
    new_table: str | None = None  # rename-table: the new name
    columns: list[str] = field(default_factory=list)  # rename-table: every column, in order
    pk_name: str | None = None  # rename-table: the old primary key's name
    sequences: list[list[str]] = field(default_factory=list)  # rename-table: [sequence, column] the old table owns
    dialect: str = "postgresql"  # postgresql | mysql (MySQL and MariaDB): the SQL the revisions and backfill use
    column_definition: str = ""  # mysql: the column's type, character set and collation, for ADD and MODIFY
    expand_revision: str = ""
    contract_revision: str | None = None  # None until written (--contract-later)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat())

    @property
    def needs_backfill(self) -> bool:
        return self.kind != "drop-column"


def plan_folder(script_location: Path) -> Path:
    return Path(script_location) / PLAN_FOLDER


def save_plan(script_location: Path, plan: ChangePlan) -> Path:
    folder = plan_folder(script_location)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{plan.name}.json"
    path.write_text(json.dumps(asdict(plan), indent=2, sort_keys=True) + "\n")
    return path


def load_plans(script_location: Path) -> dict[str, ChangePlan]:
    """Every plan of the project, by name (none when the folder does not exist)."""
    folder = plan_folder(script_location)
    plans: dict[str, ChangePlan] = {}
    if not folder.is_dir():
        return plans
    known = set(ChangePlan.__dataclass_fields__)
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        plan = ChangePlan(**{k: v for k, v in data.items() if k in known})
        plans[plan.name] = plan
    return plans


# -- the phase table ---------------------------------------------------------

def ensure(conn: Connection) -> None:
    _metadata.create_all(conn, checkfirst=True)


def exists(conn: Connection) -> bool:
    from sqlalchemy import inspect

    return inspect(conn).has_table(TABLE)


@dataclass
class PhaseRow:
    name: str
    kind: str
    table_name: str
    phase: str
    last_key: object | None
    batches: int
    rows_done: int
    verified_at: datetime | None
    updated_at: datetime | None
    note: str | None


def _row(record: object) -> PhaseRow:
    values = dict(record._mapping)  # type: ignore[attr-defined]
    raw = values.pop("last_key")
    return PhaseRow(last_key=json.loads(raw) if raw else None, **values)


def read(conn: Connection, name: str, *, for_update: bool = False) -> PhaseRow | None:
    query = select(changes).where(changes.c.name == name)
    if for_update:
        query = query.with_for_update()
    found = conn.execute(query).first()
    return _row(found) if found is not None else None


def read_all(conn: Connection) -> dict[str, PhaseRow]:
    if not exists(conn):
        return {}
    return {r.name: r for r in (_row(x) for x in conn.execute(select(changes).order_by(changes.c.name)))}


def record_phase(conn: Connection, plan: ChangePlan, phase: str, *, note: str | None = None,
                 verified: bool = False, reset: bool = False) -> None:
    """Move ``plan`` to ``phase`` (the row is created when missing), in ``conn``'s transaction."""
    now = datetime.now(UTC)
    values: dict[str, object] = {"phase": phase, "updated_at": now}
    if note is not None:
        values["note"] = note
    if verified:
        values["verified_at"] = now
    if reset:
        values.update(last_key=None, batches=0, rows_done=0, verified_at=None)
    if read(conn, plan.name) is None:
        conn.execute(changes.insert().values(name=plan.name, kind=plan.kind, table_name=plan.table,
                                             **{"batches": 0, "rows_done": 0, **values}))
    else:
        conn.execute(changes.update().where(changes.c.name == plan.name).values(**values))


def checkpoint(conn: Connection, name: str, last_key: object, rows: int) -> None:
    """The last key of a batch, in the batch's own transaction."""
    conn.execute(changes.update().where(changes.c.name == name).values(
        last_key=json.dumps(last_key, default=str), batches=changes.c.batches + 1, rows_done=changes.c.rows_done + rows,
        updated_at=datetime.now(UTC)))


def contracts_not_ready(conn: Connection, plans: dict[str, ChangePlan],
                        pending: list[str]) -> list[tuple[ChangePlan, str]]:
    """Pending contract revisions whose change is not backfilled and verified: (plan, its phase)."""
    waiting = [p for p in plans.values() if p.contract_revision in pending and p.needs_backfill]
    if not waiting:
        return []
    rows = read_all(conn)

    def phase(plan: ChangePlan) -> str:
        if plan.expand_revision in pending:
            return PLANNED
        return rows[plan.name].phase if plan.name in rows else EXPANDED
    return [(p, phase(p)) for p in waiting if p.name not in rows or rows[p.name].phase != BACKFILLED]


def uses_old_shape(plan: ChangePlan, models: MetaData | list[MetaData]) -> bool:
    """Whether ``models`` (an application's) still use the shape ``plan``'s contract drops: the old table of a
    rename-table, the old column of a rename, a drop or a type change, a nullable column of a set-not-null."""
    tables = {t.name.lower(): t for metadata in (models if isinstance(models, list) else [models])
              for t in metadata.tables.values()}
    table = tables.get(plan.table.rsplit(".", 1)[-1].lower())
    if table is None or plan.kind == "rename-table":
        return table is not None
    column = next((c for c in table.columns if c.name.lower() == plan.column.lower()), None)
    if column is None:
        return False
    return bool(column.nullable) if plan.kind == "set-not-null" else True
