"""The ``safemigrate`` command: parse arguments, call the library, render, exit.

Exit codes (also in the README): 0 ok / in sync; 1 drift or findings;
2 usage or configuration error; 3 database unreachable or a migration failed;
4 internal error (a bug: please report it).
"""

from __future__ import annotations

from pathlib import Path

import click

from safemigrate._version import __version__
from safemigrate.checks.lint import lint_files
from safemigrate.cli.backup import backup as backup_group
from safemigrate.cli.change import change as change_group
from safemigrate.cli.ci import ci as ci_group
from safemigrate.cli.common import (  # noqa: F401 - EXIT_INTERNAL documented here
    EXIT_INTERNAL,
    Commands,
    _emit,
    _project,
    _run,
    output_options,
    project_options,
)
from safemigrate.cli.config import config as config_command
from safemigrate.cli.rehearse import rehearse as rehearse_command
from safemigrate.cli.rules import rules as rules_group
from safemigrate.core.errors import UsageError
from safemigrate.core.secrets import redact
from safemigrate.init.adopt import init_project
from safemigrate.render import FORMATS
from safemigrate.render import markdown as md
from safemigrate.render import sarif as sarif_render
from safemigrate.render import text as txt
from safemigrate.runner.accept import LedgerChange


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="safemigrate")
def main() -> None:
    """Safe, code-first schema migrations for SQLAlchemy + Alembic projects."""


output_options(main)  # `safemigrate -q check` as well as `safemigrate check -q`; subcommands get them as resolved


@main.command(short_help="Adopt an existing Alembic setup, or scaffold one.")
@click.option("--project", "project_path", type=click.Path(path_type=Path), default=Path("."),
              help="Project folder (default: the working directory).")
@click.option("--metadata", default=None, help="Import path of the models' MetaData, e.g. shop.models:Base.metadata.")
@click.option("--script-location", default=None, help="Folder for a new Alembic environment (default: migrations).")
@click.option("--database-url-env", default="DATABASE_URL", show_default=True,
              help="Environment variable holding the database URL.")
@click.option("--environment-env", default="APP_ENV", show_default=True,
              help="Environment variable naming the environment (development, staging, production...).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--github", is_flag=True,
              help="Also write the GitHub Actions workflows (.github/workflows/pr-migration-check.yml and "
                   "migration-autofix.yml).")
@click.option("--package", default=None, metavar="NAME",
              help="Adopt the Alembic environment an (installed) package ships, e.g. --package mlflow.")
def init(project_path: Path, metadata: str | None, script_location: str | None, database_url_env: str,
         environment_env: str, fmt: str, github: bool, package: str | None) -> None:
    """Adopt an existing Alembic setup, or scaffold one, and write [tool.safemigrate]."""
    def action() -> bool:
        report = init_project(project_path, metadata=metadata, script_location=script_location,
                              database_url_env=database_url_env, environment_env=environment_env, github=github,
                              package=package)
        _emit(report, fmt, txt.init, md.init)
        return True
    _run(fmt, action)


@main.command(short_help="Environment, revision, heads, pending revisions.")
@project_options()
@click.option("--env", "environment", default=None, help="Environment name (overrides the configured variable).")
def status(project_path: Path | None, database_url: str | None, fmt: str, environment: str | None) -> None:
    """Environment, database revision, code heads, pending revisions and a drift verdict."""
    def action() -> bool:
        report = _project(project_path, database_url=database_url, environment=environment).status()
        _emit(report, fmt, txt.status, md.status)
        return report.ok
    _run(fmt, action)


@main.command(short_help="Models vs. migrations, or the live database: drift.")
@project_options()
@click.option("--live", is_flag=True, help="Check the live database instead of the migrations.")
@click.option("--scratch-url", default=None, metavar="URL",
              help="Server for throwaway databases (postgresql:// or mysql://); default: a SQLite file.")
@click.option("--dialect", default=None, help="Dialect to render the DDL for (default: the live database's).")
def check(project_path: Path | None, database_url: str | None, fmt: str, live: bool, scratch_url: str | None,
          dialect: str | None) -> None:
    """Models vs. migrations (or, with --live, the live database vs. both)."""
    def action() -> bool:
        project = _project(project_path, database_url=database_url, scratch_url=scratch_url, dialect=dialect)
        if live:
            live_report = project.check_live()
            _emit(live_report, fmt, txt.live, md.live)
            return live_report.ok
        report = project.check()
        _emit(report, fmt, txt.check, md.check)
        return report.ok
    _run(fmt, action)


@main.command(short_help="The SQL of each pending revision, to review.")
@project_options()
@click.argument("revision_range", required=False)
@click.option("--offline", is_flag=True, help="Render with Alembic's --sql mode instead of a real upgrade.")
@click.option("--dialect", default=None, help="Dialect for --offline (postgresql, mysql, sqlite).")
@click.option("--scratch-url", default=None, metavar="URL", help="Server for the throwaway database.")
def review(project_path: Path | None, database_url: str | None, fmt: str, revision_range: str | None,
           offline: bool, dialect: str | None, scratch_url: str | None) -> None:
    """The SQL of each pending revision (or of REVISION_RANGE, e.g. abc123:head)."""
    def action() -> bool:
        project = _project(project_path, database_url=database_url, scratch_url=scratch_url, dialect=dialect)
        report = project.review(revision_range, offline=offline, dialect=dialect)
        _emit(report, fmt, txt.review, md.review)
        return True
    _run(fmt, action)


