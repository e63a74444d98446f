"""PromQL validation of rule expressions at load time (check-config, start-up, reload).

The real parser is Prometheus's own: every ``expr`` is written into a throw-away rule
file (one rule per expression, nothing else, so template or lint differences cannot
interfere) and checked with ``promtool check rules`` (Debian package ``prometheus``).
Asking the data source to parse (``/api/v1/parse_query``) needs Prometheus >= 2.45 and
a reachable server at load time, so it is not used. Without promtool on ``PATH`` a
light syntax check runs instead (non-empty, balanced brackets and quotes, no trailing
binary operator) and the result says so. An error names file, group, rule and field:
``rules/x.yml: group "g": rule "A": expr: 1:6: parse error: unexpected end of input``.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from alerter.rules import Rule, RuleError, RuleGroup

log = logging.getLogger("alerter")

#: what check-config prints when promtool is missing
LIGHT_CHECK = "light syntax check only (promtool not found on PATH; install Debian's prometheus)"
PROMTOOL_TIMEOUT = 60.0

_PROMTOOL_ERROR = re.compile(
    r'group "[^"]*", rule \d+, "r(\d+)": (?:could not parse expression: )?(.*)$')
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}
_TRAILING_OPERATOR = re.compile(
    r"(?:[-+*/%^]|==|!=|>=|<=|>|<|=~|!~|=|,|\b(?:and|or|unless|atan2))\s*$", re.IGNORECASE)


def light_syntax_error(expr: str) -> str | None:
    """A cheap PromQL sanity check; the problem as text, or None when nothing is wrong.

    It only rejects what cannot be valid PromQL (it is no parser): empty text, unbalanced
    ``()[]{}``, an unterminated string, a binary operator or keyword at the end.
    Strings (``"..."``, ``'...'``, `````...`````) and ``#`` comments are skipped.
    """
    stack: list[tuple[str, int]] = []
    code: list[str] = []          # the expression without strings and comments
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch in "\"'`":
            end = i + 1
            while end < n and expr[end] != ch:
                end += 2 if ch != "`" and expr[end] == "\\" else 1
            if end >= n:
                return f"unterminated string starting at position {i + 1}"
            code.append('""')
            i = end + 1
            continue
        if ch == "#":
            while i < n and expr[i] != "\n":
                i += 1
            continue
        if ch in _OPENERS:
            stack.append((ch, i))
        elif ch in _CLOSERS:
            if not stack or stack[-1][0] != _CLOSERS[ch]:
                return f"unexpected {ch!r} at position {i + 1}"
            stack.pop()
        code.append(ch)
        i += 1
    if stack:
        opener, at = stack[-1]
        return f"unclosed {opener!r} at position {at + 1}"
    text = "".join(code).strip()
    if not text:
        return "empty expression"
    if _TRAILING_OPERATOR.search(text):
        return "ends with an operator or keyword: an operand is missing"
    return None


def _where(rule: Rule) -> str:
    return f'{rule.file}: group "{rule.group}": rule "{rule.name}": expr'


def _raise_first(errors: list[tuple[Rule, str]]) -> None:
    if errors:
        rule, message = errors[0]
        more = f" (and {len(errors) - 1} more expression errors)" if len(errors) > 1 else ""
        raise RuleError(f"{_where(rule)}: {message}{more}")


def _promtool_errors(promtool: str, rules: Sequence[Rule]) -> list[tuple[Rule, str]] | None:
    """Run promtool over the expressions; their errors, or None if promtool itself failed."""
    doc = {"groups": [{"name": "wardops-check",
                       "rules": [{"alert": f"r{i}", "expr": r.expr} for i, r in enumerate(rules)]}]}
    with tempfile.TemporaryDirectory(prefix="wardops-promql-") as tmp:
        file = Path(tmp) / "exprs.yml"
        file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        try:
            done = subprocess.run([promtool, "check", "rules", "--lint=none", str(file)],
                                  capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("promtool could not run; light PromQL check instead",
                        extra={"error": str(exc)})
            return None
    if done.returncode == 0:
        return []
    errors: list[tuple[Rule, str]] = []
    for line in (done.stdout + done.stderr).splitlines():
        match = _PROMTOOL_ERROR.search(line)
        if match and int(match.group(1)) < len(rules):
            errors.append((rules[int(match.group(1))], match.group(2).strip()))
    if not errors:  # promtool failed for a reason of its own: say so, do not guess
        log.warning("promtool check rules failed without an expression error; "
                    "light PromQL check instead",
                    extra={"output": (done.stdout + done.stderr).strip()[-500:]})
        return None
    return errors


def check_expressions(groups: Sequence[RuleGroup]) -> str:
    """Validate every rule's ``expr``; raise ``RuleError`` naming the first bad one.

    Returns how the check was done (``"promtool"`` or ``LIGHT_CHECK``) for check-config.
    """
    rules = [rule for group in groups for rule in group.rules]
    promtool = shutil.which("promtool")
    if promtool is not None and rules:
        errors = _promtool_errors(promtool, rules)
        if errors is not None:
            _raise_first(errors)
            return "promtool"
    if promtool is not None and not rules:
        return "promtool"
    light = [(rule, msg) for rule in rules if (msg := light_syntax_error(rule.expr))]
    _raise_first(light)
    return LIGHT_CHECK
