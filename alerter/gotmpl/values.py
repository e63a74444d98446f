"""Go values as templates see them, and Go's ``fmt`` printing of them.

A Go template is typed: ``gt $value 1`` fails because ``$value`` is a float64 and ``1`` an
int; ``index "abc" 0`` is a byte (uint8) and prints as ``97``; ``printf "%d" 1.5`` prints
``%!d(float64=1.5)``. Python's values carry no such types, so the few Go types templates
meet are modelled here: ``None`` is Go's nil (an invalid value), ``bool``/``int``/``float``/
``str`` are Go's bool/int/float64/string, and the classes below stand for the rest. Each
value knows its Go type name (``go_type``) because Go's error messages print it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any


class Uint8(int):
    """A byte (``index`` on a string returns one)."""


class HTML(str):
    """``html/template.HTML`` (what ``safeHtml`` returns); prints as its text."""


class AnyMap(dict[str, object]):
    """``map[string]interface {}`` (what ``args`` returns); a plain dict is a
    ``map[string]string`` (labels)."""


class Sample:
    """Prometheus's template ``*sample``: one element of a query result."""

    __slots__ = ("Labels", "Value")

    def __init__(self, labels: Mapping[str, str], value: float) -> None:
        self.Labels = dict(labels)
        self.Value = float(value)


class QueryResult(list["Sample"]):
    """Prometheus's ``queryResult`` (``[]*sample``), what ``query`` returns."""


class GoTime:
    """A ``*time.Time`` in UTC (what ``toTime`` returns), to the nanosecond."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def String(self) -> str:
        """Go's ``Time.String``: ``2006-01-02 15:04:05.999999999 +0000 UTC``."""
        secs, frac = divmod(self.ns, 1_000_000_000)
        text = _utc_text(secs)
        if frac:
            text += "." + f"{frac:09d}".rstrip("0")
        return text + " +0000 UTC"

    def Unix(self) -> int:
        """Seconds since the epoch (Go's ``Time.Unix``)."""
        return self.ns // 1_000_000_000

    def UnixMilli(self) -> int:
        """Milliseconds since the epoch (Go's ``Time.UnixMilli``)."""
        return self.ns // 1_000_000

    def UnixNano(self) -> int:
        """Nanoseconds since the epoch (Go's ``Time.UnixNano``)."""
        return self.ns

    def UTC(self) -> GoTime:
        """Itself (it is in UTC already)."""
        return self

    def Format(self, layout: str) -> str:
        """Go's ``Time.Format`` for the common layout elements."""
        return go_time_format(self.ns, layout)


#: Methods a template may call on a value (Go finds them by reflection).
METHODS: dict[type, frozenset[str]] = {
    GoTime: frozenset({"String", "Unix", "UnixMilli", "UnixNano", "UTC", "Format"}),
}


class Struct:
    """A Go struct value: named fields in declaration order (the alert's template data)."""

    __slots__ = ("fields", "type_name")

    def __init__(self, type_name: str, fields: dict[str, Any]) -> None:
        self.type_name = type_name
        self.fields = fields


def _utc_text(secs: int) -> str:
    try:
        tm = time.gmtime(secs)  # (strftime's %Y would print year 1 as "1"; Go says "0001")
        return (f"{tm.tm_year:04d}-{tm.tm_mon:02d}-{tm.tm_mday:02d} "
                f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}")
    except (OverflowError, OSError, ValueError):
        # beyond the C library's range: Go still prints it; compute the date by hand
        days, rest = divmod(secs, 86400)
        year, month, day = _civil_from_days(days)
        return (f"{year:04d}-{month:02d}-{day:02d} "
                f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}")


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Howard Hinnant's days → (year, month, day), proleptic Gregorian, any year."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return (year + 1 if month <= 2 else year), month, day


_LAYOUT = [  # longest first, as Go's layout parser tries them
    ("2006", "%Y"), ("January", "%B"), ("Monday", "%A"), ("Jan", "%b"), ("Mon", "%a"),
    ("MST", "UTC"), ("Z07:00", "Z"), ("-07:00", "+00:00"), ("-0700", "+0000"),
    ("01", "%m"), ("02", "%d"), ("15", "%H"), ("03", "%I"), ("04", "%M"), ("05", "%S"),
    ("06", "%y"), ("PM", "%p"), ("_2", "_2"), ("1", "1"), ("2", "2"), ("3", "3"),
]