@main.command(short_help="Destructive-change and lock-risk findings.")
@project_options(FORMATS + ("sarif", "github"))
@click.argument("revision_range", nargs=-1)
@click.option("--pg-version", type=int, default=None,
              help="PostgreSQL major version to lint for (default: the scratch server's, else 15).")
@click.option("--scratch-url", default=None, metavar="URL", help="Server for the throwaway database.")
@click.option("--dialect", default=None, help="Dialect to lint for (default: the live database's).")
@click.option("--sarif", "as_sarif", is_flag=True, help="Shortcut for --format sarif.")
@click.option("--files", "as_files", is_flag=True,
              help="The arguments are revision files (as pre-commit passes them): lint the revisions they define.")
def lint(project_path: Path | None, database_url: str | None, fmt: str, revision_range: tuple[str, ...],
         pg_version: int | None, scratch_url: str | None, dialect: str | None, as_sarif: bool,
         as_files: bool) -> None:
    """Destructive-change and lock-risk findings for the revisions (default: all after start_after).

    REVISION_RANGE (e.g. abc123:head) picks the revisions; with --files, the arguments are revision files.
    """
    def action() -> bool:
        if len(revision_range) > 1 and not as_files:
            raise UsageError(
                f"lint takes one revision range, not {len(revision_range)} arguments: {' '.join(revision_range)}.",
                "Several arguments are read as revision files only with --files.",
                "Pass one range such as abc123:head, or --files followed by revision files "
                "(migrations/versions/*.py).",
            )
        project = _project(project_path, database_url=database_url, scratch_url=scratch_url, dialect=dialect)
        if as_files:
            report = lint_files(project, list(revision_range), pg_version=pg_version)
        else:
            report = project.lint(revision_range[0] if revision_range else None, pg_version=pg_version)
        chosen = "sarif" if as_sarif else fmt
        if chosen == "sarif":
            click.echo(redact(sarif_render.sarif(report)))
        elif chosen == "github":
            click.echo(redact(sarif_render.github(report)), nl=False)
        else:
            _emit(report, chosen, txt.lint, md.lint)
        return report.ok
    _run("json" if fmt == "json" else "text", action)


@main.command(short_help="Apply pending revisions (auto-sync in development).")
@project_options()
@click.option("--env", "environment", default=None,
              help="development, test, staging or production (default: $APP_ENV; unset means production).")
@click.option("--dry-run", is_flag=True, help="Run every check and show the plan and its SQL; change nothing.")
@click.option("--scratch-url", default=None, metavar="URL", help="Server for throwaway databases.")
@click.option("--lock-wait", type=float, default=600.0, show_default=True,
              help="Seconds to wait for another migrator to finish.")
@click.option("--retries", type=int, default=3, show_default=True, help="Retries of a revision after a lock timeout.")
@click.option("--to", "to", default=None, metavar="REV",
              help="Apply the pending revisions up to REV (an id or a unique prefix) and stop there: no auto-sync, "
                   "no comparison with the models (they describe head).")
@click.option("--phase", type=click.Choice(["expand", "contract"]), default=None,
              help="Expand–contract changes: apply up to, not including, the first pending contract revision "
                   "(expand), or everything, each contract once its change is backfilled (contract). Default: "
                   "everything each change's phase allows.")
def migrate(project_path: Path | None, database_url: str | None, fmt: str, environment: str | None,
            dry_run: bool, scratch_url: str | None, lock_wait: float, retries: int, to: str | None,
            phase: str | None) -> None:
    """Auto-sync in development; in production check everything, then apply under a lock."""
    def action() -> bool:
        project = _project(project_path, database_url=database_url, scratch_url=scratch_url,
                           environment=environment)
        report = project.migrate(dry_run=dry_run, lock_wait=lock_wait, retries=retries, to=to, phase=phase)
        _emit(report, fmt, txt.migrate, md.migrate)
        return report.ok
    _run(fmt, action)


@main.command("verify-downgrade", short_help="Upgrade, downgrade, upgrade each revision on a copy.")
@project_options()
@click.argument("revision_range", required=False)
@click.option("--scratch-url", default=None, metavar="URL", help="Server for the throwaway database.")
def verify_downgrade_cmd(project_path: Path | None, database_url: str | None, fmt: str, revision_range: str | None,
                         scratch_url: str | None) -> None:
    """Upgrade, downgrade, upgrade each revision on a throwaway database; report broken downgrades."""
    from safemigrate.runner.downgrade import verify_downgrade

    def action() -> bool:
        report = verify_downgrade(_project(project_path, database_url=database_url, scratch_url=scratch_url),
                                  revision_range)
        _emit(report, fmt, txt.round_trips, md.round_trips)
        return report.ok
    _run(fmt, action)


