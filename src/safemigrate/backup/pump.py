"""Moving bytes: a dump tool's output to storage, and storage back into a checker.

The dump tool's output is read by a thread into a bounded queue while the
caller's thread hashes and writes to storage. A slow storage request (an S3
part upload) therefore does not stall the dump tool until the queue is full,
and memory stays bounded by ``buffer_bytes`` plus the store's own part buffer.
Nothing is written to local disk on the way.
"""

from __future__ import annotations

import hashlib
import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

from safemigrate.backup.results import Progress
from safemigrate.core.errors import BackupError, StorageError

CHUNK = 1 << 20
_END = object()
ProgressFn = Callable[[Progress], None]


class ChunkSource(Protocol):
    def chunks(self) -> Iterator[bytes]: ...  # runs in the reader thread

    def finish(self) -> None: ...  # after the last chunk: raise when the dump failed

    def abort(self) -> None: ...  # stop producing (kill the tool)


class Sink(Protocol):
    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...  # raise when what was written is not acceptable

    def abort(self) -> None: ...


class _Reporter:
    def __init__(self, phase: str, on_progress: ProgressFn | None, every: float = 0.25):
        self.phase, self.on_progress, self.every = phase, on_progress, every
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, size: int, final: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if final or now - self.last >= self.every:
            self.last = now
            self.on_progress(Progress(self.phase, size, now - self.started, done=final))


