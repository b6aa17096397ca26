"""Content from a pull request (SQL, revision messages, names) cannot change a report's structure.

Markdown: code goes into fences and spans longer than any backtick run inside
it; prose is HTML-escaped and kept on one line, and table cells escape ``|``.
GitHub workflow commands: data and properties are escaped by the
workflow-command rules, so a message cannot end a command or add a property.
"""

from __future__ import annotations


def _longest_run(text: str, char: str = "`") -> int:
    longest = run = 0
    for c in text:
        run = run + 1 if c == char else 0
        longest = max(longest, run)
    return longest


def fence(lines: list[str], language: str = "") -> list[str]:
    """A fenced code block holding ``lines`` exactly, whatever backticks they contain."""
    ticks = "`" * max(3, _longest_run("\n".join(lines)) + 1)
    return [f"{ticks}{language}", *lines, ticks]


def code(text: str | None) -> str:
    """An inline code span holding ``text`` exactly."""
    text = " ".join((text or "").split())
    if not text:
        return ""
    ticks = "`" * (_longest_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def prose(text: str | None) -> str:
    """Text holding user content in Markdown prose: on one line, with no HTML, no table cell end, no link.

    On one line, a backtick or an asterisk can only style the text, never start a block, a heading or a
    fence: safemigrate's own messages keep their `code` spans.
    """
    text = " ".join((text or "").split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\[]|":
        text = text.replace(char, "\\" + char)
    return text


def cell(text: str | None) -> str:
    """User text in a Markdown table cell."""
    return prose(text)


def command_data(text: str) -> str:
    """The message of a GitHub workflow command (``::error ...::message``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def command_property(text: str) -> str:
    """A property value of a GitHub workflow command (``file=``, ``title=``)."""
    return command_data(text).replace(":", "%3A").replace(",", "%2C")


def html(text: str | None) -> str:
    """User text inside HTML (``<summary>``): escaped, on one line."""
    return " ".join((text or "").split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
