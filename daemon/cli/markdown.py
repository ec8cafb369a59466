"""Text from rules.yaml or the POS inside Markdown that people paste into a review.

A restaurant's name, a rule's name or a payment key is data, not Markdown: a
``|`` would add a table column, a newline forge a row, ``</details>`` close
the report's folding, ``<script>`` or ``<img onerror>`` run wherever the
review is rendered as HTML. :func:`text` shows such a string as the
characters it is (controls escaped as on a terminal, HTML special characters
as entities, Markdown's punctuation escaped); :func:`code` puts it in a code
span that holds whatever backticks it contains.
"""

from __future__ import annotations

import html
import re

from daemon.domain.printable import printable

# The punctuation that changes inline text or a table cell, escaped with a backslash
# (what only counts at the start of a line, ``#``, ``-``, ``1.``, cannot start a cell);
# ``&``, ``<`` and ``>`` are written as HTML entities instead (html.escape).
_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_BACKTICKS = re.compile(r"`+")


def text(value: str) -> str:
    """``value`` as literal text in a Markdown table cell or paragraph."""
    return _PUNCTUATION.sub(r"\\\1", html.escape(printable(value), quote=False))


def code(value: str) -> str:
    """``value`` as a code span in a table cell: fenced wider than any run of backticks in it."""
    shown = printable(value).replace("|", "\\|")  # a table splits cells first, spans or not
    longest = max((len(run) for run in _BACKTICKS.findall(shown)), default=0)
    fence = "`" * (longest + 1)
    if longest:  # a space apart, so a backtick at either end is not part of the fence
        return f"{fence} {shown} {fence}"
    return f"{fence}{shown}{fence}"
