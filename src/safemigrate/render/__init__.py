"""Renderers: they format result dataclasses and never compute anything."""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("text", "json", "markdown")


def to_json(report: Any) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str)
