"""A rule's expression as Prometheus prints it (``expr.String()``, Prometheus 2.42).

Prometheus does not link an alert to the rule's text as written: ``generatorURL`` is
``<external_url>/graph?g0.expr=<url-escaped expr.String()>&g0.tab=1`` and the rules API's
``query`` is the same ``String()``, its parser's AST printed back
(``promql/parser/printer.go``): matchers sorted, ``sum(x) by (a)`` as ``sum by (a) (x)``,
durations normalised (``90m`` -> ``1h30m``), numbers and strings as Go prints them.
``prometheus_string`` parses with promql-parser (a Rust port of Prometheus's parser; see
docs/dependencies.md) and prints its AST with Prometheus's rules. promql-parser's own
printing is not Prometheus's (``x{}[5m]``, ``sum by (a)(x)``), so it is not used.

Where promql-parser cannot represent an expression as Prometheus 2.42 parsed it (a unary
``+``, which it drops; ``offset 0s``; an ``@`` before 1970), ``prometheus_string`` raises
``ValueError`` and callers keep the rule's text.
"""

from __future__ import annotations

import functools
import logging
import re
from datetime import timedelta

import promql_parser as pp

from alerter.gotmpl.values import go_float, go_quote

log = logging.getLogger("alerter.promql_print")

#: model.Duration's units, largest first: (unit, milliseconds, only when exact)
_UNITS = (("y", 365 * 86_400_000, True), ("w", 7 * 86_400_000, True),
          ("d", 86_400_000, False), ("h", 3_600_000, False), ("m", 60_000, False),
          ("s", 1000, False), ("ms", 1, False))
_NEGATIVE_AT = re.compile(r"@\s*-")
# (the enum's members are not hashable: a list, not a dict)
_MATCH_OPS = [(pp.MatchOp.Equal, "="), (pp.MatchOp.NotEqual, "!="), (pp.MatchOp.Re, "=~"),
              (pp.MatchOp.NotRe, "!~")]


@functools.lru_cache(maxsize=4096)
def prometheus_string(expr: str) -> str:
    """``expr`` as Prometheus 2.42's ``String()`` prints it; ``ValueError`` when it cannot
    be printed exactly (see the module's docstring)."""
    if "+" in expr and _has_unary_plus(expr):
        raise ValueError("a unary '+' (Prometheus keeps it, promql-parser drops it)")
    if _NEGATIVE_AT.search(expr):  # promql-parser panics on it (a Rust message on stderr)
        raise ValueError("an @ before 1970")
    try:
        return _print(pp.parse(_unbackquote(expr) if "`" in expr else expr))
    except BaseException as exc:  # pyo3 panics derive from BaseException
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise ValueError(f"promql-parser: {exc}") from None


def _unbackquote(expr: str) -> str:
    """Backquoted (raw) strings as double-quoted ones of the same value: promql-parser
    refuses a backslash in a raw string, which Prometheus reads as written."""
    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "\"'":
            end = i + 1
            while end < n and expr[end] != ch:
                end += 2 if expr[end] == "\\" else 1
            out.append(expr[i:end + 1])
            i = end + 1
        elif ch == "`":
            end = expr.find("`", i + 1)
            if end < 0:
                raise ValueError("unterminated raw string")
            out.append(go_quote(expr[i + 1:end]))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _has_unary_plus(expr: str) -> bool:
    """A ``+`` where an operand starts (after an operator, ``(``, ``,`` or at the start),
    outside strings: Prometheus keeps such a ``+``, promql-parser drops it."""
    prev = ""
    quote = ""
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 1
            elif ch == quote:
                quote, prev = "", "x"
        elif ch in "\"'`":
            quote = ch
        elif ch == "+" and (prev == "" or prev in "(,+-*/%^=<>!~[{"):
            return True
        elif not ch.isspace():
            prev = ch
        i += 1
    return False


def model_duration(delta: timedelta) -> str:
    """prometheus/common ``model.Duration.String()``: ``1h30m``, ``90d`` (years and weeks
    only when exact), ``0s``."""
    ms = round(delta / timedelta(milliseconds=1))
    if ms == 0:
        return "0s"
    out = []
    for unit, mult, exact in _UNITS:
        if exact and ms % mult:
            continue
        if ms >= mult:
            out.append(f"{ms // mult}{unit}")
            ms %= mult
    return "".join(out)


