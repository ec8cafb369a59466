"""Ids that go into API paths: which values can be one.

Light on purpose (no HTTP client): the snapshot uses it to mark bad keys as
bad data, long before any call is built.
"""

from __future__ import annotations

_NEVER_IN_AN_ID = frozenset("/?#%\\ ")


def segment_problem(value: str) -> str | None:
    """Why ``value`` cannot be one URL path segment of an API call, or None.

    Quoting would make "a/b" or "?" harmless to the URL, but such an id is not
    a Dükkango UUID either: it is bad data, and bad data is never sent.
    """
    if value in ("", ".", ".."):
        return "is empty or a dot segment"
    # str.isprintable() is false for every whitespace character but " " and for
    # every control: with the six characters above, the same test as
    # "char in '/?#%\\' or char.isspace() or not char.isprintable()" per char.
    if not value.isprintable() or not _NEVER_IN_AN_ID.isdisjoint(value):
        return "holds a character an id never has (/, ?, #, %, \\, space or a control)"
    return None
