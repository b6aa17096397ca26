"""Explicit, visible sign-offs for destructive or risky changes.

In a migration file, either around the operation::

    from safemigrate import allow

    def upgrade():
        with allow("drop-column", "users.legacy_flag", reason="unused since 2.3, see #412"):
            op.drop_column("users", "legacy_flag")

or declared once for the revision::

    safemigrate_allow = [allow("drop-table", "audit_2019", reason="archived to S3 in #377")]

A sign-off covers only its rule and its object; one that covers nothing is
reported, so stale sign-offs do not pile up.

For lint, a comment on the line of an operation (or alone on the line above it)::

    op.create_index("ix_users_name", "users", ["name"])  # safemigrate: allow[add-index-non-concurrently] 40 rows

covers that rule's findings on that line, whatever their object. It does not
sign off a destructive change: the run-time guard judges objects in the
catalog, not lines, and reads only ``allow(rule, target, reason=...)``.
"""

from __future__ import annotations

import contextvars
import re
import sys
import threading
import tokenize
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from safemigrate.core.errors import UsageError
from safemigrate.core.results import SignOff
from safemigrate.project.scripts import declared_signoffs

_entered: list[SignOff] = []  # every `with allow(...)` entered in this process (see entered_since)
_lock = threading.Lock()
_active: contextvars.ContextVar[tuple[Allowance, ...]] = contextvars.ContextVar("safemigrate_allow", default=())


Allowance = SignOff


class allow:
    """Allow one rule for one object, with a reason. A context manager or a declaration."""

    def __init__(self, rule: str, target: str, *, reason: str):
        if not reason or not reason.strip():
            raise UsageError(
                f"allow({rule!r}, {target!r}) has no reason.",
                "A sign-off without a reason cannot be reviewed later.",
                "Pass reason='why this is safe now', for example the ticket that retired the column.",
            )
        caller = sys._getframe(1)
        self.allowance = Allowance(rule, target, reason.strip(), caller.f_code.co_filename, caller.f_lineno)
        self._token: contextvars.Token[tuple[Allowance, ...]] | None = None

    def __enter__(self) -> Allowance:
        self._token = _active.set(_active.get() + (self.allowance,))
        with _lock:
            _entered.append(self.allowance)
        return self.allowance

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._token is not None:
            _active.reset(self._token)
            self._token = None


def entered_count() -> int:
    """A mark: how many ``with allow(...)`` blocks this process has entered so far."""
    with _lock:
        return len(_entered)


def entered_since(mark: int) -> tuple[Allowance, ...]:
    """Sign-offs of every ``with allow(...)`` block entered since ``mark``, in any thread.

    What a revision did is judged when its body has finished, after its blocks have closed: the
    blocks it entered are what it signed off.
    """
    with _lock:
        return tuple(_entered[mark:])


def active() -> tuple[Allowance, ...]:
    """Sign-offs of the ``with allow(...)`` blocks around the current statement."""
    return _active.get()


def migration_frame(start: FrameType | None = None) -> FrameType | None:
    """The innermost frame running code of an Alembic revision module."""
    frame: FrameType | None = start or sys._getframe(1)
    while frame is not None:
        module_globals = frame.f_globals
        if "revision" in module_globals and "down_revision" in module_globals and "upgrade" in module_globals:
            return frame
        frame = frame.f_back
    return None


def declared(module_globals: dict[str, object]) -> tuple[Allowance, ...]:
    """Module-level ``safemigrate_allow = [...]`` of a revision module."""
    return declared_signoffs(module_globals)


# -- inline comments: ``# safemigrate: allow[rule-id] reason`` ---------------------------------------------
_INLINE = re.compile(r"#\s*safemigrate:\s*allow\[(?P<rules>[^\]]*)\]\s*(?P<reason>.*)$")


@dataclass(frozen=True)
class InlineAllow:
    """``# safemigrate: allow[rule-id, ...] reason`` in a revision file.

    It covers the findings of its rules, whatever their object, on its own line, or on the next line when
    the comment stands alone on its line. It silences lint only: see :func:`covers`.
    """

    rules: tuple[str, ...]
    reason: str
    path: str
    line: int
    standalone: bool  # alone on its line: it covers the line below

    def covers(self, rule: str, line: int | None) -> bool:
        if rule not in self.rules or line is None:
            return False
        return line == self.line or (self.standalone and line == self.line + 1)


def inline_allowances(path: str | Path) -> tuple[InlineAllow, ...]:
    """The inline-comment sign-offs of a revision file (none when it cannot be read or tokenised)."""
    try:
        with open(path, "rb") as handle:
            tokens = list(tokenize.tokenize(handle.readline))
    except (OSError, SyntaxError, tokenize.TokenError, UnicodeDecodeError):
        return ()
    found: list[InlineAllow] = []
    code_lines = {t.start[0] for t in tokens if t.type not in _NOT_CODE}
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = _INLINE.search(token.string)
        if match is None:
            continue
        rules = tuple(r.strip() for r in match["rules"].split(",") if r.strip())
        line = token.start[0]
        found.append(InlineAllow(rules, match["reason"].strip(), str(path), line, line not in code_lines))
    return tuple(found)


_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
             tokenize.ENCODING, tokenize.ENDMARKER}
