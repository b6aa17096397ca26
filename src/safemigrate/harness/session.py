"""env.py runs in a process of its own, one process per database.

Real applications read their settings when they are first imported: a
module-level engine, a settings object, an application factory, revision
files that import the application. In one process, the second database
safemigrate points env.py at (the live one after a throwaway one) would get
the first one's settings. So every database gets its own process, started
before anything of the project is imported, with the environment
(``database_url_env``, ``$SAFEMIGRATE_DATABASE_URL``, ``[tool.safemigrate.env]``)
filled from that database. The process serves requests (plain data from
:mod:`safemigrate.harness.requests`) until it is closed, so several runs of
env.py against the same database import the application once.

The process that reports results never imports the project: what comes back
is plain data, errors included (``SafemigrateError`` pickles with all its
attributes). What env.py and the migrations print or log is captured and
returned with each result (shown with ``-v``, and in the details of a
failure), so it never mixes with a report on stdout.

On Linux the process is forked (cheap: safemigrate, SQLAlchemy and Alembic
are already imported); elsewhere it is spawned.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import traceback
import weakref
from multiprocessing.connection import Connection as Pipe
from typing import Any, TypeVar

from sqlalchemy.engine import URL

from safemigrate.config.settings import Settings
from safemigrate.core.errors import EnvPyError, InternalError, SafemigrateError
from safemigrate.core.secrets import redact
from safemigrate.core.urls import parse_url
from safemigrate.harness import progress
from safemigrate.harness.requests import (
    EnvRunRequest,
    EnvRunResult,
    GenerateRequest,
    GenerateResult,
    Inventory,
    InventoryRequest,
    RestartWith,
)

_OUTPUT_LIMIT = 20_000  # characters of captured output kept per request
T = TypeVar("T")

_sessions: weakref.WeakSet[EnvSession] = weakref.WeakSet()
_lock = threading.Lock()


class EnvSession:
    """A process that runs the project's env.py against one database, as often as asked."""

    def __init__(self, settings: Settings, url: URL | None, *, dialect: str | None = None,
                 verbose: bool = False, throwaway: bool = False):
        self.settings = settings
        self.throwaway = throwaway
        self.url = url
        self.dialect = dialect
        self.verbose = verbose
        self.output = ""  # everything env.py printed or logged in this session so far (masked)
        self._pipe: Pipe | None = None
        self._process: Any = None

    # -- lifecycle -----------------------------------------------------------
    def _start(self) -> Pipe:
        if self._pipe is not None:
            return self._pipe
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context: Any = multiprocessing.get_context(method)
        ours, theirs = context.Pipe()
        url = self.url.render_as_string(hide_password=False) if self.url is not None else None
        sys.stdout.flush()
        sys.stderr.flush()
        process = context.Process(target=serve, args=(theirs, self.settings, url, self.dialect, self.verbose,
                                                      self.throwaway),
                                  name="safemigrate-env.py", daemon=False)
        process.start()
        theirs.close()
        self._pipe, self._process = ours, process
        with _lock:
            _sessions.add(self)
        pipe: Pipe = ours
        return pipe

    def close(self) -> None:
        """End the process (its connections close with it)."""
        pipe, process = self._pipe, self._process
        self._pipe = self._process = None
        if pipe is None:
            return
        try:
            pipe.send(None)
        except (OSError, EOFError, BrokenPipeError):
            pass
        pipe.close()
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()

    def __enter__(self) -> EnvSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ---------------------------------------------------------------
    def inventory(self) -> Inventory:
        return self._call(InventoryRequest(), Inventory)

    def run(self, request: EnvRunRequest) -> EnvRunResult:
        return self._call(request, EnvRunResult)

    def generate(self, request: GenerateRequest) -> GenerateResult:
        return self._call(request, GenerateResult)

    def _call(self, request: object, expected: type[T]) -> T:
        tried = {self._key()}
        while True:
            try:
                return self._call_once(request, expected)
            except RestartWith as restart:
                # env.py needs another driver; the application may have read the first URL when it was
                # imported, so it gets a fresh process that sees the new one from the start
                url = parse_url(restart.url)
                if url.render_as_string(hide_password=False) in tried:
                    raise restart.failure from None
                tried.add(url.render_as_string(hide_password=False))
                self.close()
                self.url = url

    def _key(self) -> str:
        return self.url.render_as_string(hide_password=False) if self.url is not None else ""

    def _call_once(self, request: object, expected: type[T]) -> T:
        pipe = self._start()
        try:
            pipe.send(request)
            status, payload, output = pipe.recv()
            while status == "progress":  # which revision the run is at, before its answer
                progress.report(payload)
                status, payload, output = pipe.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = self._process.exitcode if self._process is not None else None
            self._pipe = None
            self.close()
            raise EnvPyError(
                f"The process running {self.settings.root}'s env.py ended without an answer"
                + (f" (exit code {code})." if code is not None else "."),
                "env.py (or code it imports) exited the process or crashed the interpreter while safemigrate "
                "ran it.",
                "Run `alembic current` with the same settings to reproduce; look for sys.exit() or os._exit() in "
                "env.py or in what it imports." + _tail(self.output),
            ) from None
        self.output += output
        if status == "ok":
            if isinstance(payload, (EnvRunResult, GenerateResult)):
                payload.output = output
            assert isinstance(payload, expected)
            return payload
        if status == "restart":
            assert isinstance(payload, RestartWith)
            raise payload
        if isinstance(payload, SafemigrateError):
            if output.strip() and not payload.details:
                payload.details = "What env.py printed before it failed:\n" + _last_lines(output)
            raise payload
        raise InternalError(
            f"safemigrate hit an internal error while running env.py: {payload.splitlines()[-1] if payload else ''}",
            "This is a bug in safemigrate (or in how it drives this project's env.py).",
            "Please report it with the details below.",
            details=payload,
        )


