"""Prometheus alert templates: Go's text/template with Prometheus's functions, as
Prometheus 2.42 expands ``labels`` and ``annotations`` of alerting rules.

The template language is a port of Go's (``alerter.gotmpl``: ``range``, ``define``/
``template``/``block``, ``break``/``continue``, character constants, typed function
arguments and Go's comparison rules); the functions are Prometheus's (``query``,
``first``, ``value``, ``label``, ``sortByLabel``, ``humanize*``, ``graphLink``, ...).
Each text is expanded as Prometheus expands it: after the definitions
``{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL :=
.ExternalURL}}{{$value := .Value}}``, as the template ``__alert_<rule name>``, so error
messages name the same positions as Prometheus's.

A template is parsed once (``compile_template`` caches it); parse errors raise
``TemplateError`` (reported at load and by ``check-config``). ``Template.expand`` never
raises: a failing expansion returns Prometheus's marker ``<error expanding template: ...>``
together with the error, so the caller can count it.
"""

from __future__ import annotations

import ipaddress
import math
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from alerter.gotmpl import parse as gparse
from alerter.gotmpl.exec import BUILTINS, ExecError, Func, FuncError, execute
from alerter.gotmpl.values import (
    HTML,
    AnyMap,
    GoTime,
    QueryResult,
    Sample,
    Struct,
    Uint8,
    go_float,
    go_quote,
    go_sprintf,
    go_type,
    go_v,
)
from wardops_common.regex import Match, Regex, RegexError, compile_re2

__all__ = ["FUNCTIONS", "QueryFunc", "Template", "TemplateError", "compile_template",
           "go_float", "go_v", "humanize", "humanize_duration", "humanize_timestamp"]


class TemplateError(ValueError):
    """A template that cannot be parsed (Go's parser message)."""


class QuerySample(Protocol):
    """One element of an instant vector, as the alerter's Prometheus client returns it."""

    @property
    def labels(self) -> Mapping[str, str]:
        """Its labels, ``__name__`` included."""

    @property
    def value(self) -> float:
        """Its value."""


class QueryFunc(Protocol):
    """Evaluates PromQL at a time, for the template function ``query`` (Prometheus's
    ``template.QueryFunc``); raises with the error text on failure."""

    def __call__(self, expr: str, at: float) -> Sequence[QuerySample]: ...


#: What Prometheus prepends to every alert template (rules/alerting.go).
DEFS = ("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
        "{{$externalURL := .ExternalURL}}{{$value := .Value}}")
_MAX_NESTING = 150
_DEF_VARS = ("$labels", "$externalLabels", "$externalURL", "$value")
#: Go's name for the type of the template data (errors print it).
DATA_TYPE = ("struct { Labels map[string]string; ExternalLabels map[string]string; "
             "ExternalURL string; Value float64 }")


# --------------------------------------------------------------------------- conversions

_GO_FLOAT = re.compile(r"[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d*(?:_\d+)*(?:[eE][+-]?\d+)?)\Z")
_GO_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)\Z", re.IGNORECASE)


def go_parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``, with its error messages."""
    bad = FuncError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if _GO_SPECIAL.match(text):
        return float(text.lower().replace("infinity", "inf"))
    body = text.lstrip("+-")
    if body[:2].lower() == "0x":
        if "p" not in body.lower():
            raise bad
        try:
            value = float.fromhex(text.replace("_", ""))
        except (ValueError, OverflowError):
            raise bad from None
    else:
        if not text or not _GO_FLOAT.match(text) or "_" in text \
                or not any(c.isdigit() for c in text):
            raise bad
        value = float(text)
    if math.isinf(value):
        raise FuncError(f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range")
    return value


def convert_to_float(value: Any) -> float:
    """Prometheus's ``convertToFloat``: float64, a numeric string, int (not a byte)."""
    if isinstance(value, float):
        return value
    if isinstance(value, str) and not isinstance(value, HTML):
        return go_parse_float(value)
    if isinstance(value, int) and not isinstance(value, (bool, Uint8)):
        return float(value)
    raise FuncError(f"can't convert {go_type(value)} to float")


def _g4(value: float) -> str:
    """Go's ``%.4g``."""
    return go_sprintf("%.4g", value)


# --------------------------------------------------------------------------- humanize

