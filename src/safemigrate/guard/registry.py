"""Rule registration: one module per rule under ``guard/rules``, each decorated with :func:`rule`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Category, Context, Severity, Violation

Check = Callable[[ParsedStatement, Context], Iterable[Violation]]

RULES: dict[str, Rule] = {}
RULES_PACKAGE = "safemigrate.guard.rules"
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    category: Category
    summary: str
    dialects: tuple[str, ...]
    check: Check
    doc: str
    module: str

    @property
    def bad_example(self) -> str | None:
        return _section(self.doc, "Bad")

    @property
    def good_example(self) -> str | None:
        return _section(self.doc, "Good")


def rule(id: str, *, severity: Severity | str, category: Category | str, summary: str,
         dialects: tuple[str, ...] = ("postgresql",)) -> Callable[[Check], Check]:
    """Register a rule. ``check(statement, context)`` yields :class:`Violation` objects.

    For PostgreSQL, ``statement`` is a :class:`safemigrate.guard.sql.PgStatement`
    (its ``node`` is the pglast AST node); for other dialects a
    :class:`safemigrate.guard.sql.GlotStatement` (its ``node`` is a sqlglot expression).
    """
    if not _ID.match(id):
        raise ValueError(f"rule id {id!r} must be kebab-case")

    def register(check: Check) -> Check:
        if id in RULES:
            raise ValueError(f"rule {id!r} registered twice")
        module = inspect.getmodule(check)
        doc = inspect.getdoc(module) or "" if module else ""
        RULES[id] = Rule(id, Severity(severity), Category(category), summary, tuple(dialects), check,
                         inspect.getdoc(check) or doc, check.__module__)
        return check

    return register


def _section(doc: str, title: str) -> str | None:
    """The indented block after a line ``Bad::`` / ``Good::`` in a docstring."""
    lines = doc.splitlines()
    for index, line in enumerate(lines):
        if line.strip().rstrip(":") == title and line.strip().endswith("::"):
            block: list[str] = []
            for follow in lines[index + 1:]:
                if follow.strip() and not follow.startswith((" ", "\t")):
                    break
                block.append(follow)
            text = "\n".join(block).strip("\n")
            import textwrap

            return textwrap.dedent(text).strip() or None
    return None


_loaded = False


def load_rules() -> dict[str, Rule]:
    """Import every module of ``guard/rules`` (once) so that their rules register."""
    global _loaded
    if not _loaded:
        # found by name, not imported statically: the rules import this module to register
        package = importlib.import_module(RULES_PACKAGE)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{RULES_PACKAGE}.{info.name}")
        _loaded = True
    return RULES
