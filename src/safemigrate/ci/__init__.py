"""``safemigrate ci``: the pull-request check and the post-merge auto-fix.

- :func:`ci_check` (check.py): a branch's migrations against a base git ref;
- :func:`autofix` (autofix.py): generate, verify and commit a missing revision;
- workflows.py: the GitHub Actions workflow files ``init --github`` writes;
- git.py / history.py: the git commands used, and revision files read from git;
- render.py: Markdown job summary, GitHub annotations, terminal text;
- cli.py: the ``ci`` click group that safemigrate.cli registers.
"""

from __future__ import annotations

from safemigrate.ci.autofix import AutofixReport, autofix
from safemigrate.ci.check import CICheckReport, ci_check, ci_project

__all__ = ["AutofixReport", "CICheckReport", "autofix", "ci_check", "ci_project"]
