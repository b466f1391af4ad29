"""Neutralising text before it reaches a person or a protocol.

Item names, skus and messages come from loaded data; a control character in them could
break a protocol (CR/LF in an SMTP header), drive a terminal (an ANSI escape on the console)
or reorder what a reader sees (a bidi override). Every channel renders its messages with
:func:`neutralise`, so what is stored is delivered, escaped, whatever it holds.
"""

from __future__ import annotations

import re
from typing import Any

# C0 (including TAB, CR and LF), DEL, C1 (including NEL), the Unicode line and paragraph
# separators, the bidi embeddings, overrides and isolates, and lone surrogates (which no
# encoder accepts).
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def neutralise(value: object) -> str:
    """One line of plain text: every unsafe character shown as a visible escape.

    >>> neutralise("O2\\r\\nBcc: x \\x1b[31mred\\u202e")
    'O2\\\\x0d\\\\x0aBcc: x \\\\x1b[31mred\\\\u202e'
    """
    return UNSAFE.sub(_escape, value if isinstance(value, str) else str(value))


def is_clean(text: str) -> bool:
    """True when ``text`` holds no character :func:`neutralise` would escape."""
    return UNSAFE.search(text) is None


def neutralise_tree(value: Any) -> Any:
    """Every string (keys and values) in a JSON-like document, neutralised."""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dict):
        return {neutralise(k): neutralise_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [neutralise_tree(v) for v in value]
    return value
