"""Validation of a device's merged ``snmp`` settings.

The inventory loader merges ``snmp_defaults[type]`` < site ``snmp`` < device ``snmp``
and calls :func:`parse_snmp_settings` once per device that has SNMP. Everything is
checked here, at load time: unknown keys, versions, v3 security, credentials (read now
from the environment or files), regexes, intervals, scalar OIDs and metric names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.snmp.credentials import V2cCredentials, V3Credentials, parse_credentials
from wardops_common.durations import parse_duration
from wardops_common.readers import unknown_key
from wardops_common.regex import Regex, compile_re2

_CREDENTIAL_KEYS = {
    "community", "community_env", "community_file", "username", "security_level",
    "auth_protocol", "auth_key", "auth_key_env", "auth_key_file",
    "priv_protocol", "priv_key", "priv_key_env", "priv_key_file",
}
_KNOWN_KEYS = _CREDENTIAL_KEYS | {
    "version", "port", "interval", "timeout", "retries", "names_interval", "max_repetitions",
    "uplinks", "include_interfaces", "exclude_interfaces", "scalars",
}
_OID = re.compile(r"^\.?[0-2](\.\d+)+$")
_METRIC_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
# Names the poller already exports as wardops_snmp_<name>.
_RESERVED_SCALARS = {"up", "poll_duration_seconds", "uptime_seconds", "info", "errors",
                     "errors_total", "last_poll_timestamp_seconds"}


@dataclass(frozen=True)
class UplinkRule:
    """Interfaces matching ``alias`` (and ``name``, when given) are uplinks to ``isp``."""

    isp: str
    alias: Regex | None = None
    name: Regex | None = None

    def matches(self, ifname: str, ifalias: str) -> bool:
        """True when every given pattern matches (``re.search``)."""
        if self.alias is not None and not self.alias.search(ifalias):
            return False
        return self.name is None or bool(self.name.search(ifname))


@dataclass(frozen=True)
class InterfaceMatcher:
    """``include_interfaces``/``exclude_interfaces``: a regex on the interface name
    (ifName, else ifDescr), or ``{name: regex, alias: regex}``; either one matching counts."""

    name: Regex | None = None
    alias: Regex | None = None

    def matches(self, ifname: str, ifalias: str) -> bool:
        """True when the name pattern or the alias pattern matches (``re.search``)."""
        return bool((self.name is not None and self.name.search(ifname))
                    or (self.alias is not None and self.alias.search(ifalias)))


@dataclass(frozen=True)
class ScalarSpec:
    """An extra scalar OID exported as the gauge ``wardops_snmp_<name>``."""

    name: str
    oid: tuple[int, ...]
    help: str


@dataclass(frozen=True)
class SnmpSettings:
    """A device's SNMP settings after validation. Its ``repr`` never shows secrets."""

    credentials: V2cCredentials | V3Credentials
    port: int = 161
    interval: float = 60.0
    timeout: float = 2.0
    retries: int = 1
    names_interval: float = 900.0  # how often ifName/ifAlias/ifDescr/speed are re-read
    max_repetitions: int = 25
    uplinks: tuple[UplinkRule, ...] = ()
    include_interfaces: InterfaceMatcher | None = None
    exclude_interfaces: InterfaceMatcher | None = None
    scalars: tuple[ScalarSpec, ...] = ()

    @property
    def version(self) -> str:
        """"2c" or "3"."""
        return self.credentials.version


