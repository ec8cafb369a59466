"""Text someone typed, shown on a terminal without letting it act on the terminal.

A pause's comment and author (``--comment``, ``--by``) come from whoever ran
the command: a newline would forge a line of ``status``, an escape sequence
would repaint the screen, a right-to-left override would make ``resume 12``
read as ``resume 21``. They are stored as typed; wherever they are printed
as text, every control and format character is shown as its escape instead.
(JSON output escapes by itself.)
"""

from __future__ import annotations

import unicodedata
from typing import Final

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    # Cc control, Cf format (bidi overrides, zero-width), Cs, Co, Cn: none is
    # text; Zl and Zp (U+2028, U+2029) break lines as a newline does.
    category = unicodedata.category(char)
    if category.startswith("C") or category in ("Zl", "Zp"):
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def printable(text: str) -> str:
    """``text`` with every control or format character escaped (``\\n``, ``\\x1b``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(_shown(char) for char in text)


def _json_escape(char: str) -> str:
    if unicodedata.category(char) in ("Cf", "Co", "Cn", "Cs", "Zl", "Zp"):
        encoded = char.encode("utf-16-be", "surrogatepass")
        units = [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]
        return "".join(f"\\u{unit:04x}" for unit in units)
    return char


def json_printable(text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) safe on a terminal too.

    JSON escapes control characters itself, not format ones (a right-to-left
    override, a zero-width joiner) nor line separators: those are written as
    ``\\uXXXX`` here, which every JSON reader decodes back to the same string.
    """
    if text.isprintable():
        return text
    return "".join(_json_escape(char) for char in text)
