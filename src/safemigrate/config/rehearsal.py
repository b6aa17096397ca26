"""``[tool.safemigrate.rehearsal]``: the budgets a rehearsal holds each statement to, and its default fill.

```toml
[tool.safemigrate.rehearsal]
max_writer_stall = "200ms"   # longest any write to a table may wait because of one statement
max_reader_stall = "1s"      # likewise for reads
max_duration = "5min"        # longest one statement may run
rows = 1000000               # --rows when the command names none (synthetic copies)
require_rehearsal = "7d"     # production migrate refuses pending revisions not rehearsed (passing) this recently
```

``require_rehearsal``: a passing ``safemigrate rehearse`` records each revision it ran, with its file's checksum,
in the project's database (``safemigrate_rehearsals``, :mod:`safemigrate.state.rehearsals`); the production
preflight (:mod:`safemigrate.runner.rehearsal_gate`) refuses a pending revision without such a record within
that time, or whose file changed since.

Every key is optional; a budget that is not set is not checked. The command line's
``--max-writer-stall`` (and the others) override these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from safemigrate.config.suggest import did_you_mean
from safemigrate.core.durations import parse_ms
from safemigrate.core.errors import ConfigError

_BUDGET_KEYS = ("max_writer_stall", "max_reader_stall", "max_duration")
_KEYS = (*_BUDGET_KEYS, "rows", "require_rehearsal")


@dataclass(frozen=True)
class Budgets:
    """Limits per statement, in milliseconds (None: not checked)."""

    max_writer_stall_ms: int | None = None
    max_reader_stall_ms: int | None = None
    max_duration_ms: int | None = None


@dataclass(frozen=True)
class RehearsalSettings:
    budgets: Budgets = Budgets()
    rows: int | None = None
    require_rehearsal: str | None = None  # as written ("7d"), for messages
    require_rehearsal_ms: int | None = None  # None: production migrate does not ask for a rehearsal


def budget_ms(value: str, name: str) -> int:
    """'200ms', '1.5s', '2min' in milliseconds; a clear error naming ``name`` otherwise."""
    parsed = parse_ms(value)
    if parsed is None:
        raise ConfigError(
            f"{name} = {value!r} is not a duration.",
            "A rehearsal budget is the longest a statement may stall the application (or run).",
            "Write it like '200ms', '1.5s' or '2min'.",
        )
    return parsed


def parse_rehearsal_settings(table: dict[str, Any] | None) -> RehearsalSettings:
    """Validate the table; every mistake is a ConfigError (exit 2) naming the key."""
    table = dict(table or {})
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) in [tool.safemigrate.rehearsal]: {', '.join(unknown)}.",
            "A misspelt key would be silently ignored and its default used instead.",
            f"{did_you_mean(unknown, _KEYS)}Use only these keys: {', '.join(_KEYS)}.",
        )
    values: dict[str, int] = {}
    for key in _BUDGET_KEYS:
        if key in table:
            if not isinstance(table[key], str):
                raise ConfigError(
                    f"[tool.safemigrate.rehearsal] {key} must be a string such as '200ms', not "
                    f"{type(table[key]).__name__} ({table[key]!r}).",
                    "A bare number would leave its unit to guess.",
                    f"Write {key} = \"200ms\" (or '1s', '2min').",
                )
            values[key] = budget_ms(table[key], f"[tool.safemigrate.rehearsal] {key}")
    rows = table.get("rows")
    if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 1):
        raise ConfigError(
            f"[tool.safemigrate.rehearsal] rows = {rows!r} is not a positive number of rows.",
            "It is how many rows a synthetic copy puts in each table.",
            "Write rows = 1000000 (an integer of at least 1).",
        )
    required = table.get("require_rehearsal")
    required_ms = None
    if required is not None:
        required_ms = parse_ms(required) if isinstance(required, str) else None
        if not required_ms:
            raise ConfigError(
                f"[tool.safemigrate.rehearsal] require_rehearsal = {required!r} is not a duration.",
                "It is how recent a passing rehearsal of each pending revision must be before production migrates "
                "it.",
                "Write it like require_rehearsal = \"7d\" (or '24h'); remove the key to not require one.",
            )
    return RehearsalSettings(
        Budgets(values.get("max_writer_stall"), values.get("max_reader_stall"), values.get("max_duration")), rows,
        required if required_ms else None, required_ms)
