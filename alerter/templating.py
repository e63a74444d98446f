"""Prometheus alert templates: the Go text/template subset people write in rule files.

Supported: ``{{ $labels.x }}``, ``{{ $value }}``, ``{{ $externalLabels.x }}``,
``{{ $externalURL }}``, ``{{ .Labels.x }}``, ``{{ .Value }}``, pipelines
(``{{ $value | humanize }}``), parentheses, ``{{ $x := ... }}``, ``if``/``else if``/``else``/
``with``/``end``, trim markers ``{{-``/``-}}``, comments, and the functions in ``FUNCTIONS``
(Prometheus's humanize*, printf, toUpper, toLower, title, reReplaceAll, match, ... and
Go's eq/ne/lt/le/gt/ge/and/or/not/len/index/print).

A template is parsed once (``compile_template`` caches by text); parse errors raise
``TemplateError`` (reported by ``check-config`` and at load). ``Template.expand`` never
raises: a failing expansion returns Prometheus's marker ``<error expanding template: ...>``
together with the error, so the caller can count it.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from wardops_common.durations import parse_duration
from wardops_common.regex import Match, Regex, RegexError, compile_re2


class TemplateError(ValueError):
    """A template that cannot be parsed or expanded."""


# --------------------------------------------------------------------------- Go formatting

def go_float(value: float) -> str:
    """Format a float like Go's ``%v`` (shortest repr, exponent from 1e+06 or below 1e-04)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    text = repr(float(value))
    mantissa, _, exp_text = text.lower().partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    int_part, _, frac_part = mantissa.partition(".")
    if frac_part == "0":
        frac_part = ""
    digits = (int_part + frac_part).lstrip("0")
    # decimal exponent of the first significant digit
    if int_part.strip("0"):
        exp10 = len(int_part.lstrip("0")) - 1
    else:
        exp10 = -(len(frac_part) - len(frac_part.lstrip("0")) + 1)
    exp10 += int(exp_text or 0)
    digits = digits.rstrip("0") or "0"
    if exp10 < -4 or exp10 >= 6:  # Go: shortest %g switches to %e at these exponents
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 >= 0:
        whole = digits[: exp10 + 1].ljust(exp10 + 1, "0")
        frac = digits[exp10 + 1:]
    else:
        whole = "0"
        frac = "0" * (-exp10 - 1) + digits
    return sign + whole + ("." + frac if frac else "")


def go_str(value: Any) -> str:
    """Print a template value the way Go's text/template prints it."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def _g4(value: float) -> str:
    """Go's ``%.4g``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(value, ".4g")


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TemplateError(f"can't convert {go_str(value)} to float")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise TemplateError(f'strconv.ParseFloat: parsing "{value}": invalid syntax') from None
    raise TemplateError(f"can't convert {go_str(value)} to float")


def humanize(value: Any) -> str:
    """1234567 → "1.235M", 0.0012 → "1.2m" (Prometheus ``humanize``)."""
    v = _to_float(value)
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
    v = _to_float(value)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return _g4(v) + prefix


def humanize_duration(value: Any) -> str:
    """372 → "6m 12s" (Prometheus ``humanizeDuration``)."""
    v = _to_float(value)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return "0s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        total = int(v)
        seconds, minutes = total % 60, (total // 60) % 60
        hours, days = (total // 3600) % 24, total // 86400
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


def humanize_percentage(value: Any) -> str:
    """0.1234 → "12.34%" (Prometheus ``humanizePercentage``)."""
    return _g4(_to_float(value) * 100) + "%"


def humanize_timestamp(value: Any) -> str:
    """Unix seconds → "2026-11-28 15:41:02.5 +0000 UTC" (Go's time.Time String, UTC, ms)."""
    v = _to_float(value)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    millis = int(v * 1000)
    secs, ms = divmod(millis, 1000)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs))
    if ms:
        text += "." + f"{ms:03d}".rstrip("0")
    return text + " +0000 UTC"


