"""Alertmanager matcher syntax: ``severity="critical"``, ``=~``, ``!=``, ``!~`` and
``{a="b",c=~"d"}``.

Used by routes, inhibit rules, silences and the API's ``filter`` parameter. As in
Prometheus and Alertmanager, a missing label matches like an empty value, and regular
expressions are anchored at both ends and run in RE2 (linear time, Go's syntax).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from wardops_common.regex import Regex, compile_re2

__all__ = ["Matcher", "Regex", "compile_anchored", "format_matchers", "matches_all",
           "parse_matchers"]

OPS = ("=~", "!~", "!=", "=")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # Prometheus label names
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def compile_anchored(pattern: str) -> Regex:
    """A user's regex in RE2 (``wardops_common.regex``), ``.`` matching newlines as in
    Prometheus's ``(?s)`` label matchers; callers match it with ``fullmatch`` (anchored at
    both ends, as Alertmanager anchors matchers). ``ValueError`` naming the pattern for
    anything RE2 cannot compile."""
    return compile_re2(pattern, dot_nl=True)


@dataclass(frozen=True)
class Matcher:
    """One ``name op value`` condition on a label set."""

    name: str
    op: str
    value: str
    _regex: Regex | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not LABEL_NAME.fullmatch(self.name):
            raise ValueError(f"invalid label name {self.name!r}")
        if self.op not in OPS:
            raise ValueError(f"invalid operator {self.op!r} (use =, !=, =~ or !~)")
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", compile_anchored(self.value))

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        """True for ``=`` and ``=~`` (the Alertmanager API v2 ``isEqual`` field)."""
        return self.op in ("=", "=~")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label reads as "")."""
        value = labels.get(self.name, "")
        if self._regex is not None:
            hit = self._regex.fullmatch(value) is not None
        else:
            hit = value == self.value
        return hit if self.is_equal else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher accepts ``labels`` (an empty list accepts everything)."""
    return all(m.matches(labels) for m in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """``{a="b", c=~"d"}``: the form Alertmanager shows in group keys."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{what} at position {self.pos} in {self.text!r}")


def _parse_one(sc: _Scanner) -> Matcher:
    sc.skip_space()
    name_match = LABEL_NAME.match(sc.text, sc.pos)
    if not name_match:
        raise sc.fail("expected a label name")
    sc.pos = name_match.end()
    sc.skip_space()
    op = next((o for o in OPS if sc.peek(o)), None)
    if op is None:
        raise sc.fail("expected one of =, !=, =~, !~")
    sc.pos += len(op)
    sc.skip_space()
    if sc.peek('"'):
        sc.pos += 1
        chars: list[str] = []
        while True:
            if sc.done():
                raise sc.fail("unterminated quoted value")
            ch = sc.text[sc.pos]
            if ch == '"':
                sc.pos += 1
                break
            if ch == "\\":
                nxt = sc.text[sc.pos + 1: sc.pos + 2]
                if nxt not in _ESCAPES:
                    raise sc.fail(f"invalid escape \\{nxt}")
                chars.append(_ESCAPES[nxt])
                sc.pos += 2
                continue
            chars.append(ch)
            sc.pos += 1
        value = "".join(chars)
    else:
        # Unquoted values, as Alertmanager's classic parser accepts: up to , or }.
        start = sc.pos
        while not sc.done() and sc.text[sc.pos] not in ",}":
            sc.pos += 1
        value = sc.text[start:sc.pos].strip()
        if '"' in value:
            raise sc.fail("stray quote in unquoted value")
    return Matcher(name_match.group(0), op, value)


def parse_matchers(text: str) -> list[Matcher]:
    """Parse ``a="b"`` or a list ``{a="b", c=~"d"}`` (also without braces, comma-separated).

    Raises ``ValueError`` saying what is wrong and where.
    """
    if not isinstance(text, str):
        raise ValueError(f"matcher must be a string, got {type(text).__name__}")
    sc = _Scanner(text)
    sc.skip_space()
    braced = sc.peek("{")
    if braced:
        sc.pos += 1
    result: list[Matcher] = []
    while True:
        sc.skip_space()
        if braced and sc.peek("}"):
            sc.pos += 1
            break
        if sc.done():
            if braced:
                raise sc.fail("missing closing }")
            break
        result.append(_parse_one(sc))
        sc.skip_space()
        if sc.peek(","):
            sc.pos += 1
            continue
        if braced and sc.peek("}"):
            sc.pos += 1
            break
        if not sc.done():
            raise sc.fail("expected , or end of matchers")
    sc.skip_space()
    if not sc.done():
        raise sc.fail("unexpected text after }")
    if not result:
        raise ValueError(f"no matcher in {text!r}")
    return result


def parse_matcher_list(items: object) -> list[Matcher]:
    """A YAML/JSON list of matcher strings (each may hold several) into one flat list."""
    if not isinstance(items, list):
        raise ValueError("must be a list of matcher strings like 'severity=\"critical\"'")
    result: list[Matcher] = []
    for item in items:
        result.extend(parse_matchers(item))
    return result
