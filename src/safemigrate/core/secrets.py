"""Passwords never leave this process in any output.

Every message, report and log line passes through :func:`redact` or
:func:`mask_url`. A password is remembered when its URL is parsed
(:func:`safemigrate.core.urls.parse_url`), so it is masked wherever it shows up later.

Masking replaces a secret where it stands as a credential: the password of a
URL (``user:secret@``), a ``password=`` parameter of a URL's query or of a
libpq/ODBC connection string, and anywhere a remembered password appears as a
whole word. It never cuts into other words: with the password ``postgres``,
``postgresql://`` stays readable. A password of one to three characters is
masked in credential positions only, where it is certain to be one.
"""

from __future__ import annotations

import re
import threading

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_known_secrets: set[str] = set()
_lock = threading.Lock()
_MASK = "***"
#: Query / connection-string parameters that carry a secret.
_SECRET_KEYS = ("password", "passwd", "pwd", "pass", "secret", "token", "sslpassword")
_MIN_FREE_TEXT = 4  # shorter passwords are masked only where they stand as credentials


def remember_secret(secret: str) -> None:
    if secret:
        with _lock:
            _known_secrets.add(secret)


def mask_url(url: str | URL | None) -> str:
    """The URL as text with its password (and any password in its query) replaced by ``***``."""
    if url is None:
        return "(none)"
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):
        return redact(str(url))
    for key, value in parsed.query.items():
        if key.lower() in _SECRET_KEYS:
            for secret in (value if isinstance(value, tuple) else (value,)):
                remember_secret(str(secret))
    hidden = {k: _MASK for k in parsed.query if k.lower() in _SECRET_KEYS}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", _MASK)


def _mask_unparsed(text: str) -> str:
    # A string that is not a URL may still hold "scheme://user:secret@host": mask what stands between
    # the ':' after the user and the last '@' before the host.
    text = re.sub(r"(//[^/:@\s]*:)[^\s/]*@", rf"\g<1>{_MASK}@", text)
    # password=... in a URL query or a key=value connection string
    keys = "|".join(_SECRET_KEYS)
    return re.sub(rf"(?i)(\b(?:{keys})\s*=\s*)('[^']*'|\"[^\"]*\"|[^&\s;,)]+)", rf"\g<1>{_MASK}", text)


def redact(text: str) -> str:
    """Remove every known password (and any credential in a URL or connection string) from ``text``."""
    if not text:
        return text
    text = _mask_unparsed(text)
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if len(secret) >= _MIN_FREE_TEXT or not secret.isalnum():
            text = _replace_words(text, secret)
    return text


def _replace_words(text: str, secret: str) -> str:
    """``text`` with ``secret`` masked where it is not part of a longer word."""
    out: list[str] = []
    start = 0
    while True:
        found = text.find(secret, start)
        if found == -1:
            out.append(text[start:])
            return "".join(out)
        end = found + len(secret)
        inside_word = (_wordy(secret[0]) and found > 0 and _wordy(text[found - 1])) or \
                      (_wordy(secret[-1]) and end < len(text) and _wordy(text[end]))
        out.append(text[start:found])
        out.append(secret if inside_word else _MASK)
        start = end


def _wordy(char: str) -> bool:
    return char.isalnum() or char == "_"
