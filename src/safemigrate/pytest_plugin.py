"""``pytest --safemigrate``: the project's migrations checked as tests of its own suite.

Installed as a ``pytest11`` entry point, so pytest loads it wherever safemigrate is installed; it adds
nothing unless ``--safemigrate`` is given (installing safemigrate never changes a suite). With it, the
session gains these tests (the anchor is pytest-alembic's built-in tests):

``safemigrate::single_head``
    the history has one head (or labelled branches);
``safemigrate::upgrade_base_to_head``
    a throwaway database upgrades from base to head;
``safemigrate::models_match_head``
    what the migrations build is what the models describe;
``safemigrate::up_down_up[REV]``
    per revision: upgrade, downgrade (restoring the schema from before), upgrade again;
``safemigrate::lint_clean``
    no blocking lint finding.

Throwaway databases are SQLite files, or databases on the project's ``scratch_url`` server
(``--safemigrate-scratch-url`` overrides it). Each test calls the library (:class:`safemigrate.api.Project`,
:func:`safemigrate.runner.downgrade.verify_downgrade`); one project and one build at head serve them all.
A failure says what it usually means and shows its evidence in titled blocks (the DDL that would fix it,
the finding and its fix), with every password masked.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the library is imported only when --safemigrate asks for it
    from safemigrate.api import Project
    from safemigrate.runner.downgrade import DowngradeReport

MARKER = "safemigrate"
CHECKS = ("single_head", "upgrade_base_to_head", "models_match_head", "up_down_up", "lint_clean")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("safemigrate", "safemigrate: the migrations checked as tests")
    group.addoption("--safemigrate", action="store_true", default=False, dest="safemigrate",
                    help="Add safemigrate's migration tests (single head, upgrade, models match head, "
                         "up/down/up per revision, lint) to the session.")
    group.addoption("--safemigrate-project", metavar="PATH", default=None, dest="safemigrate_project",
                    help="Folder of the project's pyproject.toml (default: pytest's rootdir).")
    group.addoption("--safemigrate-scratch-url", metavar="URL", default=None, dest="safemigrate_scratch_url",
                    help="Server for throwaway databases (default: the project's scratch_url, else SQLite).")
    group.addoption("--safemigrate-exclude", metavar="NAMES", default="", dest="safemigrate_exclude",
                    help=f"Comma-separated checks to leave out, of: {', '.join(CHECKS)}.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a migration test added by `pytest --safemigrate`.")
    if not config.getoption("safemigrate"):
        return
    excluded = {name.strip() for name in config.getoption("safemigrate_exclude").split(",") if name.strip()}
    unknown = sorted(excluded - set(CHECKS))
    if unknown:
        raise pytest.UsageError(f"--safemigrate-exclude: unknown check(s) {', '.join(unknown)}; "
                                f"the checks are {', '.join(CHECKS)}.")
    root = Path(config.getoption("safemigrate_project") or config.rootpath)
    config.stash[_SUITE] = _Suite(root, config.getoption("safemigrate_scratch_url"), excluded)


def pytest_report_header(config: pytest.Config) -> str | None:
    suite = config.stash.get(_SUITE, None)
    return f"safemigrate: migration tests of the project at {suite.root}" if suite else None


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they apply to these tests too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    suite = config.stash.get(_SUITE, None)
    if suite is not None:
        items.extend(suite.items(session))


def pytest_unconfigure(config: pytest.Config) -> None:
    suite = config.stash.get(_SUITE, None)
    if suite is not None:
        suite.close()


@pytest.fixture(scope="session")
def safemigrate_project(request: pytest.FixtureRequest) -> Iterator[Project]:
    """The project as a :class:`safemigrate.api.Project`, for tests of your own (no --safemigrate needed).

    >>> def test_no_drift(safemigrate_project):
    ...     assert safemigrate_project.check().ok

    The same project (and build at head) the --safemigrate tests use when they run; its env.py processes
    end with the session.
    """
    config = request.config
    suite = config.stash.get(_SUITE, None)
    if suite is not None:
        yield suite.project()
        return
    from safemigrate.api import Project

    project = Project.from_pyproject(Path(config.getoption("safemigrate_project") or config.rootpath),
                                     scratch_url=config.getoption("safemigrate_scratch_url"))
    try:
        yield project
    finally:
        project.close()


# -- failures -------------------------------------------------------------------------------------------------

class MigrationTestFailure(AssertionError):
    """A failed migration test: what failed, what it usually means, and titled evidence blocks."""

    def __init__(self, message: str, meaning: str, evidence: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.meaning = meaning
        self.evidence = evidence or []

    def __str__(self) -> str:
        lines = [self.message, "", textwrap.fill(f"What this usually means: {self.meaning}", 100)]
        for title, body in self.evidence:
            lines += ["", f"{title}:", textwrap.indent(body.rstrip() or "(empty)", "    ")]
        return "\n".join(lines)


def _error_failure(exc: Exception, meaning: str) -> MigrationTestFailure:
    """A SafemigrateError raised by the library, as a test failure (its details as evidence)."""
    what, why, fix, details = (getattr(exc, name, "") for name in ("what", "why", "fix", "details"))
    evidence = [(title, body) for title, body in (("Why it matters", why), ("What to do", fix),
                                                  ("Details", details)) if body]
    return MigrationTestFailure(what or str(exc), meaning, evidence)


# -- the tests ------------------------------------------------------------------------------------------------

_SUITE = pytest.StashKey["_Suite"]()


@dataclass
class _Suite:
    """One project for the whole session; each library call made once, its result or error remembered."""

    root: Path
    scratch_url: str | None
    excluded: set[str]
    _project: Project | None = None
    _done: dict[str, tuple[bool, Any]] = field(default_factory=dict)

    def project(self) -> Project:
        if self._project is None:
            from safemigrate.api import Project

            self._project = Project.from_pyproject(self.root, scratch_url=self.scratch_url)
        return self._project

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._done:
            try:
                self._done[key] = (True, compute())
            except Exception as exc:
                self._done[key] = (False, exc)
        ok, value = self._done[key]
        if not ok:
            raise value
        return value

    def close(self) -> None:
        if self._project is not None:
            self._project.close()

    def items(self, session: pytest.Session) -> list[pytest.Item]:
        from safemigrate.core.errors import SafemigrateError

        group = _Group.from_parent(session, name="safemigrate", nodeid="safemigrate")
        wanted = [name for name in CHECKS if name not in self.excluded]
        try:
            revisions = ([r.revision for r in self.project().history.in_range("base:heads") if not r.is_merge]
                         if "up_down_up" in wanted else [])
        except SafemigrateError as exc:  # no project, a broken revision file: one test says so
            return [MigrationTest.from_parent(group, name="project", suite=self, check=_load_failed(exc))]
        items: list[pytest.Item] = []
        for name in wanted:
            if name == "up_down_up":
                items += [MigrationTest.from_parent(group, name=f"up_down_up[{rev}]", suite=self,
                                                    check=_up_down_up(rev)) for rev in revisions]
            else:
                items.append(MigrationTest.from_parent(group, name=name, suite=self, check=_SIMPLE[name]))
        return items


class _Group(pytest.Collector):
    """The node the migration tests hang from (node ids ``safemigrate::<test>``)."""

    def collect(self) -> Iterator[pytest.Item]:  # pragma: no cover - items are added by the hook above
        return iter(())


class MigrationTest(pytest.Item):
    """One migration test; runs one check function against the session's project."""

    def __init__(self, *, suite: _Suite, check: Callable[[_Suite], None], **kwargs: Any):
        super().__init__(**kwargs)
        self.suite = suite
        self.check = check
        self.add_marker(MARKER)

    def runtest(self) -> None:
        self.check(self.suite)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        from safemigrate.core.errors import SafemigrateError
        from safemigrate.core.secrets import redact

        if isinstance(excinfo.value, MigrationTestFailure):
            return redact(str(excinfo.value))
        if isinstance(excinfo.value, SafemigrateError):
            return redact(str(_error_failure(excinfo.value, "safemigrate could not run this check; the message "
                                                            "says why.")))
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"safemigrate: {self.name}"


