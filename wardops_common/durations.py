"""Prometheus-style durations ("30s", "1m30s", "1h", "250ms") to seconds and back."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
          "y": 31536000.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def parse_duration(value: object) -> float:
    """Return the number of seconds in ``value``.

    Accepts Prometheus duration strings ("1h30m", "250ms") and plain non-negative
    numbers (taken as seconds). Raises ``ValueError`` naming the bad value otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"invalid duration {value!r}: not a finite number")
        if value < 0:
            raise ValueError(f"invalid duration {value!r}: negative")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"invalid duration {value!r}")
    text = value.strip()
    if text == "0":
        return 0.0
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"invalid duration {value!r} (use e.g. 500ms, 30s, 5m, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds the way people read an outage: "6m 12s", "2h 3m", "1d 4h"."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_milliseconds(seconds: float, sep: str = "") -> str:
    """A round trip in milliseconds with three significant digits: "0.043ms", "1.25ms",
    "12.3ms", "250ms" (``sep=" "`` puts a space before the unit).

    A fixed two decimals shows every loopback or LAN reply (tens of microseconds) as
    "0.00ms", which reads as "no reply time at all"; three significant digits keep the
    figure readable from microseconds to seconds. Below one microsecond it says so.
    """
    ms = seconds * 1000
    if ms <= 0:
        return f"0{sep}ms"
    if ms < 0.001:
        return f"<0.001{sep}ms"
    decimals = min(3, max(0, 2 - math.floor(math.log10(ms))))
    text = f"{ms:.{decimals}f}"
    # Rounding may carry into a new digit (9.996 -> "10.00"): keep three digits.
    if decimals and len(text.replace(".", "").lstrip("0")) > 3:
        text = f"{ms:.{decimals - 1}f}"
    return f"{text}{sep}ms"
