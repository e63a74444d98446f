"""The alert as evaluation hands it to notification, and its fingerprint.

This is the one type that crosses from ``alerter.evaluation`` to ``alerter.notify``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEP = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager-compatible fingerprint (FNV-1a 64 over sorted name/value pairs), 16 hex digits.

    Same label set, same fingerprint, in any process, across restarts.
    """
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h ^= byte
                h = (h * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            h ^= _SEP
            h = (h * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


@dataclass
class Alert:
    """One alert instance. Times are Unix seconds; ``ends_at`` is set once resolved."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # "pending" | "firing" | "resolved"
    starts_at: float
    ends_at: float | None = None
    generator_url: str = ""
    value: float = 0.0
    fingerprint: str = field(default="")
    #: when the condition first held (Prometheus's ``activeAt``: stays at the moment the
    #: alert went pending); None: ``starts_at``
    active_at: float | None = None
    #: first evaluation without the condition while ``keep_firing_for`` holds it
    keep_firing_since: float | None = None
    #: names of ``external_labels`` the alerter added (Prometheus's ``/api/v1/alerts``
    #: lists an alert without them: Prometheus adds them only when sending)
    external: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def resolved(self) -> bool:
        return self.state == "resolved"