def _load_failed(exc: Exception) -> Callable[[_Suite], None]:
    def check(_: _Suite) -> None:
        raise _error_failure(exc, "safemigrate could not load the project or its migration history, so no "
                                  "migration test could run: usually a missing [tool.safemigrate] table, a wrong "
                                  "script_location, or a revision file that does not import.")
    return check


def _single_head(suite: _Suite) -> None:
    project = suite.project()
    history = project.history
    heads = history.heads
    if len(heads) < 2 or history.labelled_branches():
        return
    listing = "\n".join(f"{head}  {history.info(head).message}  ({history.info(head).path})" for head in heads)
    raise MigrationTestFailure(
        f"The migration history has {len(heads)} heads: {', '.join(heads)}.",
        "two branches each added a revision on the same parent and were merged in git without `alembic merge`. "
        "Deploys then fail or apply one branch only (`alembic upgrade head` refuses several heads).",
        [("Heads", listing),
         ("What fixes it", 'alembic merge -m "merge heads" heads\n'
                           "or set the newer revision's down_revision to the other head")],
    )


def _head_build(suite: _Suite) -> Any:
    return suite.once("head_build", lambda: suite.project().head_build())


def _upgrade(suite: _Suite) -> None:
    from safemigrate.core.errors import MigrationFailed

    try:
        _head_build(suite)
    except MigrationFailed as exc:
        raise _error_failure(exc, "a revision cannot run on an empty database: it depends on data or objects "
                                  "an earlier revision does not create (a table made by hand, rows only on its "
                                  "author's machine), or it is written for another database than this one. "
                                  "A new environment (CI, a developer's laptop, disaster recovery) cannot be "
                                  "built from the history.") from None


