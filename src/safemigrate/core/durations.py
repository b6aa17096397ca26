"""Durations written in the configuration and on the command line: '5s', '1500ms', '2min', '1h', '7d'."""

from __future__ import annotations

_UNITS_MS = {"": 1, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_ms(value: str) -> int | None:
    """``value`` in milliseconds, or None when it is not a duration (each caller says why it matters)."""
    text = value.strip()
    number = text.rstrip("smhinud ")
    unit = text[len(number):].strip()
    if not number.replace(".", "", 1).isdigit() or unit not in _UNITS_MS:
        return None
    return round(float(number) * _UNITS_MS[unit])
