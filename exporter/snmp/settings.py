"""Validation of a device's merged ``snmp`` settings.

PLACEHOLDER: accepts the mapping as it is. The SNMP work replaces this with full
validation (versions, v3 security, credentials from env/files, uplinks, intervals).
The inventory loader merges ``snmp_defaults[type]`` < site ``snmp`` < device ``snmp``
and calls :func:`parse_snmp_settings` once per device that has SNMP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SnmpSettings:
    """A device's SNMP settings after validation."""

    raw: Mapping[str, Any] = field(default_factory=dict)


def parse_snmp_settings(raw: Mapping[str, Any]) -> SnmpSettings:
    """Validate merged SNMP settings; raise ``ValueError("field: problem")`` on bad input.

    The caller adds file and entry to the message.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("snmp: must be a mapping")
    return SnmpSettings(raw=dict(raw))