def go_time_format(ns: int, layout: str) -> str:
    """Go's reference-time layout (``2006-01-02 15:04:05``) applied to a UTC time."""
    secs, frac = divmod(ns, 1_000_000_000)
    tm = time.gmtime(secs)
    out: list[str] = []
    pos = 0
    while pos < len(layout):
        if layout.startswith((".000", ".999", ",000", ",999"), pos):
            end = pos + 1
            while end < len(layout) and layout[end] == layout[pos + 1]:
                end += 1
            digits = f"{frac:09d}"[: end - pos - 1]
            if layout[pos + 1] == "9":
                digits = digits.rstrip("0")
                out.append(layout[pos] + digits if digits else "")
            else:
                out.append(layout[pos] + digits)
            pos = end
            continue
        for token, spec in _LAYOUT:
            if layout.startswith(token, pos):
                if spec == "_2":
                    out.append(f"{tm.tm_mday:2d}")
                elif spec in ("1", "2", "3"):
                    out.append(str({"1": tm.tm_mon, "2": tm.tm_mday,
                                    "3": tm.tm_hour % 12 or 12}[spec]))
                elif spec == "%Y":  # strftime drops the zeros of a year below 1000
                    out.append(f"{tm.tm_year:04d}")
                elif spec.startswith("%"):
                    out.append(time.strftime(spec, tm))
                else:
                    out.append(spec)
                pos += len(token)
                break
        else:
            out.append(layout[pos])
            pos += 1
    return "".join(out)


def go_type(value: Any) -> str:
    """The Go type name Go's messages print for ``value``."""
    if value is None:
        return "<nil>"
    if named := getattr(type(value), "GO_TYPE", None):  # a named type (Alertmanager's KV)
        return str(named)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Uint8):
        return "uint8"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, HTML):
        return "template.HTML"
    if isinstance(value, str):
        return "string"
    if isinstance(value, AnyMap):
        return "map[string]interface {}"
    if isinstance(value, Mapping):
        return "map[string]string"
    if isinstance(value, Sample):
        return "*template.sample"
    if isinstance(value, QueryResult):
        return "template.queryResult"
    if isinstance(value, GoTime):
        return "*time.Time"
    if isinstance(value, Struct):
        return value.type_name
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def is_number(value: Any) -> bool:
    """An int, byte or float64 (not a bool, which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- printing

def go_float(value: float, fmt: str = "g", prec: int = -1) -> str:
    """Go's ``strconv.FormatFloat(value, fmt, prec, 64)`` for 'g', 'e' and 'f'.

    ``prec`` -1 is Go's shortest representation that reads back as the same float; for
    'g' it switches to the exponent form below 1e-4 and from 1e+06 (as ``%v`` prints)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if prec >= 0:
        if fmt == "g":
            return format(value, f".{max(prec, 1)}g")
        return format(value, f".{prec}{fmt}")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + ("0e+00" if fmt == "e" else "0")
    digits, exp10 = _shortest(abs(value))
    if fmt == "e" or (fmt == "g" and (exp10 < -4 or exp10 >= 6)):
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 >= 0:
        whole = digits[: exp10 + 1].ljust(exp10 + 1, "0")
        frac = digits[exp10 + 1:]
    else:
        whole, frac = "0", "0" * (-exp10 - 1) + digits
    return sign + whole + ("." + frac if frac else "")


def _shortest(value: float) -> tuple[str, int]:
    """Shortest round-trip digits of a positive float and the decimal exponent of the
    first one (Python's ``repr`` is the same shortest representation Go uses)."""
    mantissa, _, exp_text = repr(value).lower().partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    if frac_part == "0":
        frac_part = ""
    digits = (int_part + frac_part).lstrip("0")
    if int_part.strip("0"):
        exp10 = len(int_part.lstrip("0")) - 1
    else:
        exp10 = -(len(frac_part) - len(frac_part.lstrip("0")) + 1)
    return digits.rstrip("0") or "0", exp10 + int(exp_text or 0)


def go_v(value: Any, top: bool = True) -> str:
    """Go's ``%v`` of a value (what ``print`` and an action print)."""
    if value is None:
        return "<nil>"
    if "String" in METHODS.get(type(value), ()):  # a fmt.Stringer prints as its String()
        return str(value.String())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_v_float(value)
    if isinstance(value, GoTime):
        return value.String()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_v(k, False)}:{go_v(value[k], False)}"
                                 for k in sorted(value)) + "]"
    if isinstance(value, Sample):
        body = f"{{{go_v(value.Labels, False)} {go_v_float(value.Value)}}}"
        return "&" + body if top else f"0xc{id(value) & 0xffffffffff:010x}"
    if isinstance(value, Struct):
        return "{" + " ".join(go_v(v, False) for v in value.fields.values()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_v(v, False) for v in value) + "]"
    return str(value)


def go_v_float(value: float) -> str:
    """``%v`` of a float64: the shortest form, exponent below 1e-4 and from 1e+06."""
    return go_float(value, "g", -1)