def pump(source: ChunkSource, write: Callable[[bytes], None], *, buffer_bytes: int,
         on_progress: ProgressFn | None = None, phase: str = "dump") -> tuple[int, str]:
    """Copy every chunk of ``source`` to ``write``; return (size, sha256 hex)."""
    chunks: queue.Queue[object] = queue.Queue(maxsize=max(1, buffer_bytes // CHUNK))
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in source.chunks():
                if chunk and not put(chunk):
                    return
        except BaseException as exc:
            failure.append(exc)
        put(_END)

    reader = threading.Thread(target=read, name="safemigrate-dump-reader", daemon=True)
    reader.start()
    digest = hashlib.sha256()
    size = 0
    report = _Reporter(phase, on_progress)
    try:
        while True:
            item = chunks.get()
            if item is _END:
                break
            assert isinstance(item, bytes)
            digest.update(item)
            write(item)
            size += len(item)
            report(size)
    except BaseException:
        stop.set()
        source.abort()
        reader.join(timeout=10)
        raise
    reader.join()
    if failure:
        source.abort()
        raise failure[0]
    source.finish()
    report(size, final=True)
    return size, digest.hexdigest()


def read_back(handle: IO[bytes], sinks: list[Sink], *, on_progress: ProgressFn | None = None,
              phase: str = "verify", storage_error: Callable[[BaseException], StorageError],
              ) -> tuple[int, str, list[BackupError]]:
    """Read a stored object once, feeding each sink; return (size, sha256 hex, the sinks' rejections).

    A sink that rejects a chunk (corrupt data) is aborted and fed no more, but the object is still read
    to the end: its checksum says whether it changed in storage.
    """
    digest = hashlib.sha256()
    size = 0
    report = _Reporter(phase, on_progress)
    live = list(sinks)
    rejected: list[BackupError] = []
    try:
        while True:
            try:
                chunk = handle.read(CHUNK)
            except Exception as exc:
                raise storage_error(exc) from None
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            for sink in list(live):
                try:
                    sink.write(chunk)
                except BackupError as exc:
                    rejected.append(exc)
                    live.remove(sink)
                    sink.abort()
            report(size)
    except BaseException:
        for sink in live:
            sink.abort()
        raise
    report(size, final=True)
    for sink in sinks:
        if sink not in live:
            continue
        try:
            sink.finish()
        except BackupError as exc:
            rejected.append(exc)
    return size, digest.hexdigest(), rejected


def start(argv: list[str], **options) -> subprocess.Popen:
    """Start a tool; a tool that cannot be started is a DumpToolMissing (exit 2), not a crash."""
    try:
        return subprocess.Popen(argv, stderr=subprocess.PIPE, **options)
    except OSError as exc:
        from safemigrate.core.errors import DumpToolMissing

        raise DumpToolMissing(
            f"{argv[0]} could not be started: {exc.strerror or exc}.",
            "safemigrate streams backups through the database's own dump and restore programs.",
            "Check that the program exists and is executable, or configure its path in [tool.safemigrate.backup].",
        ) from None


class StderrTail:
    """Keeps the last lines a process wrote to stderr (a thread drains the pipe)."""

    def __init__(self, stream: IO[bytes], keep: int = 40):
        self.lines: deque[str] = deque(maxlen=keep)
        self.thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self.thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())
        stream.close()

    def text(self) -> str:
        self.thread.join(timeout=5)
        return "\n".join(line for line in self.lines if line)


class ProcessSink:
    """A process fed through its stdin (pg_restore, the mariadb client).

    Its stdout is discarded, handed line by line to ``on_line`` (read on a thread of its own), or is
    ``stdout``: the stdin of a process further down a pipeline. ``check(code, stderr)`` judges its exit.
    """

    def __init__(self, argv: list[str], env: dict[str, str], check: Callable[[int, str], None], *,
                 on_line: Callable[[bytes], None] | None = None, stdout: IO[bytes] | None = None,
                 pass_fds: tuple[int, ...] = ()):
        target: Any = stdout if stdout is not None else subprocess.PIPE if on_line else subprocess.DEVNULL
        self.proc = start(argv, stdin=subprocess.PIPE, stdout=target, env=env, pass_fds=pass_fds)
        self.stderr = StderrTail(self.proc.stderr)  # type: ignore[arg-type]
        self._out_thread = None
        if on_line is not None and stdout is None:
            lines = self.proc.stdout
            assert lines is not None

            def read() -> None:
                for line in iter(lines.readline, b""):
                    on_line(line)
                lines.close()

            self._out_thread = threading.Thread(target=read, daemon=True)
            self._out_thread.start()
        self.check = check
        self.closed_early = False

    def write(self, chunk: bytes) -> None:
        if self.closed_early:
            return
        try:
            self.proc.stdin.write(chunk)  # type: ignore[union-attr]
        except (BrokenPipeError, ConnectionResetError, ValueError):
            self.closed_early = True

    def finish(self) -> None:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass
        code = self.proc.wait()
        if self._out_thread is not None:
            self._out_thread.join()
        self.check(code, self.stderr.text())

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass
        self.proc.wait()


class ProcessSource:
    """A dump tool's stdout as chunks, optionally transformed (compressed) on the way."""

    def __init__(self, argv: list[str], env: dict[str, str], *,
                 on_failure: Callable[[int, str, int], BaseException],
                 transform: Callable[[bytes], bytes] | None = None, flush: Callable[[], bytes] | None = None,
                 pass_fds: tuple[int, ...] = ()):
        self.proc = start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, pass_fds=pass_fds)
        self.stderr = StderrTail(self.proc.stderr)  # type: ignore[arg-type]
        self.on_failure, self.transform, self.flush = on_failure, transform, flush
        self.produced = 0  # bytes the tool wrote (before any transform)

    def chunks(self) -> Iterator[bytes]:
        read = self.proc.stdout.read  # type: ignore[union-attr]
        while True:
            data = read(CHUNK)
            if not data:
                break
            self.produced += len(data)
            out = self.transform(data) if self.transform else data
            if out:
                yield out
        if self.flush is not None:
            tail = self.flush()
            if tail:
                yield tail

    def finish(self) -> None:
        code = self.proc.wait()
        if code != 0:
            raise self.on_failure(code, self.stderr.text(), self.produced)

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()  # the reader thread then sees end-of-file


def error_line(stderr: str) -> str:
    """The most telling line of a tool's stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower() or "fatal" in line.lower():
            return line
    return lines[-1] if lines else "(no message)"


def mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"
