"""Fixtures for the ICMP engine tests: firewall, routes, and both socket modes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.support.nft import Firewall


@pytest.fixture(params=["raw", "datagram"])
def mode(request: pytest.FixtureRequest, netns: None) -> str:
    """Each test runs with raw sockets (root) and unprivileged datagram sockets.

    Inside the private namespace we are root; datagram ("ping") sockets need our group in
    net.ipv4.ping_group_range, which is per-namespace and closed by default.
    """
    if request.param == "datagram":
        subprocess.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], check=True)
    return str(request.param)


@pytest.fixture
def firewall(netns: None) -> Iterator[Firewall]:
    fw = Firewall()
    yield fw
    fw.close()


@pytest.fixture
def local_route(netns: None) -> Iterator[object]:
    """Add ``ip route add TYPE ADDR table local`` routes; removed after the test."""
    added: list[list[str]] = []

    def add(kind: str, address: str) -> None:
        family = "-6" if ":" in address else "-4"
        spec = [kind, address, "table", "local"]
        subprocess.run(["ip", family, "route", "add", *spec], check=True)
        added.append([family, *spec])

    yield add
    for family, *spec in added:
        subprocess.run(["ip", family, "route", "del", *spec], check=False)
