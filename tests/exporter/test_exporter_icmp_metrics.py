"""The ICMP engine's packet counters on /metrics, from a real prober on loopback."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from exporter.collector import IcmpCollector
from exporter.icmp import RECEIVE_ERROR_REASONS, SEND_ERROR_REASONS, IcmpProber
from tests.support.nft import Firewall

BLACKHOLE = "127.9.8.7"


@pytest.fixture
def blackhole(netns: None) -> Iterator[str]:
    """An address whose route is a blackhole: every sendto fails at once."""
    route = ["blackhole", BLACKHOLE, "table", "local"]
    subprocess.run(["ip", "route", "add", *route], check=True)
    yield BLACKHOLE
    subprocess.run(["ip", "route", "del", *route], check=False)


def test_packet_counters_by_family_start_at_zero_and_count(blackhole: str) -> None:
    registry = CollectorRegistry()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    firewall = Firewall()

    async def main() -> None:
        prober = IcmpProber()
        registry.register(IcmpCollector(prober))
        # before the sockets open, every series is there at 0
        for family in ("ipv4", "ipv6"):
            for name in ("wardops_icmp_requests_total", "wardops_icmp_replies_total",
                         "wardops_icmp_late_replies_total"):
                assert value(name, family=family) == 0, (name, family)
            for reason in SEND_ERROR_REASONS:
                assert value("wardops_icmp_send_errors_total", family=family,
                             reason=reason) == 0
            for reason in RECEIVE_ERROR_REASONS:
                assert value("wardops_icmp_receive_errors_total", family=family,
                             reason=reason) == 0
        await prober.start()
        try:
            firewall.drop("127.0.0.5")
            await asyncio.gather(prober.probe("127.0.0.1", 3, 0.5), prober.probe("::1", 2, 0.5),
                                 prober.probe("127.0.0.5", 2, 0.3),
                                 prober.probe(blackhole, 3, 0.3))
        finally:
            await prober.close()
            firewall.close()

    asyncio.run(main())
    # per echo request, not per probe: 3 + 2 sent over IPv4 (the dropped ones count),
    # the blackholed address's 3 never left
    assert value("wardops_icmp_requests_total", family="ipv4") == 5
    assert value("wardops_icmp_replies_total", family="ipv4") == 3
    assert value("wardops_icmp_requests_total", family="ipv6") == 2
    assert value("wardops_icmp_replies_total", family="ipv6") == 2
    assert value("wardops_icmp_send_errors_total", family="ipv4", reason="unreachable") == 3
    assert value("wardops_icmp_send_errors_total", family="ipv6", reason="unreachable") == 0
    assert value("wardops_icmp_late_replies_total", family="ipv4") == 0
    # a per-packet family never leaks into the per-probe errors
    assert value("wardops_probe_errors_total", reason="unreachable") is None