def _offset(offset: timedelta | None) -> str:
    if not offset:
        return ""
    if offset < timedelta(0):
        return f" offset -{model_duration(-offset)}"
    return f" offset {model_duration(offset)}"


def _at(at: pp.AtModifier | None) -> str:
    if at is None:
        return ""
    if at.type == pp.AtModifierType.Start:
        return " @ start()"
    if at.type == pp.AtModifierType.End:
        return " @ end()"
    when = at.at  # (before 1970 it panics: refused before parsing)
    assert when is not None
    return f" @ {when.timestamp():.3f}"


def _match_op(op: pp.MatchOp) -> str:
    return next(text for member, text in _MATCH_OPS if member == op)


def _selector(node: pp.VectorSelector) -> str:
    """The selector without its ``@`` and offset (printed after a range)."""
    matchers = sorted(f"{m.name}{_match_op(m.op)}{go_quote(m.value)}"
                      for m in node.matchers.matchers)
    if node.matchers.or_matchers:
        raise ValueError("'or' in a selector is newer than Prometheus 2.42")
    name = node.name or ""
    return f"{name}{{{','.join(matchers)}}}" if matchers else name


def _labels(labels: list[str]) -> str:
    return ", ".join(labels)


def _binary(node: pp.BinaryExpr) -> str:
    mod = node.modifier
    text = f"{_print(node.lhs)} {node.op}"
    if mod is not None:
        if mod.return_bool:
            text += " bool"
        matching = mod.matching
        on = matching is not None and matching.type == pp.LabelModifierType.Include
        if matching is not None and (matching.labels or on):
            text += f" {'on' if on else 'ignoring'} ({_labels(matching.labels)})"
            if mod.card in (pp.VectorMatchCardinality.ManyToOne,
                            pp.VectorMatchCardinality.OneToMany):
                side = "left" if mod.card == pp.VectorMatchCardinality.ManyToOne else "right"
                text += f" group_{side} ({_labels(mod.group_labels or [])})"
    return f"{text} {_print(node.rhs)}"


def _print(node: pp.Expr) -> str:
    """printer.go's ``String()`` of one node."""
    if isinstance(node, pp.AggregateExpr):
        text = str(node.op)
        mod = node.modifier
        if mod is not None and mod.type == pp.AggModifierType.Without:
            text += f" without ({_labels(mod.labels)}) "
        elif mod is not None and mod.labels:
            text += f" by ({_labels(mod.labels)}) "
        param = f"{_print(node.param)}, " if node.param is not None else ""
        return f"{text}({param}{_print(node.expr)})"
    if isinstance(node, pp.BinaryExpr):
        return _binary(node)
    if isinstance(node, pp.Call):
        return f"{node.func.name}({', '.join(_print(a) for a in node.args)})"
    if isinstance(node, pp.MatrixSelector):
        vs = node.vector_selector
        return (f"{_selector(vs)}[{model_duration(node.range)}]{_at(vs.at)}"
                f"{_offset(vs.offset)}")
    if isinstance(node, pp.SubqueryExpr):
        step = model_duration(node.step) if node.step else ""
        assert node.range is not None
        return (f"{_print(node.expr)}[{model_duration(node.range)}:{step}]{_at(node.at)}"
                f"{_offset(node.offset)}")
    if isinstance(node, pp.NumberLiteral):
        return go_float(node.val)
    if isinstance(node, pp.ParenExpr):
        return f"({_print(node.expr)})"
    if isinstance(node, pp.StringLiteral):
        return go_quote(node.val)
    if isinstance(node, pp.UnaryExpr):
        return f"-{_print(node.expr)}"
    if isinstance(node, pp.VectorSelector):
        return f"{_selector(node)}{_at(node.at)}{_offset(node.offset)}"
    raise ValueError(f"unknown PromQL node {type(node).__name__}")


@functools.lru_cache(maxsize=4096)
def rule_query(expr: str) -> str:
    """What Prometheus shows for a rule's expression: ``prometheus_string``, or the rule's
    text where that cannot be printed exactly (logged once per expression: the rules API
    and generatorURL then differ from Prometheus's for that rule)."""
    try:
        return prometheus_string(expr)
    except ValueError as exc:
        log.info("rule expression shown as written, not as Prometheus prints it",
                 extra={"expr": expr, "reason": str(exc)})
        return expr
