"""Which characters a submission's displayed text (name, description, model name) may hold.

Escaping makes markup inert, but some characters need no markup to mislead: a bidirectional
override (U+202E) shows ``evil`` as ``live`` and can flip the order of the cells around it; a
zero-width or control character makes two names that look the same differ. The board shows
these strings to people, so such characters are refused where a submission is made
(``anchorbench submit``) and checked (``anchorbench leaderboard validate``).
"""

from __future__ import annotations

import unicodedata

# Bidirectional embeddings, overrides and isolates, and the implicit direction marks. All are
# format characters (Cf) too; they are named here because they are the ones that reorder text.
BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# Control (newline, tab, escape, ...), format (zero-width, soft hyphen, BOM, ...), lone surrogates
# (JSON allows "\ud800"; no file can be written with one) and the line and paragraph separators.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def check_text(text: str) -> str | None:
    """Why ``text`` cannot be shown on the board, or None; names the first offending character."""
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if ch in BIDI or category in REFUSED_CATEGORIES:
            kind = "a bidirectional control" if ch in BIDI else f"a {_KINDS[category]} character"
            name = unicodedata.name(ch, "")
            named = f"U+{ord(ch):04X}" + (f" {name}" if name else "")
            return f"{named} at position {i} is {kind}; these are not allowed in displayed text"
    return None


_KINDS = {"Cc": "control", "Cf": "format", "Cs": "surrogate", "Zl": "line separator", "Zp": "paragraph separator"}
