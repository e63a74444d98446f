"""What text wardops accepts as a name or label value.

Names and label values travel far: into /metrics, alert notifications, e-mail subjects,
HTTP headers, chat messages, logs and dashboards. Printable text of any script is fine
(Georgian branch names are the normal case); what is refused, at load with the place
named, is what can only mislead or break a reader downstream:

- control characters (C0, DEL, C1: CR/LF forge header and log lines, ESC recolours a
  terminal, NUL truncates C strings);
- lone surrogates (not text: cannot be encoded as UTF-8, so /metrics would fail);
- line and paragraph separators (U+2028/U+2029: new lines to many readers);
- bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069: "Trojan Source",
  text that displays in an order other than it reads).
"""

from __future__ import annotations

import unicodedata

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable as a name or label value; None when it is."""
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cc":
            return f"contains the control character U+{ord(ch):04X}"
        if category == "Cs":
            return f"contains a lone surrogate U+{ord(ch):04X} (not valid text)"
        if category in ("Zl", "Zp"):
            return f"contains the line separator U+{ord(ch):04X}"
        if ch in _BIDI:
            return f"contains the bidirectional control U+{ord(ch):04X}"
    return None


def one_line(message: str) -> str:
    """``message`` with every character ``text_problem`` refuses escaped (``\\r``,
    ``\\x1b``, ``\\u202e``): safe to print as one line, whatever names it quotes."""
    if text_problem(message) is None:
        return message
    out = []
    for ch in message:
        if text_problem(ch) is None:
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1] if ch not in "'\"" else ch)
    return "".join(out)
