"""SNMP credentials: read from the environment or files, never from the config itself.

Secrets are resolved when the settings are parsed (start-up and reload), so a missing
variable or unreadable file is a config error, not a poll failure at 3 a.m. They are
:class:`wardops_common.secrets.Secret`, whose ``repr``/``str`` never show the value, so a
log line or a traceback that prints the settings cannot leak it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wardops_common.secrets import Secret, read_secret, refuse_literal

AUTH_PROTOCOLS = ("MD5", "SHA", "SHA256", "SHA512")
PRIV_PROTOCOLS = ("DES", "AES", "AES256")
SECURITY_LEVELS = ("noAuthNoPriv", "authNoPriv", "authPriv")


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
        refuse_literal(raw, key)


def parse_credentials(raw: Mapping[str, Any], version: str, base_dir: Path | None = None
                      ) -> V2cCredentials | V3Credentials:
    """Build credentials for ``version`` ("2c" or "3") from the merged settings.

    Relative ``*_file`` paths are read from ``base_dir`` (the inventory's folder) when given.

    Keys of the other version are ignored: settings are merged from snmp_defaults, the
    site and the device, so a site that moves its routers to v3 inherits the default
    community_env, and that must not make the merged settings invalid.
    """
    reject_literal_secrets(raw)
    if version == "2c":
        community = read_secret(raw, "community", required=True, base_dir=base_dir)
        assert community is not None
        return V2cCredentials(community)
    username = raw.get("username")
    if not isinstance(username, str) or not username:
        raise ValueError("username: required for version 3")
    level = _choice(raw, "security_level", SECURITY_LEVELS, "authPriv")
    if level == "noAuthNoPriv":  # keys inherited from another layer are not used
        return V3Credentials(username, level)
    auth_protocol = _choice(raw, "auth_protocol", AUTH_PROTOCOLS, "SHA")
    auth_key = read_secret(raw, "auth_key", required=True, base_dir=base_dir)
    assert auth_key is not None
    if len(auth_key.value) < 8:
        raise ValueError("auth_key: must be at least 8 characters (RFC 3414)")
    if level == "authNoPriv":
        return V3Credentials(username, level, auth_protocol, auth_key)
    priv_protocol = _choice(raw, "priv_protocol", PRIV_PROTOCOLS, "AES")
    priv_key = read_secret(raw, "priv_key", required=True, base_dir=base_dir)
    assert priv_key is not None
    if len(priv_key.value) < 8:
        raise ValueError("priv_key: must be at least 8 characters (RFC 3414)")
    return V3Credentials(username, level, auth_protocol, auth_key, priv_protocol, priv_key)
