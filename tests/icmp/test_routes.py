"""Probes over a path's route (source address, interface, firewall mark): each route's
requests really leave with it, on its own socket, in both socket modes."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator

import pytest

from exporter.icmp import DEFAULT_ROUTE, IcmpProber, ProbeOutcome, Route
from tests.icmp.test_engine import TIMEOUT, assert_answered, run

TABLE = "wardops_routes"


@pytest.fixture
def counters(netns: None) -> Iterator[None]:
    """Output counters: requests to 127.0.30.1 from 127.0.30.9, and with mark 0x31."""
    subprocess.run(["nft", "-f", "-"], check=True, input=f"""
table ip {TABLE} {{
  chain output {{
    type filter hook output priority 0; policy accept;
    ip saddr 127.0.30.9 ip daddr 127.0.30.1 icmp type echo-request counter
    meta mark 0x31 ip daddr 127.0.30.1 icmp type echo-request counter
  }}
}}""".encode())
    yield
    subprocess.run(["nft", "delete", "table", "ip", TABLE], check=False)


def counted() -> list[int]:
    out = subprocess.run(["nft", "list", "table", "ip", TABLE], check=True,
                         capture_output=True, text=True).stdout
    return [int(n) for n in re.findall(r"counter packets (\d+)", out)]


def test_source_and_mark_routes_send_with_them(mode: str, counters: None) -> None:
    async def body(p: IcmpProber) -> list[ProbeOutcome]:
        return list(await asyncio.gather(
            p.probe("127.0.30.1", 3, TIMEOUT, Route(source="127.0.30.9")),
            p.probe("127.0.30.1", 2, TIMEOUT, Route(mark=0x31, interface="lo")),
            p.probe("127.0.30.1", 4, TIMEOUT, DEFAULT_ROUTE)))
    by_source, by_mark, plain = run(mode, body, spacing=0.01)
    assert_answered(by_source, 3)
    assert_answered(by_mark, 2)
    assert_answered(plain, 4)
    assert counted() == [3, 2]  # the default route's 4 requests carry neither


def test_a_route_that_cannot_be_opened_is_a_probe_error_naming_it(mode: str) -> None:
    async def body(p: IcmpProber) -> tuple[ProbeOutcome, ProbeOutcome, ProbeOutcome]:
        bad_interface = await p.probe("127.0.0.1", 1, TIMEOUT, Route(interface="nosuch0"))
        bad_source = await p.probe("127.0.0.1", 1, TIMEOUT, Route(source="10.99.0.1"))
        still_fine = await p.probe("127.0.0.1", 1, TIMEOUT)
        return bad_interface, bad_source, still_fine
    bad_interface, bad_source, fine = run(mode, body)
    assert (bad_interface.error, bad_interface.sent) == ("socket", 0)
    assert "interface nosuch0" in bad_interface.detail
    assert (bad_source.error, bad_source.sent) == ("socket", 0)
    assert "source 10.99.0.1" in bad_source.detail
    assert_answered(fine, 1)
