"""The migration history as plain records, ordered by Alembic's own ``RevisionMap``.

The revision files are imported where env.py runs (a process of its own);
what comes back is a :class:`RevisionRecord` per file, and every question
about the graph (heads, ranges, what is pending) is asked of Alembic's
``RevisionMap`` built from those records. This module only maps Alembic's
failures to clear messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from alembic.script.revision import Revision, RevisionError, RevisionMap
from alembic.util import CommandError

from safemigrate.core.errors import RevisionGraphError
from safemigrate.core.paths import relative
from safemigrate.core.results import RevisionInfo, SignOff


@dataclass(frozen=True)
class RevisionRecord:
    """One revision file, as the process that imported it saw it."""

    revision: str
    down_revision: tuple[str, ...]
    depends_on: tuple[str, ...]
    branch_labels: tuple[str, ...]
    path: str  # absolute
    doc: str
    signoffs: tuple[SignOff, ...] = ()  # module-level ``safemigrate_allow = [...]``

    @property
    def is_merge(self) -> bool:
        return len(self.down_revision) > 1


class History:
    """Questions about a project's revision graph, answered by Alembic's RevisionMap."""

    def __init__(self, records: Iterable[RevisionRecord], script_location: Path, root: Path):
        self.records = {r.revision: r for r in records}
        self.script_location = script_location
        self.root = root

    @cached_property
    def revision_map(self) -> RevisionMap:
        return RevisionMap(lambda: [
            Revision(r.revision, (r.down_revision[0] if len(r.down_revision) == 1 else r.down_revision) or None,
                     dependencies=r.depends_on or None, branch_labels=r.branch_labels or None)
            for r in self.records.values()
        ])

    @cached_property
    def heads(self) -> list[str]:
        try:
            heads = list(self.revision_map.heads)
        except (CommandError, RevisionError) as exc:
            raise RevisionGraphError(
                f"The migration history in {self.script_location} is inconsistent: {exc}.",
                "Alembic cannot order the revisions, so none of them can be applied safely.",
                "Fix the down_revision of the revision named above.",
            ) from None
        if not heads:
            raise RevisionGraphError(
                f"There are no revisions in {self.script_location / 'versions'}.",
                "With no migration history there is nothing to apply or to compare with the models.",
                "Create the first revision (`alembic revision --autogenerate -m \"initial\"`); if the revisions live "
                "elsewhere, set version_locations in [tool.safemigrate] (or in the ini).",
            )
        return heads

    def labelled_branches(self) -> bool:
        """Whether several heads are a deliberate layout rather than a fork nobody merged.

        Heads are deliberate when they grow from different bases (a plugin's own history, Alembic's
        multiple bases) or end branches with names of their own (``branch_labels``: expand/contract
        branches). Heads that share an ancestor and that no label tells apart are a fork.
        """
        heads = self.heads
        if len(heads) < 2:
            return True
        lines = {h: self._ancestors(h) for h in heads}
        labels = {h: set(getattr(self.revision_map.get_revision(h), "branch_labels", None) or ()) for h in heads}
        for i, a in enumerate(heads):
            for b in heads[i + 1:]:
                if not (lines[a] & lines[b]):
                    continue  # separate histories
                if labels[a] and labels[b] and not (labels[a] & labels[b]):
                    continue  # named branches off a common root
                return False
        return True

    def ancestors(self, revision: str) -> set[str]:
        """``revision`` and every revision it is built on (down_revision), as far as the history goes."""
        return self._ancestors(revision)

    def _ancestors(self, revision: str) -> set[str]:
        seen: set[str] = set()
        stack = [revision]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.records:
                continue
            seen.add(current)
            stack.extend(self.records[current].down_revision)
        return seen

    def get(self, revision: str) -> RevisionRecord | None:
        """The record of ``revision`` (a full id, a unique prefix, or ``head``), or None."""
        if revision in self.records:
            return self.records[revision]
        try:
            found = self.revision_map.get_revision(revision)
        except (CommandError, RevisionError):
            return None
        return self.records.get(found.revision) if found is not None else None

    def known(self, revision: str) -> bool:
        return self.get(revision) is not None

    def info(self, revision: str | RevisionRecord) -> RevisionInfo:
        record = revision if isinstance(revision, RevisionRecord) else self.records[revision]
        return RevisionInfo(
            revision=record.revision,
            down_revision=list(record.down_revision),
            message=record.doc.strip(),
            path=relative(record.path, self.root) if record.path else None,
            branch_labels=sorted(record.branch_labels),
            is_merge=record.is_merge,
            is_head=record.revision in self.heads,
        )

    def pending(self, db_heads: list[str]) -> list[str]:
        """Revisions between the database's heads and the code's heads, oldest first."""
        if any(not self.known(h) for h in db_heads):
            return []
        lower = tuple(db_heads) if db_heads else None
        revs = self.revision_map.iterate_revisions("heads", lower or "base", inclusive=False)
        found = [r.revision for r in revs if r.revision not in db_heads]
        return list(reversed(found))

    def in_range(self, spec: str) -> list[RevisionRecord]:
        """Revisions named by ``spec``, oldest first.

        ``A:B`` is what upgrading from A to B applies (A itself excluded, as in
        ``alembic upgrade A:B --sql``); ``A:`` runs to the heads, ``:B`` and
        ``base:B`` start from the beginning; a single id names one revision.
        """
        lower, sep, upper = spec.partition(":")
        try:
            if not sep:
                record = self.get(spec)
                if record is None:
                    raise CommandError(f"no revision {spec!r}")
                return [record]
            revs = self.revision_map.iterate_revisions(upper or "heads", lower or "base")
            found = [self.records[r.revision] for r in revs if r is not None]
        except (CommandError, RevisionError, KeyError, ValueError) as exc:
            raise RevisionGraphError(
                f"The revision range {spec!r} does not exist in this project: {exc}.",
                "safemigrate can only work on revisions the migration history contains.",
                "Use revision ids (or unique prefixes, 'head', 'base') from `alembic history`, as FROM:TO.",
            ) from None
        return list(reversed(found))

    def span(self, plan: list[str]) -> str:
        """The range ``A:B`` whose upgrade applies exactly ``plan`` (revisions oldest first)."""
        record = self.get(plan[0])
        down = record.down_revision if record is not None else ()
        return f"{down[0] if down else 'base'}:{plan[-1]}"

    def applied_files(self, heads: list[str]) -> dict[str, str]:
        """Revision -> file of every revision a database at ``heads`` has applied (unknown heads skipped)."""
        known = [h for h in heads if self.known(h)]
        if not known:
            return {}
        revs = self.revision_map.iterate_revisions(tuple(known), "base")
        return {r.revision: self.records[r.revision].path for r in revs if r is not None}
