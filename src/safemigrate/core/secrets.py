"""Passwords never leave this process in any output.

Every message, report and log line passes through :func:`redact` or
:func:`mask_url`. A password is remembered when its URL is parsed
(:func:`safemigrate.core.urls.parse_url`), so it is masked wherever it shows up later.
"""

from __future__ import annotations

import re
import threading

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_known_secrets: set[str] = set()
_lock = threading.Lock()


def remember_secret(secret: str) -> None:
    if secret and len(secret) >= 1:
        with _lock:
            _known_secrets.add(secret)


def mask_url(url: str | URL | None) -> str:
    """The URL as text with its password replaced by ``***``."""
    if url is None:
        return "(none)"
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return _mask_unparsed(str(url))
    return parsed.render_as_string(hide_password=True)


def _mask_unparsed(text: str) -> str:
    # A string that is not a URL may still hold "user:secret@": mask the part
    # between the first ':' after '//' and the '@'.
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", text)


def redact(text: str) -> str:
    """Remove every known password (and any user:password@ pair) from ``text``."""
    if not text:
        return text
    text = _mask_unparsed(text)
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