@main.command(context_settings={"ignore_unknown_options": True},  # TARGET may be "-1"
              short_help="Downgrade the live database to TARGET.")
@project_options()
@click.argument("target")
@click.option("--env", "environment", default=None, help="Environment name (default: $APP_ENV).")
@click.option("--allow-production-downgrade", is_flag=True,
              help="Downgrade although the environment is production or staging (fix-forward is the policy).")
@click.option("--dry-run", is_flag=True, help="Rehearse on a throwaway database and show the SQL; change nothing.")
def downgrade(project_path: Path | None, database_url: str | None, fmt: str, target: str,
              environment: str | None, allow_production_downgrade: bool, dry_run: bool) -> None:
    """Downgrade the live database to TARGET (e.g. -1 or a revision id), rehearsed first, backed up in production."""
    from safemigrate.runner.downgrade import downgrade as run_downgrade

    def action() -> bool:
        project = _project(project_path, database_url=database_url, environment=environment)
        result = run_downgrade(project, target, allow_production=allow_production_downgrade, dry_run=dry_run)
        _emit(result, fmt, txt.downgraded, md.downgraded)
        return True
    _run(fmt, action)


@main.group(short_help="The record of applied revisions (safemigrate_history).")
def ledger() -> None:
    """The record of applied revisions (safemigrate_history)."""


def _no_markdown(report: object) -> str:  # pragma: no cover - these commands offer text and json only
    raise AssertionError("markdown is not offered for this command")


@ledger.command("list", short_help="The ledger's rows, oldest first.")
@project_options(("text", "json"))
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N", help="Only the newest N rows.")
def ledger_list(project_path: Path | None, database_url: str | None, fmt: str, limit: int | None) -> None:
    """The ledger's rows, oldest first: who applied which revision, when, where, with which backup."""
    from safemigrate.runner.ledger_view import ledger_list as read_ledger

    def action() -> bool:
        report = read_ledger(_project(project_path, database_url=database_url), limit=limit)
        _emit(report, fmt, txt.ledger_list, _no_markdown)
        return not report.problems
    _run(fmt, action)


@ledger.command("show", short_help="Every ledger row of one revision.")
@project_options(("text", "json"))
@click.argument("revision")
def ledger_show(project_path: Path | None, database_url: str | None, fmt: str, revision: str) -> None:
    """Every ledger row of REVISION (an id or a unique prefix), and its file now against the recorded checksum."""
    from safemigrate.runner.ledger_view import ledger_show as read_revision

    def action() -> bool:
        report = read_revision(_project(project_path, database_url=database_url), revision)
        _emit(report, fmt, txt.ledger_show, _no_markdown)
        return not report.problems
    _run(fmt, action)


@ledger.command("accept")
@project_options()
@click.argument("revision")
@click.option("--reason", required=True, help="Why the applied migration file was changed.")
def ledger_accept(project_path: Path | None, database_url: str | None, fmt: str, revision: str, reason: str) -> None:
    """Record that an applied revision's file was changed on purpose."""
    def action() -> bool:
        digest = _project(project_path, database_url=database_url).accept_change(revision, reason)
        _emit(LedgerChange("accepted", revision, reason, checksum=digest), fmt, txt.ledger_changed,
              md.ledger_changed)
        return True
    _run(fmt, action)


@ledger.command("resolve", short_help="Record how an interrupted revision was finished.")
@project_options()
@click.argument("revision")
@click.option("--reason", required=True, help="How the interrupted revision's steps were finished or undone.")
def ledger_resolve(project_path: Path | None, database_url: str | None, fmt: str, revision: str, reason: str) -> None:
    """Record that an interrupted revision was finished or undone by hand; migrate runs again."""
    def action() -> bool:
        closed = _project(project_path, database_url=database_url).resolve_interrupted(revision, reason)
        _emit(LedgerChange("resolved", revision, reason, attempts=closed), fmt, txt.ledger_changed,
              md.ledger_changed)
        return True
    _run(fmt, action)


@ledger.command("reseal", short_help="Accept the ledger after a change outside safemigrate.")
@project_options()
@click.option("--reason", required=True, help="Why the ledger was changed outside safemigrate.")
def ledger_reseal(project_path: Path | None, database_url: str | None, fmt: str, reason: str) -> None:
    """Accept the ledger as it stands after a change outside safemigrate (chains it again, keeps why)."""
    def action() -> bool:
        problems = _project(project_path, database_url=database_url).reseal_ledger(reason)
        _emit(LedgerChange("resealed", None, reason, problems=problems), fmt, txt.ledger_changed,
              md.ledger_changed)
        return True
    _run(fmt, action)


main.add_command(ci_group)
main.add_command(backup_group)
main.add_command(rules_group)
main.add_command(rehearse_command)
main.add_command(change_group)
main.add_command(config_command)

if __name__ == "__main__":  # pragma: no cover
    main()