def _go_regex(pattern: str) -> Regex:
    r"""Go's regexp is RE2: so is this (``wardops_common.regex``), linear time and Go's
    syntax (``\z``, ``(?P<x>)``; no look-arounds)."""
    try:
        return compile_re2(pattern)
    except RegexError as exc:  # worded as Go's regexp words it
        reason = exc.reason.removesuffix(f": {pattern}")
        raise TemplateError(f"error parsing regexp: {reason}: `{pattern}`") from None


_GO_EXPAND = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


def re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Go ``regexp.ReplaceAllString``: ``$1``/``${name}`` expand, ``$$`` is a dollar."""
    regex = _go_regex(str(pattern))

    def expand(match: Match) -> str:
        def group(ref: re.Match[str]) -> str:
            if ref.group(1) == "$":
                return "$"
            name = ref.group(2) or ref.group(3)
            try:
                return match.group(int(name) if name.isdigit() else name) or ""
            except IndexError:  # Go expands an unknown group to nothing
                return ""
        return _GO_EXPAND.sub(group, str(replacement))

    return regex.sub(expand, str(text))


def _printf(fmt: str, *args: Any) -> str:
    """Go ``printf`` for the verbs templates use: %s %v %d %f %g %e %x %q %t %% with flags."""
    out: list[str] = []
    arg_iter = iter(args)
    pos = 0
    for match in re.finditer(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])", fmt):
        out.append(fmt[pos:match.start()])
        pos = match.end()
        flags, width, prec, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        try:
            arg = next(arg_iter)
        except StopIteration:
            out.append(f"%!{verb}(MISSING)")
            continue
        spec = "%" + flags + (width or "") + (f".{prec}" if prec is not None else "")
        if verb in ("v", "s"):
            text = go_str(arg)
            if prec is not None:
                text = text[: int(prec)]
            out.append(("%" + flags + (width or "") + "s") % text)
        elif verb == "q":
            out.append(json.dumps(go_str(arg), ensure_ascii=False))
        elif verb == "t":
            out.append(go_str(bool(arg)))
        elif verb == "d":
            out.append((spec + "d") % int(_to_float(arg)))
        elif verb in "feEgGxXo":
            if verb in "xXo" and not isinstance(arg, float):
                out.append((spec + verb) % int(_to_float(arg)))
            elif verb in "xXo":
                out.append(f"%!{verb}(float64={go_float(arg)})")
            else:
                out.append((spec + verb) % _to_float(arg))
        else:
            out.append(f"%!{verb}({go_str(arg)})")
    out.append(fmt[pos:])
    extra = list(arg_iter)
    if extra:
        out.append("%!(EXTRA " + ", ".join(go_str(a) for a in extra) + ")")
    return "".join(out)


def _compare(op: str) -> Callable[..., bool]:
    def compare(a: Any, *others: Any) -> bool:
        for b in others if op == "eq" else others[:1]:
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) \
                    and not isinstance(a, bool) and not isinstance(b, bool):
                x, y = float(a), float(b)
            elif type(a) is type(b) or (isinstance(a, str) and isinstance(b, str)):
                x, y = a, b
            else:
                raise TemplateError("incompatible types for comparison: "
                                    f"{go_str(a)} and {go_str(b)}")
            if op == "eq":
                if x == y:
                    return True
                continue
            return {"ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y}[op]
        return False
    return compare


def _truth(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (str, Mapping, list, tuple)):
        return len(value) > 0
    return True


def _index(collection: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(collection, Mapping):
            collection = collection.get(key, "")
        elif isinstance(collection, (list, tuple, str)):
            collection = collection[int(key)]
        else:
            raise TemplateError(f"can't index item of type {type(collection).__name__}")
    return collection


def _strip_port(hostport: str) -> str:
    if hostport.startswith("["):
        end = hostport.find("]")
        return hostport[1:end] if end > 0 else hostport
    host, sep, _port = hostport.rpartition(":")
    return host if sep and ":" not in host else hostport


def _title(text: str) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), str(text))


#: Functions known to templates. Unknown names (Prometheus's ``query``, ``first``, ...) are
#: parse errors, so ``check-config`` reports them before they reach a notification.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": humanize_percentage,
    "humanizeTimestamp": humanize_timestamp,
    "printf": _printf,
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "toUpper": lambda s: str(s).upper(),
    "toLower": lambda s: str(s).lower(),
    "title": _title,
    "reReplaceAll": re_replace_all,
    "match": lambda pattern, text: _go_regex(str(pattern)).search(str(text)) is not None,
    "stripPort": _strip_port,
    "parseDuration": lambda s: parse_duration(str(s)),
    "safeHtml": str,
    "eq": _compare("eq"), "ne": _compare("ne"), "lt": _compare("lt"),
    "le": _compare("le"), "gt": _compare("gt"), "ge": _compare("ge"),
    "not": lambda v: not _truth(v),
    "len": lambda v: len(v),
    "index": _index,
    "urlquery": lambda *a: urllib.parse.quote_plus("".join(go_str(x) for x in a)),
}


# --------------------------------------------------------------------------- parsing

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
    | (?P<var>\$\w*(?:\.\w+)*)
    | (?P<field>(?:\.\w+)+|\.)
    | (?P<ident>[A-Za-z_]\w*(?:\.\w+)*)
    | (?P<op>:=|=|\||\(|\))
    )""", re.VERBOSE)


