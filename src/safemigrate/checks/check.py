"""``safemigrate check``: the models vs. what the migrations build on a throwaway database."""

from __future__ import annotations

import time

from safemigrate.core.results import CheckReport, Problem
from safemigrate.harness.workspace import Workspace


def head_problems(ws: Workspace) -> list[Problem]:
    heads = ws.history.heads
    if len(heads) < 2 or ws.history.labelled_branches():
        return []
    return [Problem(
        "multiple_heads",
        f"The migration history has {len(heads)} heads ({', '.join(heads)}): two branches each added a revision "
        "on the same parent.",
        "Join them with `alembic merge -m \"merge heads\" heads`, or re-parent the newer revision "
        "(set its down_revision to the other head).",
    )]


def check(ws: Workspace) -> CheckReport:
    """Models vs. migrations: upgrade a throwaway database to head and compare."""
    started = time.perf_counter()
    notes: list[str] = []
    dialect = ws.target_dialect()
    build = ws.head_build()  # loads the history in the throwaway database's env.py process
    problems = head_problems(ws)
    if {"mariadb": "mysql"}.get(dialect, dialect) != ws.scratch_backend:
        where = ("leave --scratch-url unset (SQLite is the default)" if dialect == "sqlite"
                 else f"pass --scratch-url (or set scratch_url) to a {dialect} server")
        notes.append(
            f"The migrations ran on {ws.scratch_backend} but the DDL is rendered for {dialect}: migrations "
            f"and types specific to {dialect} are not checked faithfully. For a faithful check, {where}."
        )
    covered = ws.baseline_covered()
    if covered:
        notes.append(
            f"The throwaway database was built by the baseline ({ws.settings.baseline}) and stamped at "
            f"{ws.settings.baseline_revision} (baseline_revision): {len(covered)} revision(s) up to it were not "
            "replayed, so this check cannot find what those revisions lack. `check --live` compares a database "
            "the application built with the models; `lint` and `review` read those revisions' offline SQL."
        )
    return CheckReport(
        scratch=build.scratch, dialect=dialect, heads=list(ws.history.heads),
        differences=build.require_differences(), problems=problems, revisions_applied=len(build.runs),
        duration_ms=round((time.perf_counter() - started) * 1000, 1), notes=notes,
    )
