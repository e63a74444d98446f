"""Secrets in config files: read from the environment or a file, never printed.

Both programs take secrets the same way (SNMP communities and keys in the exporter's
inventory; webhook URLs, HMAC keys and API tokens in the alerter's config): a setting
``<key>`` is given as ``<key>_env: VARIABLE`` or ``<key>_file: PATH`` (and, where the
caller allows it, as a literal ``<key>: value``). :func:`read_secret` resolves it while
the config loads, so a missing variable or unreadable file is a config error naming the
field (at start-up, or a rejected reload), never a failed delivery or poll at 3 a.m.

A :class:`Secret` keeps its value out of ``repr``/``str``: a log line, an error message
or a traceback that prints the settings shows only where the secret came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class Secret:
    """A secret string whose ``repr`` and ``str`` never show it.

    ``value`` is the secret itself: hand it to the library that needs it and nowhere
    else. ``source`` says where it came from (``env SNMP_COMMUNITY``, ``file
    /etc/wardops/hmac``, or the config field of a literal) and is safe to show.
    """

    __slots__ = ("value", "source")

    def __init__(self, value: str, source: str) -> None:
        self.value = value
        self.source = source

    def __repr__(self) -> str:
        return f"Secret(<from {self.source}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        # By value: reloading an unchanged config yields equal settings.
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def read_secret(raw: Mapping[str, Any], key: str, where: str = "", *, required: bool = False,
                literal: bool = False, base_dir: Path | None = None,
                missing: Callable[[str], str] | None = None) -> Secret | None:
    """Resolve the secret ``key`` of the config mapping ``raw``.

    ``<key>_env`` names an environment variable; ``<key>_file`` a file (relative paths
    from ``base_dir`` when given), whose content is used stripped of surrounding white
    space, as is the variable's. A literal ``<key>`` is taken only with ``literal=True``
    and refused otherwise (shared inventories end up in git; a warning would not stop a
    community string from following them there). Returns None when none is given and
    the secret is not ``required``.

    Raises ``ValueError("<where>.<field>: problem")`` (no ``<where>.`` when ``where`` is
    empty) for: more than one form given, a required secret missing, a literal where
    none is allowed, a variable not set or empty, a file that cannot be read or is empty.
    For the last three (inputs missing from this machine, not mistakes in the file),
    ``missing`` is called instead when given, with the message, and what it returns
    stands in for the value: the alerter collects every missing input of a config and
    reports them together, instead of one per run.
    """
    def absent(message: str) -> str:
        if missing is None:
            raise ValueError(message)
        return missing(message)

    prefix = f"{where}." if where else ""
    env_key, file_key = f"{key}_env", f"{key}_file"
    forms = ([key] if literal else []) + [env_key, file_key]
    if not literal:
        refuse_literal(raw, key, where)
    given = [k for k in forms if k in raw]
    if len(given) > 1:
        raise ValueError(f"{prefix}{given[0]}: give only one of {', '.join(given)}")
    if not given:
        if required:
            raise ValueError(f"{prefix}{key}: required (give {', '.join(forms[:-1])} or "
                             f"{forms[-1]})")
        return None
    field = given[0]
    setting = raw[field]
    if field == key:
        if not isinstance(setting, str) or not setting:
            raise ValueError(f"{prefix}{field}: must be a non-empty string")
        return Secret(setting, f"{prefix}{field}")
    if field == env_key:
        if not isinstance(setting, str) or not setting:
            raise ValueError(f"{prefix}{field}: must be the name of an environment variable")
        value = os.environ.get(setting, "").strip() or absent(
            f"{prefix}{field}: environment variable {setting} is not set or empty")
        return Secret(value, f"env {setting}")
    if not isinstance(setting, str) or not setting:
        raise ValueError(f"{prefix}{field}: must be a file path")
    path = Path(setting) if base_dir is None else base_dir / setting
    try:
        value = path.read_text(encoding="utf-8").strip() or absent(
            f"{prefix}{field}: {path} is empty")
    except OSError as exc:
        value = absent(f"{prefix}{field}: cannot read {path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        raise ValueError(f"{prefix}{field}: {path} is not UTF-8 text") from None
    return Secret(value, f"file {path}")


def refuse_literal(raw: Mapping[str, Any], key: str, where: str = "") -> None:
    """Raise ``ValueError`` if ``raw`` gives the secret ``key`` as a literal value."""
    if key in raw:
        prefix = f"{where}." if where else ""
        raise ValueError(f"{prefix}{key}: literal secrets are not accepted; use {key}_env or "
                         f"{key}_file")
