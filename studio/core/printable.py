"""Strings from outside (an imported adapter's config, a card, a tag) made safe to show.

A terminal obeys escape sequences: an adapter_config.json whose base model is
"\\x1b]0;pwned\\x07…" would retitle the window, clear the screen or hide text when
``library list`` prints it. Every such string goes through :func:`printable` before it is
shown: escape sequences go whole, other control characters (and the bidirectional
overrides that make text read differently from what it is) are dropped.
"""

from __future__ import annotations

import re
import unicodedata

# ESC-initiated sequences: CSI (ESC [ … final), OSC/DCS/APC/PM/SOS (… ended by BEL or ESC \),
# and two-character escapes (ESC plus one character).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]"
                      r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|$)"
                      r"|\x9b[0-?]*[ -/]*[@-~]"
                      r"|\x1b.?", re.DOTALL)
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def printable(text: object, keep_newlines: bool = False) -> str:
    """``text`` with terminal escapes and control characters removed (tabs become spaces)."""
    cleaned = _ESCAPES.sub("", str(text)).replace("\t", " ")
    return "".join(ch for ch in cleaned
                   if (ch == "\n" and keep_newlines)
                   or (unicodedata.category(ch) != "Cc" and ch not in _BIDI))
