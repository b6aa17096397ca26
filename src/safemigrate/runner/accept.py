"""``safemigrate ledger accept``: record that an applied revision's file was changed on purpose."""

from __future__ import annotations

from sqlalchemy import create_engine, pool

from safemigrate.core.errors import UsageError
from safemigrate.core.urls import sync_url
from safemigrate.harness.workspace import Workspace
from safemigrate.state import ledger


def accept_change(ws: Workspace, revision: str, reason: str) -> str:
    """Record in the ledger that an applied revision's file was changed on purpose."""
    script = ws.history.get(revision)
    if script is None:
        raise UsageError(f"There is no revision {revision!r} in this project.",
                         "Only a revision the code has can be accepted.",
                         "Use an id from `alembic history`.")
    if not reason.strip():
        raise UsageError("--reason is empty.", "The ledger keeps why an applied migration changed.",
                         "Say why, e.g. --reason 'fixed a typo in a comment'.")
    url = ws.require_live()
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            ledger.ensure(conn)
            digest = ledger.checksum(script.path)
            ledger.record(conn, script.revision, digest, environment=ws.environment.name,
                          action="accepted", note=reason.strip())
    finally:
        engine.dispose()
    return digest
