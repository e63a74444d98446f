"""Small typed readers for config values; each raises ``ValueError("path: message")``.

Shared by the exporter's inventory and SNMP settings and the alerter's config, rules and
notification sections, so that they report errors in one wording (``unknown_key``) and
the callers put the file in front (``wardops_common.yamlfile.ConfigError``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from wardops_common.durations import parse_duration
from wardops_common.secrets import Secret, read_secret

T = TypeVar("T")



def unknown_key(key: object, known: Iterable[str]) -> str:
    """The one wording for a key that is not allowed there: ``unknown key (known: a, b)``,
    with the nearest known key suggested when one is close (a typo)."""
    names = sorted(known)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key (known: {', '.join(names)}){hint}"


def read_mapping(value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    """``value`` as a mapping whose keys are all in ``allowed``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: must be a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise ValueError(f"{path}.{key}: {unknown_key(key, allowed)}")
    return value


def read_str(value: object, path: str) -> str:
    """``value`` as a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{path}: must be a non-empty string")
    return value


def read_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{path}: must be true or false")
    return value


def read_int(value: object, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{path}: must be an integer >= {minimum}")
    return value


def read_duration(value: object, path: str, positive: bool = False) -> float:
    """``value`` (``30s``, ``5m`` ...) in seconds; ``positive`` rejects 0."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if positive and seconds <= 0:
        raise ValueError(f"{path}: must be greater than 0")
    return seconds


def read_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{path}: must be a list")
    return value


def read_each(value: object, path: str, parse: Callable[[Any, str], T]) -> list[T]:
    return [parse(item, f"{path}[{i}]") for i, item in enumerate(read_list(value, path))]


#: while a config loads under ``collect_missing()``: the missing variables/files seen so far
_missing: ContextVar[list[str] | None] = ContextVar("wardops_missing_inputs", default=None)
#: stands in for a missing value while collecting, so that loading goes on to find the rest
_PLACEHOLDER = "http://missing.invalid/"


@contextmanager
def collect_missing() -> Iterator[list[str]]:
    """Collect missing environment variables and unreadable secret files instead of
    raising at the first one; the caller reports the whole list (one error, one run)."""
    seen: list[str] = []
    token = _missing.set(seen)
    try:
        yield seen
    finally:
        _missing.reset(token)


def missing_input(message: str) -> str:
    """Report one missing variable/file (``"path.key: ..."``): recorded while collecting
    (returns a placeholder value), else raised as ``ValueError``."""
    seen = _missing.get()
    if seen is None:
        raise ValueError(message)
    seen.append(message)
    return _PLACEHOLDER


def secret(raw: Mapping[str, Any], path: str, base: str, base_dir: Path,
           required: bool) -> Secret | None:
    """``base`` (a literal), ``base_env`` or ``base_file`` (relative to ``base_dir``) of
    ``raw``: :func:`wardops_common.secrets.read_secret`, with a missing variable or file
    reported through :func:`missing_input`."""
    return read_secret(raw, base, path, required=required, literal=True, base_dir=base_dir,
                       missing=missing_input)


def check_url(url: Secret, path: str) -> None:
    """Raise unless ``url`` is an http(s) URL with a host (the message never shows it)."""
    parts = urlsplit(url.value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The URL itself may be a secret (Slack/Teams embed tokens): name only the field.
        raise ValueError(f"{path}: not an http(s) URL with a host (from {url.source})")
