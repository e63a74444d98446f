"""Device dependencies with real probes: a switch down pages for the switch only, the
branch router down raises SiteDown only, a device behind two routers is cut off only
when both are down.

Inside the test's network namespace: an exporter probes loopback "devices" every second
(nftables drops make outages), a real Prometheus scrapes it, the alerter evaluates the
default rules (windows shortened, stackparts.fast_alerting_rules) with the SiteDown
inhibit rule, and the demo sink records every notification.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from faultstack import Stack

from tests.support import wait_for

DEVICES = {"Zugdidi-Router": "127.46.1.1", "Zugdidi-Switch": "127.46.1.2",
           "Zugdidi-ATM": "127.46.1.3", "Zugdidi-NVR": "127.46.1.4",
           "Rustavi-Router": "127.46.2.1", "Rustavi-Router2": "127.46.2.2",
           "Rustavi-Switch": "127.46.2.3"}
# the ATM and the NVR sit behind the switch, which (by default) sits behind the router;
# the Rustavi switch is behind both of its site's routers (the default)
ENTRIES: dict[str, dict[str, object]] = {
    "Zugdidi-ATM": {"parent": "Zugdidi-Switch"}, "Zugdidi-NVR": {"parent": "Zugdidi-Switch"},
    "Rustavi-Router2": {"type": "router"}}
# Long enough for a wrong notification to arrive: several probe cycles, scrapes and
# evaluations (1 s each) plus the group wait (2 s).
QUIET = 8.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get("WARDOPS_NETNS") != "1":
        pytest.skip("needs a private network namespace: run via scripts/test")
    running = Stack(tmp_path_factory.mktemp("deps"), DEVICES, entries=ENTRIES)
    try:
        yield running
    finally:
        running.stop()


def down_devices(stack: Stack) -> set[str]:
    """Devices with a DeviceDown the sink received as firing."""
    return {name for name in DEVICES if stack.notified("DeviceDown", "firing", device=name)}


def recover(stack: Stack, *names: str) -> None:
    """Restore ``names`` and wait until Prometheus sees every one of them up again."""
    stack.firewall.restore(*(DEVICES[n] for n in names))
    wait_for(lambda: all(stack.prom.query(f'wardops_device_up{{device="{n}"}} == 1')
                         for n in names), timeout=30, what=f"{names} up again")


def test_parent_info_is_served_and_scraped(netns: None, stack: Stack) -> None:
    edges = {(r["metric"]["device"], r["metric"]["parent"])
             for r in stack.prom.query("wardops_device_parent_info")}
    assert edges == {("Zugdidi-Switch", "Zugdidi-Router"), ("Zugdidi-ATM", "Zugdidi-Switch"),
                     ("Zugdidi-NVR", "Zugdidi-Switch"), ("Rustavi-Switch", "Rustavi-Router"),
                     ("Rustavi-Switch", "Rustavi-Router2")}


def test_switch_down_pages_for_the_switch_only(netns: None, stack: Stack) -> None:
    behind = ("Zugdidi-Switch", "Zugdidi-ATM", "Zugdidi-NVR")
    stack.firewall.drop(*(DEVICES[n] for n in behind))
    stack.wait_notified("DeviceDown", "firing", device="Zugdidi-Switch")
    time.sleep(QUIET)
    assert down_devices(stack) == {"Zugdidi-Switch"}, stack.summary()
    assert not stack.notified("SiteDown"), stack.summary()
    firing = {a["device"] for a in stack.active("DeviceDown")}
    assert firing == {"Zugdidi-Switch"}, "cut-off devices raise no alert at all"
    # the exporter still tells the truth about every one of them
    down = {r["metric"]["device"] for r in stack.prom.query("wardops_device_up == 0")}
    assert down == set(behind)

    # The switch comes back, the ATM does not: now it pages, on its own.
    recover(stack, "Zugdidi-Switch", "Zugdidi-NVR")
    stack.wait_notified("DeviceDown", "firing", device="Zugdidi-ATM")
    stack.wait_notified("DeviceDown", "resolved", device="Zugdidi-Switch")
    recover(stack, "Zugdidi-ATM")
    stack.wait_notified("DeviceDown", "resolved", device="Zugdidi-ATM")
    assert not stack.notified("DeviceDown", device="Zugdidi-NVR"), stack.summary()


def test_router_down_raises_site_down_only(netns: None, stack: Stack) -> None:
    before = len(stack.notified("DeviceDown", "firing", site="Zugdidi"))
    site = [n for n in DEVICES if n.startswith("Zugdidi-")]
    stack.firewall.drop(*(DEVICES[n] for n in site))
    stack.wait_notified("SiteDown", "firing", site="Zugdidi")
    time.sleep(QUIET)
    assert len(stack.notified("DeviceDown", "firing", site="Zugdidi")) == before, \
        stack.summary()
    assert not stack.active("DeviceDown") or {
        a["device"] for a in stack.active("DeviceDown")} == {"Zugdidi-Router"}, \
        "only the router's own DeviceDown fires (inhibited by SiteDown); its devices' not"
    recover(stack, *site)
    stack.wait_notified("SiteDown", "resolved", site="Zugdidi")


def test_two_routers_cut_off_only_when_both_are_down(netns: None, stack: Stack) -> None:
    stack.firewall.drop(DEVICES["Rustavi-Router"], DEVICES["Rustavi-Switch"])
    # the other router still answers: the switch is broken, not cut off
    stack.wait_notified("DeviceDown", "firing", device="Rustavi-Switch")
    stack.wait_notified("DeviceDown", "firing", device="Rustavi-Router")
    stack.firewall.drop(DEVICES["Rustavi-Router2"])
    stack.wait_notified("SiteDown", "firing", site="Rustavi")
    time.sleep(QUIET)
    assert not stack.notified("DeviceDown", device="Rustavi-Router2"), stack.summary()
    recover(stack, "Rustavi-Router", "Rustavi-Router2", "Rustavi-Switch")
    stack.wait_notified("SiteDown", "resolved", site="Rustavi")