def _regex(value: Any, field: str) -> Regex:
    """A user's interface filter, in RE2 (``wardops_common.regex``): interface names and
    aliases come from the devices, and must not be able to make a poll backtrack."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field}: must be a regular expression string")
    try:
        return compile_re2(value)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def _int(raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key}: must be an integer from {low} to {high}, got {value!r}")
    return value


def _duration(raw: Mapping[str, Any], key: str, default: float, low: float) -> float:
    if key not in raw:
        return default
    try:
        seconds = parse_duration(raw[key])
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
    if seconds < low:
        raise ValueError(f"{key}: must be at least {low:g}s, got {raw[key]!r}")
    return seconds


def parse_oid(value: Any, field: str) -> tuple[int, ...]:
    """A numeric OID such as ``1.3.6.1.4.1.9.2.1.58.0`` as a tuple of ints."""
    if not isinstance(value, str) or not _OID.match(value.strip()):
        raise ValueError(f"{field}: must be a numeric OID like 1.3.6.1.2.1.1.3.0, got {value!r}")
    return tuple(int(part) for part in value.strip().lstrip(".").split("."))


def _matcher(value: Any, field: str) -> InterfaceMatcher:
    if isinstance(value, str):
        return InterfaceMatcher(name=_regex(value, field))
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{field}: must be a regex (matched against the interface name) "
                         "or {name: regex, alias: regex}")
    unknown = sorted(set(value) - {"name", "alias"})
    if unknown:
        raise ValueError(f"{field}.{unknown[0]}: {unknown_key(unknown[0], ('name', 'alias'))}")
    return InterfaceMatcher(
        name=_regex(value["name"], f"{field}.name") if "name" in value else None,
        alias=_regex(value["alias"], f"{field}.alias") if "alias" in value else None)


def _uplinks(value: Any) -> tuple[UplinkRule, ...]:
    if not isinstance(value, list):
        raise ValueError("uplinks: must be a list of {alias: regex, isp: name}")
    rules = []
    for i, item in enumerate(value):
        where = f"uplinks[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: must be a mapping with alias and isp")
        unknown = sorted(set(item) - {"alias", "name", "isp"})
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: "
                             f"{unknown_key(unknown[0], ('alias', 'name', 'isp'))}")
        isp = item.get("isp")
        if not isinstance(isp, str) or not isp:
            raise ValueError(f"{where}.isp: required, the provider's name")
        if "alias" not in item and "name" not in item:
            raise ValueError(f"{where}: needs alias or name (a regular expression)")
        alias = _regex(item["alias"], f"{where}.alias") if "alias" in item else None
        name = _regex(item["name"], f"{where}.name") if "name" in item else None
        rules.append(UplinkRule(isp=isp, alias=alias, name=name))
    return tuple(rules)


def _scalars(value: Any) -> tuple[ScalarSpec, ...]:
    if not isinstance(value, list):
        raise ValueError("scalars: must be a list of {name, oid, help}")
    specs: list[ScalarSpec] = []
    for i, item in enumerate(value):
        where = f"scalars[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: must be a mapping with name, oid and help")
        unknown = sorted(set(item) - {"name", "oid", "help"})
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: "
                             f"{unknown_key(unknown[0], ('name', 'oid', 'help'))}")
        name = item.get("name")
        if not isinstance(name, str) or not _METRIC_NAME.match(name):
            raise ValueError(f"{where}.name: {name!r} is not a valid metric name part "
                             "(lower case letters, digits, _)")
        if name in _RESERVED_SCALARS:
            raise ValueError(f"{where}.name: wardops_snmp_{name} is already a wardops metric")
        if any(spec.name == name for spec in specs):
            raise ValueError(f"{where}.name: {name!r} appears twice")
        oid = parse_oid(item.get("oid"), f"{where}.oid")
        help_text = item.get("help", f"SNMP scalar {'.'.join(map(str, oid))}")
        if not isinstance(help_text, str):
            raise ValueError(f"{where}.help: must be a string")
        specs.append(ScalarSpec(name=name, oid=oid, help=help_text))
    return tuple(specs)


def parse_snmp_settings(raw: Mapping[str, Any], base_dir: Path | None = None) -> SnmpSettings:
    """Validate merged SNMP settings; raise ``ValueError("field: problem")`` on bad input.

    Relative ``*_file`` credential paths are read from ``base_dir`` when given. The caller
    adds file and entry to the message.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("snmp: must be a mapping")
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise ValueError(f"{unknown[0]}: {unknown_key(unknown[0], _KNOWN_KEYS)}")
    version = str(raw.get("version", "2c"))
    if version in ("2", "v2c"):
        version = "2c"
    if version not in ("2c", "3"):
        raise ValueError(f"version: {raw.get('version')!r} is not supported (use 2c or 3)")
    interval = _duration(raw, "interval", 60.0, 1.0)
    timeout = _duration(raw, "timeout", 2.0, 0.05)
    retries = _int(raw, "retries", 1, 0, 10)
    if timeout * (retries + 1) >= interval:
        raise ValueError(f"timeout: {timeout:g}s x {retries + 1} tries does not fit in the "
                         f"interval of {interval:g}s")
    return SnmpSettings(
        credentials=parse_credentials(raw, version, base_dir),
        port=_int(raw, "port", 161, 1, 65535),
        interval=interval,
        timeout=timeout,
        retries=retries,
        names_interval=_duration(raw, "names_interval", 900.0, 0.0),
        max_repetitions=_int(raw, "max_repetitions", 25, 1, 100),
        uplinks=_uplinks(raw["uplinks"]) if "uplinks" in raw else (),
        include_interfaces=(_matcher(raw["include_interfaces"], "include_interfaces")
                            if "include_interfaces" in raw else None),
        exclude_interfaces=(_matcher(raw["exclude_interfaces"], "exclude_interfaces")
                            if "exclude_interfaces" in raw else None),
        scalars=_scalars(raw["scalars"]) if "scalars" in raw else (),
    )