@dataclass
class _Tok:
    kind: str
    text: str


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    source = source.rstrip()
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"unexpected {source[pos:].strip()[:20]!r} in command")
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind)))
        pos = match.end()
        while pos < len(source) and source[pos].isspace():
            pos += 1
    return tokens


# Node shapes (tuples keep rendering fast):
#   ("text", str)  ("action", pipeline)  ("if"|"with", pipeline, then_nodes, else_nodes)
# pipeline = (assign_var | None, [command]); command = [operand]
# operand = ("lit", value) | ("var", name, fields) | ("field", fields) | ("fn", name)
#         | ("pipe", pipeline)

_KEYWORDS = {"if", "else", "end", "with", "range", "define", "template", "block", "break",
             "continue"}


class _Parser:
    def __init__(self, tokens: list[_Tok], variables: set[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.variables = variables

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pipeline(self, stop: str | None = None) -> tuple[str | None, list[list[tuple[Any, ...]]]]:
        assign: str | None = None
        if len(self.tokens) > self.pos + 1 and self.tokens[self.pos].kind == "var" \
                and self.tokens[self.pos + 1].text in (":=", "="):
            name = self.tokens[self.pos].text[1:]
            if "." in name:
                raise TemplateError(f"cannot assign to {self.tokens[self.pos].text}")
            op = self.tokens[self.pos + 1].text
            if op == "=" and name not in self.variables:
                raise TemplateError(f"undefined variable: ${name}")
            self.variables.add(name)
            assign = name
            self.pos += 2
        commands: list[list[tuple[Any, ...]]] = []
        command: list[tuple[Any, ...]] = []
        while True:
            tok = self.peek()
            if tok is None or (stop and tok.text == stop):
                break
            self.pos += 1
            if tok.text == "|":
                if not command:
                    raise TemplateError("missing command before '|'")
                commands.append(command)
                command = []
            elif tok.text == "(":
                command.append(("pipe", self.pipeline(stop=")")))
                closing = self.peek()
                if closing is None or closing.text != ")":
                    raise TemplateError("unclosed left paren")
                self.pos += 1
            elif tok.text == ")":
                raise TemplateError("unexpected right paren")
            else:
                command.append(self.operand(tok, first=not command))
        if not command:
            raise TemplateError("missing value for command")
        commands.append(command)
        for later in commands[1:]:
            if later[0][0] != "fn":
                raise TemplateError("non executable command in pipeline stage")
        return assign, commands

    def operand(self, tok: _Tok, first: bool) -> tuple[Any, ...]:
        if tok.kind == "str":
            try:
                return ("lit", json.loads(tok.text))
            except json.JSONDecodeError:
                return ("lit", tok.text[1:-1].encode().decode("unicode_escape"))
        if tok.kind == "raw":
            return ("lit", tok.text[1:-1])
        if tok.kind == "num":
            number = float(tok.text)
            return ("lit", int(number) if re.fullmatch(r"-?\d+", tok.text) else number)
        if tok.kind == "var":
            name, *fields = tok.text[1:].split(".")
            if name not in self.variables:
                raise TemplateError(f"undefined variable: ${name}")
            return ("var", name, tuple(fields))
        if tok.kind == "field":
            return ("field", tuple(f for f in tok.text.split(".") if f))
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return ("lit", tok.text == "true")
            if tok.text == "nil":
                return ("lit", None)
            if tok.text in ("and", "or"):
                return ("fn", tok.text)
            if tok.text in _KEYWORDS:
                raise TemplateError(f"unexpected {tok.text!r} in operand")
            if tok.text not in FUNCTIONS:
                raise TemplateError(f'function "{tok.text}" not defined')
            return ("fn", tok.text)
        raise TemplateError(f"unexpected {tok.text!r} in operand")


def _parse(text: str) -> list[tuple[Any, ...]]:
    variables = {"labels", "value", "externalLabels", "externalURL", ""}
    root: list[tuple[Any, ...]] = []
    # stack of (kind, pipeline, then_nodes, else_nodes, in_else); kind "root" at the bottom
    stack: list[list[Any]] = [["root", None, root, [], False]]

    def current() -> list[tuple[Any, ...]]:
        frame = stack[-1]
        return frame[3] if frame[4] else frame[2]

    pos = 0
    pending_trim = False
    for match in _ACTION.finditer(text):
        chunk = text[pos:match.start()]
        if pending_trim:
            chunk = chunk.lstrip()
        if match.group(1):
            chunk = chunk.rstrip()
        if chunk:
            current().append(("text", chunk))
        pos = match.end()
        pending_trim = bool(match.group(3))
        body = match.group(2).strip()
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError("unclosed comment")
            continue
        tokens = _tokenize(body)
        if not tokens:
            raise TemplateError("missing value for command")
        head = tokens[0].text if tokens[0].kind == "ident" else ""
        if head in ("if", "with"):
            pipeline = _Parser(tokens[1:], variables).pipeline()
            node: list[Any] = [head, pipeline, [], [], False]
            current().append(("block", node))
            stack.append(node)
        elif head == "else":
            frame = stack[-1]
            if frame[0] not in ("if", "with") or frame[4]:
                raise TemplateError("unexpected {{else}}")
            frame[4] = True
            if len(tokens) > 1:
                if tokens[1].text not in ("if", "with"):
                    raise TemplateError(f"unexpected {tokens[1].text!r} after else")
                pipeline = _Parser(tokens[2:], variables).pipeline()
                nested: list[Any] = [tokens[1].text, pipeline, [], [], False, "chained"]
                frame[3].append(("block", nested))
                stack.append(nested)
        elif head == "end":
            if len(tokens) > 1:
                raise TemplateError("unexpected tokens after end")
            if stack[-1][0] == "root":
                raise TemplateError("unexpected {{end}}")
            # an "else if" chain closes with a single end
            while len(stack[-1]) > 5 and stack[-1][5] == "chained":
                stack.pop()
            stack.pop()
        elif head in _KEYWORDS:
            raise TemplateError(f"{{{{{head}}}}} is not supported by wardops templates")
        else:
            current().append(("action", _Parser(tokens, variables).pipeline()))
    rest = text[pos:]
    if "{{" in rest:
        raise TemplateError("unclosed action")
    if pending_trim:
        rest = rest.lstrip()
    if rest:
        current().append(("text", rest))
    if len(stack) > 1:
        raise TemplateError(f"unexpected EOF: {{{{{stack[-1][0]}}}}} without {{{{end}}}}")
    return root


# --------------------------------------------------------------------------- execution

class _Scope:
    __slots__ = ("vars",)

    def __init__(self, variables: dict[str, Any]) -> None:
        self.vars = variables


def _field(value: Any, fields: tuple[str, ...]) -> Any:
    for name in fields:
        if isinstance(value, _Dot):
            if name not in value:
                raise TemplateError(f"can't evaluate field {name} in type *template.tmplData")
            value = value[name]
        elif isinstance(value, Mapping):
            value = value.get(name, "")  # missingkey=zero, as Prometheus sets it
        else:
            raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    return value


class _Dot(dict):
    """The template's dot: Labels, ExternalLabels, ExternalURL, Value."""


def _run_pipeline(pipeline: tuple[str | None, list[list[tuple[Any, ...]]]], dot: Any,
                  scope: _Scope) -> Any:
    assign, commands = pipeline
    result: Any = _MISSING
    for command in commands:
        result = _run_command(command, dot, scope, result)
    if assign is not None:
        scope.vars[assign] = result
    return result


_MISSING = object()


def _operand(op: tuple[Any, ...], dot: Any, scope: _Scope) -> Any:
    kind = op[0]
    if kind == "lit":
        return op[1]
    if kind == "var":
        base = dot if op[1] == "" else scope.vars[op[1]]
        return _field(base, op[2])
    if kind == "field":
        return _field(dot, op[1])
    if kind == "pipe":
        return _run_pipeline(op[1], dot, scope)
    raise TemplateError(f"can't give argument to non-function {op[1]}")


def _run_command(command: list[tuple[Any, ...]], dot: Any, scope: _Scope, piped: Any) -> Any:
    head = command[0]
    if head[0] != "fn":
        if len(command) > 1 or piped is not _MISSING:
            raise TemplateError("can't give argument to non-function")
        return _operand(head, dot, scope)
    name = head[1]
    if name in ("and", "or"):
        # evaluated lazily: Go's and/or stop at the first deciding argument
        args: list[Callable[[], Any]] = [
            (lambda o=o: _operand(o, dot, scope)) for o in command[1:]]  # type: ignore[misc]
        if piped is not _MISSING:
            args.append(lambda: piped)
        if not args:
            raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = None
        for get in args:
            value = get()
            if _truth(value) != (name == "and"):
                return value
        return value
    args = [_operand(o, dot, scope) for o in command[1:]]
    if piped is not _MISSING:
        args.append(piped)
    try:
        return FUNCTIONS[name](*args)
    except TemplateError as exc:
        raise TemplateError(f"error calling {name}: {exc}") from None
    except RecursionError:
        raise
    except Exception as exc:  # every function is total: any failure
        # (OSError from a timestamp beyond the platform's range, OverflowError, ...)
        # becomes the template's error marker, never an exception in the evaluator
        raise TemplateError(f"error calling {name}: {exc}") from None


def _render(nodes: list[tuple[Any, ...]], dot: Any, scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "action":
            value = _run_pipeline(node[1], dot, scope)
            if node[1][0] is None:
                out.append(go_str(value))
        else:
            block = node[1]
            value = _run_pipeline(block[1], dot, scope)
            if _truth(value):
                _render(block[2], value if block[0] == "with" else dot, scope, out)
            else:
                _render(block[3], dot, scope, out)


class Template:
    """One parsed template; ``expand`` fills it in for one alert."""

    __slots__ = ("_nodes", "_static", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._nodes = _parse(text) if "{{" in text else [("text", text)]
        # text without actions (or only comments) renders to itself: no work per alert
        self._static = ("".join(n[1] for n in self._nodes)
                        if all(n[0] == "text" for n in self._nodes) else None)

    def render(self, labels: Mapping[str, str], value: float,
               external_labels: Mapping[str, str] | None = None, external_url: str = "") -> str:
        """Expanded text, or the error marker (see ``expand``)."""
        return self.expand(labels, value, external_labels, external_url)[0]

    def expand(self, labels: Mapping[str, str], value: float,
               external_labels: Mapping[str, str] | None = None, external_url: str = "",
               ) -> tuple[str, str | None]:
        """Return (text, error). On failure text is ``<error expanding template: ...>``."""
        if self._static is not None:
            return self._static, None
        ext = external_labels or {}
        dot = _Dot(Labels=labels, ExternalLabels=ext, ExternalURL=external_url, Value=value)
        scope = _Scope({"labels": labels, "value": value, "externalLabels": ext,
                        "externalURL": external_url, "": dot})
        out: list[str] = []
        try:
            _render(self._nodes, dot, scope, out)
        except (TemplateError, RecursionError) as exc:
            return f"<error expanding template: {exc}>", str(exc)
        return "".join(out), None


@lru_cache(maxsize=4096)
def compile_template(text: str) -> Template:
    """Parse ``text`` once (cached); raises ``TemplateError`` with the parse problem."""
    return Template(text)