def _require_upgrade(suite: _Suite, consequence: str) -> None:
    """A test that needs the build at head is skipped when upgrade_base_to_head fails (one failure, one cause)."""
    from safemigrate.core.errors import MigrationFailed

    try:
        _head_build(suite)
    except MigrationFailed:
        pytest.skip(f"the upgrade from base to head failed (see safemigrate::upgrade_base_to_head): {consequence}")


def _models_match(suite: _Suite) -> None:
    _require_upgrade(suite, "nothing to compare with the models")
    report = suite.once("check", lambda: suite.project().check())
    if report.ok or not report.differences:
        return
    listing = "\n".join(f"{i}. {d.description}" for i, d in enumerate(report.differences, 1))
    sql = "\n".join(s if s.rstrip().endswith(";") or s.startswith("--") else s + ";"
                    for d in report.differences for s in d.sql)
    code = "\n".join(d.code for d in report.differences)
    evidence = [("Differences", listing), (f"DDL that would fix it ({report.dialect})", sql),
                ("As Alembic operations", code)]
    if report.notes:
        evidence.append(("Notes", "\n".join(report.notes)))
    raise MigrationTestFailure(
        f"The models differ from what the migrations build ({len(report.differences)} difference(s), "
        f"head {', '.join(report.heads)}).",
        "a model was changed without a migration (run `alembic revision --autogenerate`, or "
        "`safemigrate migrate` in development, and commit the revision), or a migration was edited so that it "
        "no longer builds what the models say. Deploying now would leave the database behind the code.",
        evidence,
    )


def _round_trips(suite: _Suite) -> DowngradeReport:
    from safemigrate.runner.downgrade import verify_downgrade

    report: DowngradeReport = suite.once("round_trips", lambda: verify_downgrade(suite.project()))
    return report


_STAGE_MEANING = {
    "upgrade": "the revision cannot be applied on top of the ones before it (see upgrade_base_to_head).",
    "downgrade": "downgrade() fails: it drops something that is not there, or undoes the steps in the wrong "
                 "order. A rollback in an incident would stop half-way.",
    "restore": "downgrade() does not undo what upgrade() did: usually a drop forgotten in downgrade() (an "
               "index, a constraint, an enum type) or a column restored with another type or default.",
    "re-upgrade": "the revision cannot be applied again after its downgrade: downgrade() leaves something "
                  "behind (a type, an index, a sequence) that upgrade() creates.",
}


def _up_down_up(revision: str) -> Callable[[_Suite], None]:
    def check(suite: _Suite) -> None:
        report = _round_trips(suite)
        found = next((r for r in report.revisions if r.revision == revision), None)
        if found is None:
            broken = next((r.revision for r in report.revisions if not r.ok), None)
            pytest.skip(f"not reached: the round trip stopped at revision {broken}" if broken else
                        "not checked (a merge revision, or covered by the baseline)")
        if found.ok:
            return
        evidence = [("Stage", found.stage), ("Throwaway database", report.scratch)]
        if found.differences:
            evidence.append(("What the downgrade left different from the schema before the revision",
                             "\n".join(found.differences)))
        raise MigrationTestFailure(f"Revision {revision}: {found.stage} failed: {found.message}",
                                   _STAGE_MEANING.get(found.stage, "the round trip failed."), evidence)
    return check


def _lint(suite: _Suite) -> None:
    _require_upgrade(suite, "nothing to lint")
    report = suite.once("lint", lambda: suite.project().lint())
    blocking = report.blocking
    if not blocking:
        return
    evidence = []
    for f in blocking:
        where = f"{f.path}:{f.line}" if f.path and f.line else (f.path or "")
        body = [f.message]
        if f.statement:
            body.append(f"statement: {f.statement.splitlines()[0][:200]}")
        body.append(f"instead: {f.help}")
        if f.fix:
            body += ["", f.fix]
        evidence.append((f"{f.severity.value} {f.rule} in {f.revision} {where}".rstrip(), "\n".join(body)))
    if report.notes:
        evidence.append(("Notes", "\n".join(report.notes)))
    raise MigrationTestFailure(
        f"{len(blocking)} blocking lint finding(s) in {', '.join(sorted({f.revision or '?' for f in blocking}))}.",
        "a revision would destroy data without a sign-off, or hold a lock long enough to stall the application "
        "on a large table. Change it as each finding shows; where it is safe (a new or small table), sign it "
        "off in the revision with `# safemigrate: allow[rule-id] reason`. `safemigrate rules explain RULE` "
        "shows the rule's bad and good examples.",
        evidence,
    )


_SIMPLE: dict[str, Callable[[_Suite], None]] = {
    "single_head": _single_head,
    "upgrade_base_to_head": _upgrade,
    "models_match_head": _models_match,
    "lint_clean": _lint,
}
