"""What every command shares: rendering, exit codes for errors, the project options.

Kept apart from :mod:`safemigrate.cli` so that command groups defined in other
packages (``safemigrate.ci.cli``, ``safemigrate.backup.cli``) can use it without
importing the main command, which imports them.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from safemigrate.api import Project
from safemigrate.core.errors import EXIT_FINDINGS, EXIT_OK, SafemigrateError
from safemigrate.core.secrets import redact
from safemigrate.harness import progress
from safemigrate.render import FORMATS, to_json
from safemigrate.render import text as txt
from safemigrate.render.progress import revision_progress
from safemigrate.render.progress import wanted as progress_wanted

EXIT_INTERNAL = 4


def _console(stderr: bool = False) -> Console:
    return txt.console(sys.stderr if stderr else sys.stdout)


def _emit(report: Any, fmt: str, text_fn: Callable[[Console, Any], None], md_fn: Callable[[Any], str]) -> None:
    if quiet() and fmt == "text" and getattr(report, "ok", None) is True:
        return  # -q: a verdict that passed prints nothing (the exit code says so); a listing still prints
    if fmt == "json":
        click.echo(redact(to_json(report)))
    elif fmt == "markdown":
        click.echo(redact(md_fn(report)))
    else:
        text_fn(_console(), report)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: unwound like Ctrl-C, so every throwaway database and child process is cleaned up."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, frame: Any) -> None:
    raise Stopped(signum)


def _on_termination() -> None:
    """SIGTERM (a deploy's timeout, `kill`, Kubernetes) and SIGHUP (a closed terminal) unwind like Ctrl-C."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's ignored SIGHUP stays ignored
                signal.signal(signum, _stop)


def _run(fmt: str, action: Callable[[], Any]) -> None:
    """Run ``action``; map its outcome to an exit code and render errors."""
    _on_termination()
    try:
        # which revision a long build is at, on stderr where a person watches (render/progress.py)
        with revision_progress(progress_wanted(fmt, quiet())) as listener, progress.listening(listener):
            ok = action()
    except SafemigrateError as exc:
        if fmt == "json":
            import json

            click.echo(json.dumps(exc.as_dict(), indent=2))
        else:
            txt.error(_console(stderr=True), exc)
        if exc.exit_code == EXIT_INTERNAL and os.environ.get("SAFEMIGRATE_DEBUG"):
            _debug_traceback(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        import signal

        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        click.echo(f"Stopped by {signal.Signals(signum).name}; any throwaway database was dropped.", err=True)
        sys.exit(128 + signum)
    except Exception as exc:  # a bug in safemigrate: say so, keep the trace behind a flag
        click.echo(redact(f"safemigrate hit an internal error: {type(exc).__name__}: {exc}"), err=True)
        if os.environ.get("SAFEMIGRATE_DEBUG"):
            click.echo(redact(traceback.format_exc()), err=True)
        else:
            click.echo("Set SAFEMIGRATE_DEBUG=1 to see the traceback, and please report it.", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK if ok else EXIT_FINDINGS)


def _debug_traceback(exc: SafemigrateError) -> None:
    """SAFEMIGRATE_DEBUG=1: the traceback of an internal error, on stderr (the one from env.py's process
    first, when it crossed from there in the details)."""
    if "Traceback (most recent call last)" in exc.details:
        click.echo(exc.details, err=True)
    click.echo(redact(traceback.format_exc()), err=True)


def project_options(formats: tuple[str, ...] = FORMATS) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--project, --database-url and --format, shared by the commands that work on a project."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @click.option("--project", "project_path", type=click.Path(path_type=Path), default=None,
                      help="Project folder (default: the nearest folder with a pyproject.toml).")
        @click.option("--database-url", default=None, metavar="URL",
                      help="Live database URL (overrides $SAFEMIGRATE_DATABASE_URL and the configured variable).")
        @click.option("--format", "fmt", type=click.Choice(formats), default="text", show_default=True)
        @click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_remember_verbose,
                      help="Show what env.py, Alembic and the migrations print and log (on stderr).")
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)
        return wrapper
    return decorate


def _remember_verbose(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value or "safemigrate.verbose" not in ctx.meta:  # `safemigrate -v check` stays verbose
        ctx.meta["safemigrate.verbose"] = value


def _remember_quiet(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if value or "safemigrate.quiet" not in ctx.meta:
        ctx.meta["safemigrate.quiet"] = value


def verbose() -> bool:
    """Whether the running command was given -v/--verbose."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get("safemigrate.verbose"))


def quiet() -> bool:
    """Whether the running command was given -q/--quiet."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get("safemigrate.quiet"))


def output_options(command: click.Command) -> click.Command:
    """-q/--quiet and -v/--verbose on ``command`` and, for a group, on every command under it (idempotent).

    Added where click resolves a command (:class:`Commands`), so groups defined in other modules and
    commands added later get them too, with no list to keep.
    """
    taken = {opt for param in command.params for opt in param.opts}
    if "-q" not in taken and "--quiet" not in taken:
        command.params.append(click.Option(
            ["-q", "--quiet"], is_flag=True, expose_value=False, callback=_remember_quiet,
            help="Print nothing when the command passes (the exit code says so), the report when it does "
                 "not; listings still print. Errors always go to stderr."))
    if "-v" not in taken and "--verbose" not in taken:
        command.params.append(click.Option(
            ["-v", "--verbose"], is_flag=True, expose_value=False, callback=_remember_verbose,
            help="Show what env.py, Alembic and the migrations print and log (on stderr)."))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            output_options(sub)
    return command


class Commands(click.Group):
    """The ``safemigrate`` group: every command it resolves has the output options."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        return output_options(command) if command is not None else None


def _project(project_path: Path | None, **options: Any) -> Project:
    return Project.from_pyproject(project_path, verbose=verbose(), **options)
