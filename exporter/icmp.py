"""ICMP echo probing.

PLACEHOLDER ENGINE: one icmplib ``async_ping`` (one socket) per probe. It is correct but
costs far too much CPU for thousands of devices; it is being replaced by an engine with
one shared socket per address family. The interface below is the contract the rest of
the exporter uses and stays as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import icmplib


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """What one probe of one address saw.

    ``error`` is a short reason label (e.g. ``"send"``, ``"socket"``) when the probe could
    not run at all; then nothing can be said about the device and it must not count as up
    or down.
    """

    sent: int
    received: int
    rtts: tuple[float, ...] = ()  # seconds, one per reply
    error: str | None = None
    detail: str = ""  # human-readable error text for the log


class IcmpProber:
    """Sends ``count`` echo requests to an address and waits ``timeout`` for the replies."""

    def __init__(self, *, privileged: bool | None = None) -> None:
        if privileged is None:
            privileged = os.geteuid() == 0
        self.mode = "raw" if privileged else "datagram"

    async def start(self) -> None:
        """Open sockets; call once from the running event loop."""

    async def close(self) -> None:
        """Close sockets."""

    async def probe(self, address: str, count: int, timeout: float) -> ProbeOutcome:
        """Probe one IP literal (IPv4 or IPv6); never raises for network errors."""
        try:
            host = await icmplib.async_ping(address, count=count, interval=0.01, timeout=timeout,
                                            privileged=self.mode == "raw")
        except icmplib.ICMPLibError as exc:
            return ProbeOutcome(sent=0, received=0, error="send", detail=str(exc))
        except OSError as exc:
            return ProbeOutcome(sent=0, received=0, error="socket", detail=str(exc))
        return ProbeOutcome(sent=host.packets_sent, received=host.packets_received,
                            rtts=tuple(r / 1000.0 for r in host.rtts))
