"""User-supplied regular expressions, in RE2 (``google-re2``), as Prometheus and
Alertmanager run them (Go's regexp is RE2): linear time whatever the pattern, so a route
matcher, silence, API filter, template's ``reReplaceAll`` or SNMP interface filter cannot
make wardops backtrack for seconds. Go's syntax, not Python's: look-arounds and
back-references are a clear error, as they are in Prometheus."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import re2


class RegexError(ValueError):
    """A pattern RE2 cannot compile; ``reason`` is RE2's (e.g. ``missing ): (``)."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"invalid regular expression {pattern!r}: {reason}")
        self.pattern, self.reason = pattern, reason


class Match(Protocol):
    """What callers use of a match."""

    def group(self, index: int | str = 0) -> str | None: ...


class Regex(Protocol):
    """A compiled RE2 pattern: what wardops uses of it."""

    def search(self, text: str) -> Match | None: ...

    def fullmatch(self, text: str) -> Match | None: ...

    def sub(self, repl: Callable[[Match], str], text: str) -> str: ...


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is raised to the caller, not printed to stderr


@lru_cache(maxsize=4096)
def compile_re2(pattern: str, *, dot_nl: bool = False) -> Regex:
    """Compile ``pattern`` in RE2; ``RegexError("invalid regular expression ...")`` naming
    the pattern and RE2's reason otherwise. ``dot_nl``: ``.`` also matches a newline (as
    Prometheus's label matchers, which are ``(?s)``)."""
    options = _OPTIONS
    if dot_nl:
        options = re2.Options()
        options.log_errors = False
        options.dot_nl = True
    try:
        compiled: Regex = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise RegexError(pattern, str(reason)) from None
    return compiled
