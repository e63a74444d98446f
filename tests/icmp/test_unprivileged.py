"""Without CAP_NET_RAW (what "not root" means to the kernel) the engine uses ping sockets."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import python_env

RANGE = Path("/proc/sys/net/ipv4/ping_group_range")

# Probes with an auto-detected prober and prints what happened as JSON.
CHILD = """
import asyncio, json
from exporter.icmp import IcmpProber

async def main():
    prober = IcmpProber()
    report = {"mode": prober.mode}
    try:
        await prober.start()
    except OSError as exc:
        report["start_error"] = str(exc)
        return report
    outcomes = await asyncio.gather(prober.probe("127.0.0.1", 3, 1.0), prober.probe("::1", 3, 1.0))
    report["received"] = [o.received for o in outcomes]
    report["errors"] = [o.error for o in outcomes]
    await prober.close()
    return report

print(json.dumps(asyncio.run(main())))
"""


@pytest.fixture
def ping_group_range(netns: None) -> Iterator[None]:
    saved = RANGE.read_text().split()
    yield
    subprocess.run(["sysctl", "-qw", f"net.ipv4.ping_group_range={saved[0]} {saved[1]}"],
                   check=True)


def run_without_net_raw(groups: str) -> dict[str, object]:
    subprocess.run(["sysctl", "-qw", f"net.ipv4.ping_group_range={groups}"], check=True)
    # Dropping CAP_NET_RAW and CAP_NET_ADMIN from the bounding set leaves us uid 0 but
    # with an ordinary user's network rights: no raw sockets, no SO_RCVBUFFORCE.
    out = subprocess.run(["setpriv", "--bounding-set=-net_raw,-net_admin", sys.executable,
                          "-c", CHILD], env=python_env(), capture_output=True, text=True,
                         check=True, timeout=60)
    return dict(json.loads(out.stdout))


def test_without_raw_rights_probes_over_datagram_sockets(ping_group_range: None) -> None:
    report = run_without_net_raw("0 2147483647")
    assert report == {"mode": "datagram", "received": [3, 3], "errors": [None, None]}


def test_without_raw_rights_or_ping_group_start_fails_clearly(ping_group_range: None) -> None:
    report = run_without_net_raw("1 0")  # the kernel's default: nobody may
    assert report["mode"] == "datagram"
    assert "ping_group_range" in str(report["start_error"])
