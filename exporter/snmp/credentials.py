"""SNMP credentials: read from the environment or files, never from the config itself.

Secrets are resolved when the settings are parsed (start-up and reload), so a missing
variable or unreadable file is a config error, not a poll failure at 3 a.m. The classes
here keep the secret out of ``repr``/``str`` so that a log line or a traceback that
prints the settings cannot leak it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AUTH_PROTOCOLS = ("MD5", "SHA", "SHA256", "SHA512")
PRIV_PROTOCOLS = ("DES", "AES", "AES256")
SECURITY_LEVELS = ("noAuthNoPriv", "authNoPriv", "authPriv")


class Secret:
    """A secret string whose ``repr`` and ``str`` never show it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source  # "env SNMP_COMMUNITY" / "file /etc/..." - safe to show

    def reveal(self) -> str:
        """The secret itself: only for handing to pysnmp."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(<from {self.source}>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def read_secret(raw: Mapping[str, Any], key: str, required: bool) -> Secret | None:
    """Resolve ``<key>_env`` or ``<key>_file`` from ``raw``; a literal ``<key>`` is refused.

    Raises ``ValueError("field: problem")``. Literal secrets are refused (not merely
    warned about) because inventory files are shared and committed; one warning in a log
    nobody reads would not stop a community string from ending up in git.
    """
    env_key, file_key = f"{key}_env", f"{key}_file"
    if key in raw:
        raise ValueError(f"{key}: literal secrets are not accepted; use {env_key} or {file_key}")
    if env_key in raw and file_key in raw:
        raise ValueError(f"{env_key}: give either {env_key} or {file_key}, not both")
    if env_key in raw:
        name = raw[env_key]
        if not isinstance(name, str) or not name:
            raise ValueError(f"{env_key}: must be the name of an environment variable")
        value = os.environ.get(name)
        if value is None or value == "":
            raise ValueError(f"{env_key}: environment variable {name} is not set")
        return Secret(value, f"env {name}")
    if file_key in raw:
        path = raw[file_key]
        if not isinstance(path, str) or not path:
            raise ValueError(f"{file_key}: must be a file path")
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{file_key}: cannot read {path}: {exc.strerror}") from None
        if not value:
            raise ValueError(f"{file_key}: {path} is empty")
        return Secret(value, f"file {path}")
    if required:
        raise ValueError(f"{env_key}: required ({env_key} or {file_key})")
    return None


@dataclass(frozen=True)
class V2cCredentials:
    """SNMPv2c community."""

    community: Secret

    version = "2c"


@dataclass(frozen=True)
class V3Credentials:
    """SNMPv3 USM user; keys are present as the security level requires."""

    username: str
    security_level: str
    auth_protocol: str | None = None
    auth_key: Secret | None = field(default=None)
    priv_protocol: str | None = None
    priv_key: Secret | None = field(default=None)

    version = "3"


def _choice(raw: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be one of {', '.join(choices)}")
    for choice in choices:  # case-insensitive: people write "sha" and "authpriv"
        if value.lower() == choice.lower():
            return choice
    raise ValueError(f"{key}: {value!r} is not one of {', '.join(choices)}")


def reject_literal_secrets(raw: Mapping[str, Any]) -> None:
    """Refuse ``community``/``auth_key``/``priv_key`` literals, whatever the version."""
    for key in ("community", "auth_key", "priv_key"):
        if key in raw:
            raise ValueError(f"{key}: literal secrets are not accepted; use {key}_env or "
                             f"{key}_file")


def parse_credentials(raw: Mapping[str, Any], version: str) -> V2cCredentials | V3Credentials:
    """Build credentials for ``version`` ("2c" or "3") from the merged settings.

    Keys of the other version are ignored: settings are merged from snmp_defaults, the
    site and the device, so a site that moves its routers to v3 inherits the default
    community_env, and that must not make the merged settings invalid.
    """
    reject_literal_secrets(raw)
    if version == "2c":
        community = read_secret(raw, "community", required=True)
        assert community is not None
        return V2cCredentials(community)
    username = raw.get("username")
    if not isinstance(username, str) or not username:
        raise ValueError("username: required for version 3")
    level = _choice(raw, "security_level", SECURITY_LEVELS, "authPriv")
    if level == "noAuthNoPriv":  # keys inherited from another layer are not used
        return V3Credentials(username, level)
    auth_protocol = _choice(raw, "auth_protocol", AUTH_PROTOCOLS, "SHA")
    auth_key = read_secret(raw, "auth_key", required=True)
    assert auth_key is not None
    if len(auth_key.reveal()) < 8:
        raise ValueError("auth_key: must be at least 8 characters (RFC 3414)")
    if level == "authNoPriv":
        return V3Credentials(username, level, auth_protocol, auth_key)
    priv_protocol = _choice(raw, "priv_protocol", PRIV_PROTOCOLS, "AES")
    priv_key = read_secret(raw, "priv_key", required=True)
    assert priv_key is not None
    if len(priv_key.reveal()) < 8:
        raise ValueError("priv_key: must be at least 8 characters (RFC 3414)")
    return V3Credentials(username, level, auth_protocol, auth_key, priv_protocol, priv_key)
