"""safemigrate as an Alembic plugin: the guard and the safe forms for ``alembic revision --autogenerate``.

Why: a project whose env.py is Alembic's own (no ``safemigrate.env.run_migrations``) should still get what
safemigrate's autogenerate hook gives: destructive operations kept out of the new revision, and the forms that
do not stall the application (``CREATE INDEX CONCURRENTLY``, ``NOT VALID`` + ``VALIDATE``...) written in it.

How: Alembic 1.18+ loads every module published under the ``alembic.plugins`` entry point when it is imported
and calls its ``setup(plugin)``. Ours registers one autogenerate comparator, run last
(``DispatchPriority.LAST``), after Alembic's own comparators have produced the operations. It does not
compare anything: it places safemigrate's ``process_revision_directives``
(:func:`safemigrate.guard.enforce.autogen.make_hook`) in front of the project's own for this run, so the guard
sees the finished revision, downgrade included, exactly as with the env.py helper. The project's own hook
still runs first.

It acts when env.py names it, the one line Alembic asks of a project for a plugin's comparators::

    context.configure(connection=connection, target_metadata=target_metadata,
                      autogenerate_plugins=["alembic.autogenerate.*", "safemigrate"])

and never twice: not when env.py already uses safemigrate's hook (the helper), nor when safemigrate itself
generates the revision (it applies its own hook).

Why not without that line: Alembic makes plugins' comparators opt-in per environment by design (its own
``alembic.ext.checkconstraint_byname`` is opt-in too), it has no ini or pyproject option for the list, and its
global comparator collection does not exist yet when plugins are set up (they are loaded while
``alembic.autogenerate.compare`` is being imported), so a plugin cannot register there either.

Alembic before 1.18 has no plugin system: the entry point is never loaded there, and the env.py helper is the
way (nothing fails, nothing is rewritten). This module imports nothing at load time but the standard library:
Alembic loads it while ``import alembic`` is still running.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any


class _PluginModule(ModuleType):
    """This module, iterable as the one plugin module it is.

    Alembic 1.18 iterates what the entry point loads (a collection of modules) and 1.19+ expects a module
    (a collection still works there, with a deprecation warning). A module that iterates over itself is
    both: without it, ``import alembic`` fails on 1.18 in any environment safemigrate is installed in.
    """

    def __iter__(self) -> Iterator[ModuleType]:
        return iter((self,))


sys.modules[__name__].__class__ = _PluginModule

#: The name Alembic knows the plugin by (the entry point's name), for ``autogenerate_plugins``.
PLUGIN_NAME = "safemigrate"

_GUARD_MODULE = "safemigrate.guard.enforce.autogen"  # where safemigrate's own hooks are defined


def setup(plugin: Any) -> None:
    """Alembic's plugin entry point: the comparator, run after Alembic's own."""
    from alembic.util import DispatchPriority

    plugin.add_autogenerate_comparator(_guard_revision, "autogenerate", priority=DispatchPriority.LAST)


def _guard_revision(autogen_context: Any, upgrade_ops: Any) -> None:
    """Compares nothing: puts the guard in front of the project's hook for this run."""
    _install(autogen_context)


def _install(autogen_context: Any) -> None:
    opts = autogen_context.migration_context.opts
    own = opts.get("process_revision_directives")
    if _is_ours(own) or _driven_by_safemigrate():
        return
    from safemigrate.guard.enforce.autogen import make_hook

    opts["process_revision_directives"] = make_hook(own)


def _is_ours(hook: Any) -> bool:
    return hook is not None and getattr(hook, "__module__", None) == _GUARD_MODULE


def _driven_by_safemigrate() -> bool:
    """safemigrate generating the revision itself (``check``'s fix, auto-sync, ``ci autofix``): its hook acts."""
    from alembic import context

    from safemigrate.guard.enforce.runtime import AUTOGEN_DRIVEN

    try:
        return bool(context.config.attributes.get(AUTOGEN_DRIVEN))
    except (AttributeError, NameError):  # no env.py running (compare_metadata called by hand)
        return False
