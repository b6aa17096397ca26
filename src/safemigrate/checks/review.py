"""``safemigrate review``: the SQL each revision sends, captured from a real upgrade (or Alembic's offline mode)."""

from __future__ import annotations

from safemigrate.checks.live import read_live, revision_problems
from safemigrate.core.errors import UsageError
from safemigrate.core.results import ReviewReport, RevisionRun
from safemigrate.core.urls import parse_url
from safemigrate.harness.envpy import run_env
from safemigrate.harness.workspace import Workspace

#: URLs that only name a dialect, for Alembic's offline mode.
OFFLINE_URLS = {"postgresql": "postgresql+psycopg://", "mysql": "mysql+pymysql://",
                "mariadb": "mariadb+pymysql://", "sqlite": "sqlite://"}


def review(ws: Workspace, revision_range: str | None = None, *, offline: bool = False,
           dialect: str | None = None) -> ReviewReport:
    """The SQL of each pending (or given) revision."""
    if revision_range:
        wanted = [r.revision for r in ws.alembic.in_range(revision_range)]
        label = revision_range
    elif ws.database_url is not None:
        live = read_live(ws, ws.target_dialect())
        _, pending = revision_problems(ws, live.inspected["heads"])
        wanted, label = pending, "pending"
    else:
        ws.alembic.heads  # noqa: B018 - an empty history is an error
        wanted = [r.revision for r in ws.alembic.in_range("base:heads")]
        label = "base:heads (no database configured: every revision)"
    notes: list[str] = []
    if not wanted:
        return ReviewReport(mode="offline" if offline else "captured", dialect=dialect or ws.target_dialect(),
                            range=label, revisions=[], notes=["Nothing to review: no pending revisions."])
    if offline:
        dialect = dialect or ws.target_dialect()
        if dialect not in OFFLINE_URLS:
            raise UsageError(f"Offline review supports {', '.join(OFFLINE_URLS)}, not {dialect!r}.",
                             "Alembic renders offline SQL through a SQLAlchemy dialect.",
                             "Pass --dialect postgresql, mysql or sqlite.")
        run = run_env(ws.alembic, parse_url(OFFLINE_URLS[dialect]), target="heads",
                      offline_dialect=dialect, purpose="render the SQL offline")
        runs = run.runs
        notes.append("Offline mode: SQL rendered by Alembic's --sql mode without a database; migrations that "
                     "read the database cannot be rendered this way.")
    else:
        build = ws.head_build()
        runs, dialect = build.runs, build.backend
        notes.append(f"Captured from a real upgrade of a {build.scratch}.")
    selected = set(wanted)
    chosen: list[RevisionRun] = [r for r in runs if r.revision.revision in selected]
    return ReviewReport(mode="offline" if offline else "captured", dialect=dialect or "",
                        range=label, revisions=chosen, notes=notes)
