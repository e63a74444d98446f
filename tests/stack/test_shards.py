"""One shard down does not blind the fleet: two exporter shards (``--shard 1/2``, ``2/2``)
behind one real Prometheus, the alerter with the default rules. And a device whose parent
another shard probes is still cut off (the rules join the shards' series in Prometheus),
its shard's page saying that the parent is elsewhere.

Killing one shard (kill -9) raises MonitoringDegraded for that target only and freezes
only the alerts of the devices it serves: its down device stays firing, unresolved,
while the other shard's devices keep alerting *and resolving* (the old alerter froze
every alert of every device while any exporter target was down).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests
from faultstack import DETECT, Stack

from tests.support import wait_for

# Two sites per shard at least; which shard owns a device is the exporter's stable hash.
DEVICES = {f"{site}-{kind}": f"127.42.{i}.{j}"
           for i, site in enumerate(("Telavi", "Sighnaghi", "Lagodekhi"), start=1)
           for j, kind in enumerate(("Router", "ATM", "NVR"), start=1)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get("WARDOPS_NETNS") != "1":
        pytest.skip("needs a private network namespace: run via scripts/test")
    running = Stack(tmp_path_factory.mktemp("shards"), DEVICES, shards=2)
    try:
        yield running
    finally:
        running.stop()


def owners(stack: Stack) -> dict[str, str]:
    """device → the exporter instance that probes it, as Prometheus sees it."""
    rows = stack.prom.query("wardops_device_info")
    return {r["metric"]["device"]: r["metric"]["instance"] for r in rows}


def test_one_shard_down_freezes_only_its_devices(netns: None, stack: Stack) -> None:
    wait_for(lambda: len(owners(stack)) == len(DEVICES), timeout=DETECT,
             what="every device reported by one of the shards")
    by_instance = owners(stack)
    second = f"127.0.0.1:{stack.exporter_ports[1]}"
    on_first = sorted(d for d, inst in by_instance.items() if inst != second)
    on_second = sorted(d for d, inst in by_instance.items() if inst == second)
    assert len(on_first) >= 2 and on_second, by_instance
    kept, recovered, later = on_second[0], on_first[0], on_first[1]
    stack.firewall.drop(stack.devices[kept], stack.devices[recovered])
    stack.wait_notified("DeviceDown", "firing", device=kept)
    stack.wait_notified("DeviceDown", "firing", device=recovered)

    stack.exporters[1].stop(kill=True)
    wait_for(lambda: [a for a in stack.active("MonitoringDegraded")
                      if a.get("cause") == "exporter_down"], timeout=DETECT,
             what="MonitoringDegraded exporter_down")
    degraded = [a for a in stack.active("MonitoringDegraded")]
    assert [(a["cause"], a.get("instance")) for a in degraded] == [("exporter_down", second)]

    # The healthy shard's devices: a recovery resolves, a new outage fires.
    stack.firewall.restore(stack.devices[recovered], stack.devices[kept])
    stack.wait_notified("DeviceDown", "resolved", device=recovered)
    stack.firewall.drop(stack.devices[later])
    stack.wait_notified("DeviceDown", "firing", device=later)
    # The dead shard's device: nothing is known of it, so nothing resolves.
    time.sleep(3)
    assert not stack.notified("DeviceDown", "resolved", device=kept), stack.summary()
    assert kept in [a["device"] for a in stack.active("DeviceDown")]

    # The shard comes back (with its state): the device it reports up now resolves.
    stack.exporters[1] = stack.start_exporter(2)
    stack.wait_notified("DeviceDown", "resolved", device=kept)
    stack.firewall.restore(stack.devices[later])
    stack.wait_notified("DeviceDown", "resolved", device=later)
    time.sleep(3)
    for device in (kept, recovered, later):
        assert len(stack.notified("DeviceDown", "firing", device=device)) == 1, stack.summary()
        assert len(stack.notified("DeviceDown", "resolved", device=device)) == 1, stack.summary()


# A site split across the shards (by the stable hash): the router and the ATM on one, the
# switch the ATM sits behind on the other (checked below, from what Prometheus sees).
SPLIT = {"Zugdidi-Router": "127.48.1.1", "Zugdidi-Switch": "127.48.2.1",
         "Zugdidi-ATM": "127.48.3.1"}
QUIET = 8.0  # several probe cycles, scrapes and evaluations, and the group wait


@pytest.fixture
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get("WARDOPS_NETNS") != "1":
        pytest.skip("needs a private network namespace: run via scripts/test")
    running = Stack(tmp_path_factory.mktemp("split"), SPLIT, shards=2,
                    entries={"Zugdidi-ATM": {"parent": "Zugdidi-Switch"}})
    try:
        yield running
    finally:
        running.stop()


def test_a_parent_on_another_shard_still_cuts_its_device_off(netns: None, split: Stack) -> None:
    stack = split
    wait_for(lambda: len(owners(stack)) == len(SPLIT), timeout=DETECT,
             what="every device reported by one of the shards")
    by_instance = owners(stack)
    assert by_instance["Zugdidi-ATM"] == by_instance["Zugdidi-Router"] \
        != by_instance["Zugdidi-Switch"], by_instance
    atm_page = f"http://{by_instance['Zugdidi-ATM']}/"

    stack.firewall.drop(SPLIT["Zugdidi-Switch"], SPLIT["Zugdidi-ATM"])
    stack.wait_notified("DeviceDown", "firing", device="Zugdidi-Switch")
    time.sleep(QUIET)
    assert not stack.notified("DeviceDown", device="Zugdidi-ATM"), stack.summary()
    assert {a["device"] for a in stack.active("DeviceDown")} == {"Zugdidi-Switch"}
    assert not stack.notified("SiteDown"), stack.summary()
    # the ATM's shard cannot see the switch: its page says the parent is elsewhere
    page = requests.get(atm_page, timeout=5).text
    assert "parent on another shard (Zugdidi-Switch)" in page, page
    assert "parent down (Zugdidi-Switch)" not in page

    # The switch comes back, the ATM does not: now it pages, on its own.
    stack.firewall.restore(SPLIT["Zugdidi-Switch"])
    stack.wait_notified("DeviceDown", "firing", device="Zugdidi-ATM")
    stack.wait_notified("DeviceDown", "resolved", device="Zugdidi-Switch")
    stack.firewall.restore(SPLIT["Zugdidi-ATM"])
    stack.wait_notified("DeviceDown", "resolved", device="Zugdidi-ATM")
