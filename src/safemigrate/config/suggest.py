"""Close-match suggestions for a misspelt key or name ("Did you mean 'lock_timeout'?").

Why: "Use only these keys: <twenty names>" makes the reader find the typo; the nearest known name usually is
the one meant. One helper for every table of the configuration, so each message says it the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(words: Iterable[str], candidates: Iterable[str]) -> str:
    """ "Did you mean 'a' (for 'b')? " for each word with a close candidate, or nothing."""
    known = sorted(candidates)
    words = list(words)
    pairs = [(w, close[0]) for w in words if (close := difflib.get_close_matches(str(w), known, n=1, cutoff=0.6))]
    if not pairs:
        return ""
    if len(words) == 1:
        return f"Did you mean {pairs[0][1]!r}? "
    return "Did you mean " + ", ".join(f"{good!r} (for {bad!r})" for bad, good in pairs) + "? "