def close_all() -> None:
    """End every session's process (at exit, and when a command is interrupted)."""
    with _lock:
        sessions = list(_sessions)
    for session in sessions:
        session.close()


atexit.register(close_all)


# -- the child's side ------------------------------------------------------------------------
def serve(pipe: Pipe, settings: Settings, url_text: str | None, dialect: str | None, verbose: bool,
          throwaway: bool = False) -> None:
    """Answer requests until the parent sends None or goes away. Runs in the child process."""
    from safemigrate.harness.envpy import EnvPy, environment_for, remove_placeholder

    _die_with_parent()
    progress.sending(lambda event: pipe.send(("progress", event, "")))
    url = parse_url(url_text) if url_text is not None else None
    os.environ.update(environment_for(settings, url))
    capture = _capture_output(verbose)
    _forget_running_loop()
    env_py: EnvPy | None = None
    while True:
        try:
            request = pipe.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            break
        if request is None:
            break
        start = capture.tell() if capture is not None else 0
        try:
            if env_py is None:
                env_py = EnvPy(settings, url, dialect=dialect, throwaway=throwaway)
            if isinstance(request, InventoryRequest):
                answer: tuple[str, Any] = ("ok", env_py.inventory())
            elif isinstance(request, EnvRunRequest):
                answer = ("ok", env_py.run(request))
            elif isinstance(request, GenerateRequest):
                answer = ("ok", env_py.generate(request))
            else:
                answer = ("crash", f"unknown request {type(request).__name__}")
        except SafemigrateError as exc:
            answer = ("error", exc)
        except RestartWith as restart:
            answer = ("restart", restart)
        except KeyboardInterrupt:
            break
        except SystemExit as exc:
            answer = ("error", EnvPyError(
                f"env.py (or code it imports) called sys.exit({exc.code!r}).",
                "safemigrate runs env.py the way `alembic` does; exiting stops the run.",
                "Run `alembic current` with the same settings to see why it exits.",
            ))
        except BaseException:
            answer = ("crash", redact(traceback.format_exc()))
        output = _read_since(capture, start)
        try:
            pipe.send((answer[0], answer[1], output))
        except Exception:  # the answer does not pickle: say so rather than hang the parent
            pipe.send(("crash", redact(traceback.format_exc()), output))
    pipe.close()
    remove_placeholder()


def _capture_output(verbose: bool) -> Any:
    """Point this process's stdout (and stderr, unless verbose) at a private file; return it for reading."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        handle = tempfile.TemporaryFile(mode="w+b")
        os.dup2(handle.fileno(), 1)
        if not verbose:
            os.dup2(handle.fileno(), 2)
        else:
            os.dup2(2, 1)  # shown as it happens, on stderr: stdout stays the report's
        return handle if not verbose else None
    except OSError:
        return None


def _read_since(capture: Any, start: int) -> str:
    if capture is None:
        return ""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    capture.seek(start)
    data = capture.read(_OUTPUT_LIMIT * 4).decode("utf-8", "replace")
    capture.seek(0, os.SEEK_END)
    if len(data) > _OUTPUT_LIMIT:
        data = "...\n" + data[-_OUTPUT_LIMIT:]
    return redact(data)


def _die_with_parent() -> None:
    """On Linux, end with the parent (kill -9 of `safemigrate migrate` must not leave env.py running)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the line above took effect
        os._exit(1)


def _forget_running_loop() -> None:
    # Forked from a process that runs an event loop (an async test, a FastAPI start-up): this process
    # runs none, and env.py's asyncio.run() must not see the parent's.
    asyncio.events._set_running_loop(None)


def _last_lines(output: str, count: int = 20) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return "\n".join(lines[-count:])


def _tail(output: str) -> str:
    return ("\nLast output:\n" + _last_lines(output)) if output.strip() else ""
