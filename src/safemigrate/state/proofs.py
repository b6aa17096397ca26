"""Proofs that a live database equals the schema its revision builds, kept so a deploy with nothing to do
need not rebuild the whole history again (issue #16).

A production ``migrate`` compares the live database with a throwaway rebuild of
its revision (out-of-band changes) and the models with that rebuild. When that
comparison found them equal and nothing was pending, it records a proof in the
migrated database (``safemigrate_schema_proof``): the heads, a digest of
everything the rebuild depends on (every revision file, env.py, the ini, the
baseline settings, the server version, safemigrate's version) and a
fingerprint of the live schema (:mod:`safemigrate.schema.fingerprint`). A later
run whose inputs are byte-identical and whose live schema has the same
fingerprint would rebuild the same schema and compare it with the same
database: it reuses the proof instead. Any difference in any input, or any
change to the schema, means a full comparison again.

The table holds digests only (no schema text, nothing of the project): a
forged row can at most make safemigrate skip a comparison whose inputs it
cannot change, for a schema whose fingerprint it must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, inspect, select
from sqlalchemy.engine import Connection

TABLE = "safemigrate_schema_proof"

_metadata = MetaData()
proofs = Table(
    TABLE, _metadata,
    Column("heads", String(512), primary_key=True),  # the database's heads, sorted, space-separated
    Column("inputs", String(64), nullable=False),  # sha256 of what the rebuild depends on
    Column("schema", String(64), nullable=False),  # fingerprint of the live schema when it was proven
    Column("proven_at", DateTime(timezone=True), nullable=False),
    Column("tool_version", String(32), nullable=False),
)


@dataclass(frozen=True)
class Proof:
    heads: str
    inputs: str
    schema: str
    proven_at: datetime


def heads_key(heads: list[str]) -> str:
    return " ".join(sorted(heads))


def recorded(conn: Connection, heads: list[str]) -> Proof | None:
    """The proof recorded for ``heads``, if any (no table yet: none)."""
    if not inspect(conn).has_table(TABLE):
        return None
    row = conn.execute(select(proofs).where(proofs.c.heads == heads_key(heads))).first()
    if row is None:
        return None
    return Proof(row.heads, row.inputs, row.schema, row.proven_at)


def record(conn: Connection, heads: list[str], inputs: str, schema: str, tool_version: str) -> None:
    """Keep one proof: the newest for these heads replaces any earlier one (older heads' proofs go too)."""
    _metadata.create_all(conn, checkfirst=True)
    conn.execute(delete(proofs))
    conn.execute(proofs.insert().values(heads=heads_key(heads), inputs=inputs, schema=schema,
                                        proven_at=datetime.now(UTC), tool_version=tool_version))