def go_quote(value: str) -> str:
    """Go's ``strconv.Quote``: printable characters as they are, the rest escaped."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v"}


def go_sprint(*args: Any) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_v(arg))
    return "".join(out)


def go_sprintln(*args: Any) -> str:
    """Go's ``fmt.Sprintln``: spaces between all operands and a newline."""
    return " ".join(go_v(a) for a in args) + "\n"


# --------------------------------------------------------------------------- Sprintf

class _Spec:
    __slots__ = ("minus", "plus", "sharp", "space", "zero", "width", "prec")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.prec: int | None = None


def _pad(text: str, spec: _Spec, numeric: bool = False) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    if spec.zero:
        if numeric and text[:1] in "+- ":
            return text[0] + "0" * fill + text[1:]
        return "0" * fill + text
    return " " * fill + text


def _bad(verb: str, arg: Any) -> str:
    if arg is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(arg)}={go_v(arg)})"


def _fmt_int(n: int, verb: str, spec: _Spec) -> str | None:
    neg = n < 0
    mag = -n if neg else n
    if verb in ("d", "v"):
        body = str(mag)
    elif verb == "b":
        body = format(mag, "b")
    elif verb == "o":
        body = format(mag, "o")
        if spec.sharp:
            body = "0" + body
    elif verb == "O":
        body = "0o" + format(mag, "o")
    elif verb in ("x", "X"):
        body = format(mag, verb)
        if spec.sharp:
            body = "0" + verb + body
    elif verb == "c":
        return _pad(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd", spec)
    elif verb == "q":
        return _pad("'" + go_quote(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd")[1:-1]
                    .replace("'", "\\'").replace('\\"', '"') + "'", spec)
    elif verb == "U":
        return _pad(f"U+{n:04X}", spec)
    else:
        return None
    if spec.prec is not None:
        body = body.rjust(spec.prec, "0") if spec.prec else ("" if mag == 0 else body)
    sign = "-" if neg else ("+" if spec.plus else (" " if spec.space else ""))
    zero = spec.zero and spec.prec is None and not spec.minus
    saved, spec.zero = spec.zero, zero
    try:
        return _pad(sign + body, spec, numeric=True)
    finally:
        spec.zero = saved


def _hex_float(x: float, upper: bool) -> str:
    """Go's ``%x`` of a float: ``0x1.8p+00`` (shortest mantissa, two-digit exponent)."""
    if x == 0:
        text = "0x0p+00"
    else:
        mantissa, _, exp = float.hex(abs(x)).partition("p")
        mantissa = mantissa.rstrip("0").rstrip(".")
        text = f"{mantissa}p{exp[0]}{int(exp[1:]):02d}"
    text = ("-" if math.copysign(1.0, x) < 0 else "") + text
    return text.upper().replace("0X", "0X") if upper else text


def _fmt_float(x: float, verb: str, spec: _Spec) -> str | None:
    if verb in "xX" and not (math.isnan(x) or math.isinf(x)) and spec.prec is None:
        body = _hex_float(x, verb == "X")
        if not body.startswith("-"):
            body = ("+" if spec.plus else (" " if spec.space else "")) + body
        return _pad(body, spec, numeric=True)
    if verb not in "eEfFgGvxX":
        return None
    if math.isnan(x) or math.isinf(x):
        text = "NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf")
        if math.isnan(x) and spec.plus:
            text = "+NaN"
        elif text == "+Inf" and not spec.plus:
            text = " Inf" if spec.space else "+Inf"
        saved, spec.zero = spec.zero, False
        try:
            return _pad(text, spec)
        finally:
            spec.zero = saved
    if verb == "v":
        body = go_float(x, "g", spec.prec if spec.prec is not None else -1)
    elif verb in "gG":
        body = go_float(x, "g", spec.prec if spec.prec is not None else -1)
        if verb == "G":
            body = body.upper()
    elif verb in "eE":
        body = go_float(x, "e", 6 if spec.prec is None else spec.prec)
        if verb == "E":
            body = body.upper()
    else:
        body = format(x, f".{6 if spec.prec is None else spec.prec}f")
    if spec.sharp and "." not in body and verb in "fF":
        body += "."
    if not body.startswith("-"):
        body = ("+" if spec.plus else (" " if spec.space else "")) + body
    return _pad(body, spec, numeric=True)


def _fmt_str(s: str, verb: str, spec: _Spec) -> str | None:
    if verb in ("s", "v"):
        if spec.prec is not None:
            s = s[: spec.prec]
        return _pad(s, spec)
    if verb == "q":
        if spec.prec is not None:
            s = s[: spec.prec]
        if spec.sharp and "`" not in s and all(c.isprintable() or c == "\t" for c in s):
            return _pad("`" + s + "`", spec)
        quoted = go_quote(s)
        if spec.plus:
            quoted = quoted.encode("ascii", "backslashreplace").decode()
        return _pad(quoted, spec)
    if verb in ("x", "X"):
        data = s.encode()
        if spec.prec is not None:
            data = data[: spec.prec]
        sep = " " if spec.space else ""
        prefix = ("0" + verb) if spec.sharp else ""
        parts = [prefix + format(b, "02" + verb.lower()) for b in data]
        text = sep.join(parts) if sep else prefix + "".join(
            format(b, "02" + verb.lower()) for b in data)
        return _pad(text.upper() if verb == "X" else text, spec)
    return None


def _fmt_value(arg: Any, verb: str, spec: _Spec, top: bool = True) -> str:
    """One argument formatted with one verb, or Go's ``%!verb(type=value)``."""
    if verb == "T":
        return _pad(go_type(arg), spec)
    if arg is None:
        return _pad("<nil>", spec) if verb == "v" else f"%!{verb}(<nil>)"
    text: str | None
    if isinstance(arg, bool):
        text = _pad("true" if arg else "false", spec) if verb in "tv" else None
    elif isinstance(arg, int):
        text = _fmt_int(int(arg), verb, spec)
    elif isinstance(arg, float):
        text = _fmt_float(arg, verb, spec)
    elif isinstance(arg, GoTime):
        text = _fmt_str(arg.String(), verb, spec)
    elif isinstance(arg, str):
        text = _fmt_str(str(arg), verb, spec)
    elif isinstance(arg, Mapping):
        inner = " ".join(f"{_fmt_value(k, verb, spec, False)}:"
                         f"{_fmt_value(arg[k], verb, spec, False)}" for k in sorted(arg))
        return "map[" + inner + "]"
    elif isinstance(arg, (list, tuple)) and not isinstance(arg, QueryResult):
        return "[" + " ".join(_fmt_value(v, verb, spec, False) for v in arg) + "]"
    elif isinstance(arg, Sample) and top:
        return "&{" + _fmt_value(arg.Labels, verb, spec, False) + " " + \
            _fmt_value(arg.Value, verb, spec, False) + "}"
    else:
        text = _pad(go_v(arg, top), spec) if verb in "vs" else None
    return text if text is not None else _bad(verb, arg)


def _star(args: tuple[Any, ...], index: int) -> int | None:
    """The int argument a ``*`` width or precision takes, or None (Go's BADWIDTH)."""
    if index < len(args) and isinstance(args[index], int) \
            and not isinstance(args[index], bool) and abs(args[index]) <= 1_000_000:
        return int(args[index])
    return None


def _digits(fmt: str, i: int) -> tuple[int, int | None]:
    """Go's ``parsenum``: a number over a million is "crazy" and ends the format."""
    start = i
    while i < len(fmt) and "0" <= fmt[i] <= "9":
        i += 1
        if i - start > 7 or int(fmt[start:i]) > 1_000_000:
            return len(fmt), None
    return i, (int(fmt[start:i]) if i > start else None)


def go_sprintf(fmt: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf``: flags, width, precision (also ``*``), the verbs of the
    types templates meet, and Go's error forms (``%!d(string=x)``, ``%!s(MISSING)``,
    ``%!(EXTRA ...)``, ``%!(NOVERB)``)."""
    out: list[str] = []
    argi = 0
    i, n = 0, len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < n and fmt[i] in "+-# 0":
            c = fmt[i]
            if c == "+":
                spec.plus = True
            elif c == "-":
                spec.minus, spec.zero = True, False
            elif c == "#":
                spec.sharp = True
            elif c == " ":
                spec.space = True
            elif not spec.minus:
                spec.zero = True
            i += 1
        if i < n and fmt[i] == "*":
            i, argi = i + 1, argi + 1
            star = _star(args, argi - 1)
            if star is None:
                out.append("%!(BADWIDTH)")
            else:
                spec.width = abs(star)
                if star < 0:
                    spec.minus, spec.zero = True, False
        else:
            i, spec.width = _digits(fmt, i)
        if i + 1 < n and fmt[i] == ".":
            i += 1
            if fmt[i] == "*":
                i, argi = i + 1, argi + 1
                star = _star(args, argi - 1)
                if star is None or star < 0:
                    out.append("%!(BADPREC)")
                else:
                    spec.prec = star
            else:
                i, prec = _digits(fmt, i)
                spec.prec = prec or 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        if spec.plus and verb == "v":
            spec.plus = False  # %+v adds field names to structs; nothing here has any
        out.append(_fmt_value(arg, verb, spec))
    if argi < len(args):
        out.append("%!(EXTRA " + ", ".join(
            "<nil>" if a is None else f"{go_type(a)}={go_v(a)}" for a in args[argi:]) + ")")
    return "".join(out)