def humanize(value: Any) -> str:
    """1234567 → "1.235M", 0.0012 → "1.2m" (Prometheus ``humanize``)."""
    v = convert_to_float(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(v) >= 1:
                break
            prefix, v = p, v * 1000
    return _g4(v) + prefix


def humanize1024(value: Any) -> str:
    """1048576 → "1Mi" (Prometheus ``humanize1024``)."""
    v = convert_to_float(value)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return _g4(v) + prefix


def _go_int64(v: float) -> int:
    """Go's ``int64(v)`` on amd64: truncation, and the "indefinite" value out of range."""
    if math.isnan(v) or not -(2.0 ** 63) <= v < 2.0 ** 63:
        return -(2 ** 63)
    return int(v)


def humanize_duration(value: Any) -> str:
    """372 → "6m 12s" (Prometheus ``humanizeDuration``)."""
    v = convert_to_float(value)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        total = _go_int64(v)
        seconds = _go_rem(total, 60)
        minutes = _go_rem(_go_div(total, 60), 60)
        hours = _go_rem(_go_div(_go_div(total, 60), 60), 24)
        days = _go_div(_go_div(_go_div(total, 60), 60), 24)
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{_g4(v)}{prefix}s"


def _go_div(a: int, b: int) -> int:
    """Go's integer division truncates toward zero."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _go_rem(a: int, b: int) -> int:
    return a - _go_div(a, b) * b


def humanize_percentage(value: Any) -> str:
    """0.1234 → "12.34%" (Prometheus ``humanizePercentage``)."""
    return _g4(convert_to_float(value) * 100) + "%"


def _float_to_time(v: float) -> GoTime:
    """Prometheus's ``floatToTime``: to the millisecond (``model.TimeFromUnixNano``)."""
    ns = v * 1e9
    if ns > 2.0 ** 63 - 1 or ns < -(2.0 ** 63):
        raise FuncError(f"{go_v(v)} cannot be represented as a nanoseconds timestamp since "
                        "it overflows int64")
    millis = _go_div(_go_int64(ns), 1_000_000)
    return GoTime(millis * 1_000_000)


def humanize_timestamp(value: Any) -> str:
    """Unix seconds → "2026-11-28 15:41:02.5 +0000 UTC" (Go's ``time.Time`` in UTC)."""
    v = convert_to_float(value)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    return _float_to_time(v).String()


def _to_time(value: Any) -> GoTime:
    v = convert_to_float(value)
    if math.isnan(v) or math.isinf(v):
        raise FuncError("value is NaN or Inf")
    return _float_to_time(v)


_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?"
                       r"(?:(\d+)ms)?\Z")
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def parse_duration(text: str) -> float:
    """Prometheus's ``model.ParseDuration`` in seconds (``1h30m``; no fractions)."""
    if text == "0":
        return 0.0
    if text == "":
        raise FuncError("empty duration string")
    match = _DURATION.match(text)
    if not match or any(c in text for c in "\n"):
        raise FuncError(f"not a valid duration string: {go_quote(text)}")
    total = 0
    for digits, mult in zip(match.groups(), _DURATION_MS):
        if digits is None:
            continue
        n = min(int(digits), 2 ** 63 - 1)
        if n > (2 ** 63 - 1) // mult // 1_000_000 or (total + n * mult) * 1_000_000 >= 2 ** 63:
            raise FuncError("duration out of range")
        total += n * mult
    return total / 1000


# --------------------------------------------------------------------------- strings

_RE2_TO_GO = {"missing )": "missing closing )", "missing ]": "missing closing ]",
              "bad repetition operator": "invalid nested repetition operator",
              "invalid perl operator": "invalid or unsupported Perl syntax",
              "invalid repetition size": "invalid repeat count",
              "trailing \\": "trailing backslash at end of expression",
              "invalid named capture group": "invalid named capture"}


def _go_regex(pattern: str) -> Regex:
    r"""Go's regexp is RE2: so is this (``wardops_common.regex``), linear time and Go's
    syntax (``[[:alpha:]]``, ``\Q...\E``, ``\z``; no look-arounds)."""
    try:
        return compile_re2(pattern)
    except RegexError as exc:
        code, _, arg = exc.reason.partition(": ")
        raise FuncError(f"error parsing regexp: {_RE2_TO_GO.get(code, code)}: "
                        f"`{arg or pattern}`") from None


def _backquote(text: str) -> str:
    """Go's regexp ``quote``: backquoted when it can be, else ``strconv.Quote``."""
    if "`" not in text and all(c == "\t" or (c.isprintable() and c != "\ufeff")
                               for c in text):
        return f"`{text}`"
    return go_quote(text)


