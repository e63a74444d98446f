"""Validation of the notification part of the alerter config.

PLACEHOLDER: keeps the raw mappings. Owns the top-level keys ``route``, ``receivers``,
``inhibit_rules``, ``api`` and ``templates``; the alerter's config loader hands them over
and reports ``ValueError`` messages with the file name in front.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NOTIFY_KEYS = ("route", "receivers", "inhibit_rules", "api", "templates")


@dataclass(frozen=True)
class NotifyConfig:
    """Validated routing, receivers, inhibition and API settings."""

    raw: Mapping[str, Any] = field(default_factory=dict)


def parse_notify_config(raw: Mapping[str, Any]) -> NotifyConfig:
    """Validate the notification keys; raise ``ValueError("route.routes[0].matchers: ...")``."""
    return NotifyConfig(raw=dict(raw))
