"""SNMP poller: its own schedule, beside the ICMP probes.

PLACEHOLDER with the interface the exporter wires in; it polls nothing yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.metrics_core import Metric


class SnmpPoller:
    """Polls the devices that have SNMP settings and keeps their latest results.

    ``devices`` are ``exporter.config.Device`` objects; those with ``snmp`` set are polled.
    ``icmp_up`` is a callable ``(device) -> bool | None`` so an ICMP-down device's SNMP
    failures are not piled up as errors.
    """

    def __init__(self, devices: Sequence[Any], icmp_up: Any = None) -> None:
        self.set_devices(devices)
        self._icmp_up = icmp_up

    def set_devices(self, devices: Sequence[Any]) -> None:
        """Replace the polled set on reload; kept devices keep their results."""
        self._devices = [d for d in devices if getattr(d, "snmp", None) is not None]

    async def run(self) -> None:
        """Poll forever on the configured intervals (cancel the task to stop)."""

    def collect(self) -> Iterable[Metric]:
        """Metric families for /metrics, built from the latest results."""
        return []