_GO_EXPAND = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Go ``regexp.MustCompile(pattern).ReplaceAllString``: ``$1``/``${name}`` expand,
    ``$$`` is a dollar; a bad pattern panics as MustCompile does."""
    try:
        regex = _go_regex(pattern)
    except FuncError as exc:
        raise FuncError(f"regexp: Compile({_backquote(pattern)}): {exc}") from None

    def expand(match: Match) -> str:
        def group(ref: re.Match[str]) -> str:
            if ref.group(1) == "$":
                return "$"
            name = ref.group(2) or ref.group(3)
            try:
                return match.group(int(name) if name.isdigit() else name) or ""
            except (IndexError, KeyError):  # Go expands an unknown group to nothing
                return ""
        return _GO_EXPAND.sub(group, replacement)

    return regex.sub(expand, text)


def _simple_case(ch: str, full: str) -> str:
    """Go maps case one rune at a time (Unicode's simple mapping): 'ß' stays 'ß' where
    Python's full mapping gives 'SS'."""
    if len(full) == 1:
        return full
    if ch == "\u0130":  # İ lowercases to i (the full mapping adds a combining dot)
        return "i"
    title = ch.title()
    return title if len(title) == 1 and full.startswith(title[:1].upper()) and title != ch \
        else ch


def go_upper(text: str) -> str:
    """Go's ``strings.ToUpper``."""
    return "".join(_simple_case(c, c.upper()) for c in text)


def go_lower(text: str) -> str:
    """Go's ``strings.ToLower``."""
    return "".join(_simple_case(c, c.lower()) for c in text)


def _separator(ch: str) -> bool:
    if ch < "\x80":
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit() or ch.isnumeric():
        return False
    return ch.isspace()


def go_title(text: str) -> str:
    """Go's ``strings.Title``: the first letter of each word in title case (words are
    separated by anything but letters, digits and underscores)."""
    out: list[str] = []
    prev = " "
    for ch in text:
        if _separator(prev):
            title = ch.title()
            out.append(title if len(title) == 1 else ch)
        else:
            out.append(ch)
        prev = ch
    return "".join(out)


def split_host_port(hostport: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; ``ValueError`` where Go returns an error."""
    i = hostport.rfind(":")
    if i < 0:
        raise ValueError("missing port in address")
    j = k = 0
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError("missing ']' in address")
        if end + 1 == len(hostport):
            raise ValueError("missing port in address")
        if end + 1 != i:
            raise ValueError("too many colons in address" if hostport[end + 1] == ":"
                             else "missing port in address")
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            raise ValueError("too many colons in address")
    if "[" in hostport[j:]:
        raise ValueError("unexpected '[' in address")
    if "]" in hostport[k:]:
        raise ValueError("unexpected ']' in address")
    return host, hostport[i + 1:]


def _strip_port(hostport: str) -> str:
    try:
        return split_host_port(hostport)[0]
    except ValueError:
        return hostport


def _is_ip(host: str) -> bool:
    if "%" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _strip_domain(hostport: str) -> str:
    try:
        host, port = split_host_port(hostport)
    except ValueError:
        host, port = hostport, ""
    if _is_ip(host):
        return hostport
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def _link(expr: str, tab: int) -> str:
    return f"/graph?g0.expr={urllib.parse.quote_plus(expr, safe='')}&g0.tab={tab}"


# --------------------------------------------------------------------------- query results

def _first(result: Sequence[Sample] | None) -> Sample:
    if result:
        return result[0]
    raise FuncError("first() called on vector with no elements")


_NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"


def _sample(sample: Sample | None) -> Sample:
    if sample is None:
        raise FuncError(_NIL_DEREF)
    return sample


def _sort_by_label(label: str, result: QueryResult | None) -> QueryResult | None:
    if result:
        result.sort(key=lambda s: s.Labels.get(label, "").encode())
    return result


def _args(*values: Any) -> AnyMap:
    return AnyMap({f"arg{i}": v for i, v in enumerate(values)})


#: Prometheus's template functions that do not depend on the evaluation (Go's builtins
#: come from ``alerter.gotmpl.exec``; ``query``, ``externalURL`` and ``pathPrefix`` are
#: bound per expansion).
FUNCTIONS: dict[str, Func] = {
    "first": Func(_first, ("template.queryResult",)),
    "label": Func(lambda label, s: _sample(s).Labels.get(label, ""),
                  ("string", "*template.sample")),
    "value": Func(lambda s: _sample(s).Value, ("*template.sample",)),
    "strvalue": Func(lambda s: _sample(s).Labels.get("__value__", ""),
                     ("*template.sample",)),
    "args": Func(_args, (), "any"),
    "reReplaceAll": Func(re_replace_all, ("string", "string", "string")),
    "safeHtml": Func(HTML, ("string",)),
    "match": Func(lambda pattern, text: _go_regex(pattern).search(text) is not None,
                  ("string", "string")),
    "title": Func(go_title, ("string",)),
    "toUpper": Func(go_upper, ("string",)),
    "toLower": Func(go_lower, ("string",)),
    "graphLink": Func(lambda expr: _link(expr, 0), ("string",)),
    "tableLink": Func(lambda expr: _link(expr, 1), ("string",)),
    "sortByLabel": Func(_sort_by_label, ("string", "template.queryResult")),
    "stripPort": Func(_strip_port, ("string",)),
    "stripDomain": Func(_strip_domain, ("string",)),
    "humanize": Func(humanize, ("any",)),
    "humanize1024": Func(humanize1024, ("any",)),
    "humanizeDuration": Func(humanize_duration, ("any",)),
    "humanizePercentage": Func(humanize_percentage, ("any",)),
    "humanizeTimestamp": Func(humanize_timestamp, ("any",)),
    "toTime": Func(_to_time, ("any",)),
    "parseDuration": Func(parse_duration, ("string",)),
    # bound per expansion; these entries make the parser know the names
    "query": Func(lambda q: QueryResult(), ("string",), pure=False),
    "pathPrefix": Func(lambda: ""),
    "externalURL": Func(lambda: ""),
}

_ALL: dict[str, Func] = {**BUILTINS, **FUNCTIONS}


def _no_query(expr: str, at: float) -> Sequence[QuerySample]:
    raise RuntimeError("no data source for query in this template")


# --------------------------------------------------------------------------- templates

class Template:
    """One parsed alert template; ``expand`` fills it in for one alert."""

    __slots__ = ("_bound", "_static", "_trees", "name", "text")

    def __init__(self, text: str, name: str = "__alert_") -> None:
        self.text = text
        self.name = name
        self._trees: dict[str, gparse.Tree] = {}
        # text without actions renders to itself: no work per alert
        self._static = text if "{{" not in text else None
        self._bound = any(name in text for name in ("query", "externalURL", "pathPrefix"))
        try:
            self._trees = gparse.parse(name, DEFS + text, _ALL)
        except gparse.ParseError as exc:
            raise TemplateError(str(exc)) from None
        except RecursionError:  # Go's parser has no depth limit; Python's stack has one
            raise TemplateError(f"template: {name}: nested too deeply for wardops "
                                f"(more than about {_MAX_NESTING} levels)") from None
        # The four DEFS actions only declare variables: expand declares them directly
        # (positions in error messages still count them, as Prometheus's do).
        root = self._trees[name].root
        root.nodes = root.nodes[len(_DEF_VARS):]

    def render(self, labels: Mapping[str, str], value: float,
               external_labels: Mapping[str, str] | None = None, external_url: str = "",
               ) -> str:
        """Expanded text, or the error marker (see ``expand``)."""
        return self.expand(labels, value, external_labels, external_url)[0]

    def expand(self, labels: Mapping[str, str], value: float,
               external_labels: Mapping[str, str] | None = None, external_url: str = "",
               *, query: QueryFunc | None = None, at: float = 0.0,
               ) -> tuple[str, str | None]:
        """Return (text, error). On failure text is Prometheus's marker
        ``<error expanding template: error executing template NAME: ...>``; ``query``
        answers the template function ``query`` at time ``at``."""
        if self._static is not None:
            return self._static, None
        data = Struct(DATA_TYPE, {"Labels": labels, "ExternalLabels": external_labels or {},
                                  "ExternalURL": external_url, "Value": float(value)})
        funcs = _ALL
        if self._bound:  # functions bound to this evaluation, only where a template uses one
            funcs = dict(_ALL)
            run_query = query or _no_query

            def do_query(expr: str) -> QueryResult:
                try:
                    found = run_query(expr, at)
                except Exception as exc:  # any failure of the data source is the error
                    raise FuncError(str(exc)) from None
                return QueryResult(Sample(s.labels, s.value) for s in found)

            funcs["query"] = Func(do_query, ("string",), pure=False)
            funcs["externalURL"] = Func(lambda: external_url)
            funcs["pathPrefix"] = Func(lambda: urllib.parse.urlsplit(external_url).path)
        try:
            variables = (("$labels", labels), ("$externalLabels", data.fields["ExternalLabels"]),
                         ("$externalURL", external_url), ("$value", data.fields["Value"]))
            return execute(self._trees, self.name, data, funcs, variables), None
        except ExecError as exc:
            error = f"error executing template {self.name}: {exc}"
            return f"<error expanding template: {error}>", error


@lru_cache(maxsize=4096)
def compile_template(text: str, name: str = "__alert_") -> Template:
    """Parse ``text`` once (cached) as the template ``name`` (``__alert_`` + the rule's
    name, as Prometheus names it); raises ``TemplateError`` with Go's parse error."""
    return Template(text, name)

