"""Ids that go into API paths: which values can be one.

Light on purpose (no HTTP client): the snapshot uses it to mark bad keys as
bad data, long before any call is built.
"""

from __future__ import annotations


def segment_problem(value: str) -> str | None:
    """Why ``value`` cannot be one URL path segment of an API call, or None.

    Quoting would make "a/b" or "?" harmless to the URL, but such an id is not
    a Dükkango UUID either: it is bad data, and bad data is never sent.
    """
    if value in ("", ".", ".."):
        return "is empty or a dot segment"
    if any(char in "/?#%\\" or char.isspace() or not char.isprintable() for char in value):
        return "holds a character an id never has (/, ?, #, %, \\, space or a control)"
    return None
