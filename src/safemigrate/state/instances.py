"""Running application instances and the shape of the schema their models use (expand–contract, #14).

A contract revision drops an old shape (a column renamed, a column dropped, a
table renamed). Until every running instance of the application has been
deployed with models that no longer use it, dropping it breaks them. So the
start-up guard (``require_current_schema``) records, per instance, which
expand–contract changes its models still use the old shape of; the production
preflight refuses a contract while an instance seen within ``instance_ttl``
still does, and names it.

The table is created by ``migrate`` (beside the ledger); the application's role
needs to insert, update and delete its rows. An instance that cannot write it
is not seen.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, delete, inspect, select
from sqlalchemy.engine import Connection

TABLE = "safemigrate_instances"

_metadata = MetaData()
instances = Table(
    TABLE, _metadata,
    Column("instance", String(255), primary_key=True),  # host:pid:start of the process
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Column("old_shapes", Text, nullable=False),  # JSON list of the changes whose old shape its models use
)

#: this process, as the table names it
INSTANCE = f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"


@dataclass(frozen=True)
class Instance:
    instance: str
    host: str
    pid: int
    seen_at: datetime
    old_shapes: tuple[str, ...]

    def describe(self) -> str:
        seen = self.seen_at if self.seen_at.tzinfo else self.seen_at.replace(tzinfo=UTC)
        return f"{self.host} (pid {self.pid}, seen {seen.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def ensure(conn: Connection) -> None:
    _metadata.create_all(conn, checkfirst=True)


def beat(conn: Connection, old_shapes: list[str]) -> bool:
    """Record this process now; False when the table does not exist (nothing was recorded)."""
    if not inspect(conn).has_table(TABLE):
        return False
    conn.execute(delete(instances).where(instances.c.instance == INSTANCE))
    conn.execute(instances.insert().values(instance=INSTANCE, host=socket.gethostname(), pid=os.getpid(),
                                           seen_at=datetime.now(UTC), old_shapes=json.dumps(sorted(old_shapes))))
    return True


def using_old_shape(conn: Connection, change: str, ttl_ms: int) -> list[Instance]:
    """Instances seen within ``ttl_ms`` whose models still use the old shape of ``change``."""
    if not inspect(conn).has_table(TABLE):
        return []
    since = datetime.now(UTC) - timedelta(milliseconds=ttl_ms)
    found = []
    for row in conn.execute(select(instances).where(instances.c.seen_at >= since)):
        shapes = tuple(json.loads(row.old_shapes or "[]"))
        if change in shapes:
            found.append(Instance(row.instance, row.host, row.pid, row.seen_at, shapes))
    return found
