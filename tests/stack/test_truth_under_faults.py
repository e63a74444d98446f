"""Truth under faults, for real: unknown never resolves, lost history neither resolves nor
re-fires.

Inside the test's network namespace: an exporter probes five loopback devices every
second, a real Prometheus scrapes it every second, the alerter evaluates the default
rules (rules/wardops.yml) with their windows shortened (10m → 20s, 5m → 30s, 2m → 10s,
so the tests wait seconds where production waits minutes) and notifies the demo sink.

- Exporter restarted without its state file while a device and a whole site are down
  and cannot be probed (blackhole routes): wardops_device_up is absent (unknown). On
  the old alerter DeviceDown and SiteDown resolved once the rules' last_over_time window
  had passed; here they stay firing, also across a kill -9 of the alerter, until the
  devices are seen up.
- Prometheus restarted with an empty TSDB while a device keeps flapping: on the old
  alerter the receiver got "resolved DeviceFlapping", "firing DeviceDown", "resolved
  DeviceDown", "firing DeviceFlapping". Here DeviceFlapping is held (MonitoringDegraded
  cause=history_lost says why), DeviceDown stays inhibited by it, and it resolves once,
  after the flapping stops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from faultstack import DETECT, Flapper, Stack

from tests.snmp.agent import ip
from tests.support import wait_for

DEVICES = {"Kazbegi-Router": "127.41.1.1", "Kazbegi-ATM": "127.41.1.2",
           "Mestia-Router": "127.41.2.1", "Mestia-ATM": "127.41.2.2",
           "Ozurgeti-Router": "127.41.3.1"}
SITES = {name: name.split("-")[0] for name in DEVICES}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get("WARDOPS_NETNS") != "1":
        pytest.skip("needs a private network namespace: run via scripts/test")
    running = Stack(tmp_path_factory.mktemp("truth"), DEVICES)
    try:
        yield running
    finally:
        running.stop()


def test_unknown_never_resolves_device_down_or_site_down(netns: None, stack: Stack) -> None:
    device, site = "Ozurgeti-Router", "Mestia"
    members = [n for n, s in SITES.items() if s == site]
    dark = [DEVICES[device], *(DEVICES[n] for n in members)]
    stack.firewall.drop(*dark)
    stack.wait_notified("DeviceDown", "firing", device=device)
    stack.wait_notified("SiteDown", "firing", site=site)

    # The exporter forgets everything, and can no longer probe them: unknown, not up.
    stack.exporter.stop()
    stack.state_file().unlink()
    routes = [["blackhole", address, "table", "local"] for address in dark]
    for route in routes:
        ip("route", "add", *route)
    try:
        stack.exporter = stack.start_exporter()
        wait_for(lambda: stack.prom.query(
            f'wardops_device_probe_failing{{device="{device}", reason="unreachable"}}'),
            timeout=DETECT, what=f"{device}'s probes failing in Prometheus")
        assert not stack.prom.query(f'wardops_device_up{{device="{device}"}}')
        # Well past the rules' 20 s last_over_time window (the old alerter resolved here),
        # with a kill -9 of the alerter in the middle: the alerts stay firing.
        time.sleep(15)
        stack.alerter.stop(kill=True)
        stack.alerter = stack.start_alerter()
        time.sleep(20)
        assert not stack.prom.query(
            f'last_over_time(wardops_device_up{{device="{device}"}}[20s])'), \
            "the window has passed: only the alerter's hold keeps the alert"
        assert not stack.notified("DeviceDown", "resolved", device=device), stack.summary()
        assert not stack.notified("SiteDown", "resolved", site=site), stack.summary()
        # Mestia-ATM is behind Mestia-Router (the site's router, its default parent): cut
        # off, not broken, so it never had a DeviceDown of its own (docs/exporter.md,
        # "Dependencies"); the routers' DeviceDown and the site's SiteDown are held.
        routers = [n for n in members if n.endswith("-Router")]
        assert sorted(a["device"] for a in stack.active("DeviceDown")) == \
            sorted([device, *routers])
        assert [a["site"] for a in stack.active("SiteDown")] == [site]
        assert stack.held("no_evidence") == len(routers) + 2
    finally:
        for route in routes:
            ip("route", "del", *route)
    # Seen up again: each resolves, once.
    stack.firewall.restore(*dark)
    stack.wait_notified("DeviceDown", "resolved", device=device)
    stack.wait_notified("SiteDown", "resolved", site=site)
    time.sleep(3)
    assert len(stack.notified("DeviceDown", "firing", device=device)) == 1, stack.summary()
    assert len(stack.notified("DeviceDown", "resolved", device=device)) == 1, stack.summary()
    assert len(stack.notified("SiteDown", "resolved", site=site)) == 1, stack.summary()
    assert not stack.notified("DeviceDown", site=site), "SiteDown inhibits its devices"


def test_lost_history_neither_resolves_nor_refires(netns: None, stack: Stack) -> None:
    device = "Kazbegi-ATM"
    flapper = Flapper(stack.firewall, DEVICES[device], period=3.0)
    try:
        stack.wait_notified("DeviceFlapping", "firing", device=device)
        before = len(stack.notified("DeviceDown", device=device))
        stack.restart_prometheus_empty()
        wait_for(lambda: stack.prom.query('up{job="wardops-exporter"} == 1'), timeout=30,
                 what="the new Prometheus scraping the exporter")
        # The alerter says it cannot see the history it would need to resolve.
        wait_for(lambda: [a for a in stack.active("MonitoringDegraded")
                          if a.get("cause") == "history_lost"],
                 timeout=DETECT, what="MonitoringDegraded cause=history_lost")
        time.sleep(35)  # past the 30 s lookback: the history is whole again
        assert not stack.notified("DeviceFlapping", "resolved", device=device), stack.summary()
        assert len(stack.notified("DeviceFlapping", "firing", device=device)) == 1, \
            stack.summary()
        assert len(stack.notified("DeviceDown", device=device)) == before, stack.summary()
    finally:
        flapper.stop()
    # Steady again: DeviceFlapping resolves once its window has no changes.
    stack.wait_notified("DeviceFlapping", "resolved", device=device)
    wait_for(lambda: not [a for a in stack.active("MonitoringDegraded")
                          if a.get("cause") == "history_lost"],
             timeout=DETECT, what="MonitoringDegraded history_lost over")
    time.sleep(3)
    assert len(stack.notified("DeviceFlapping", "resolved", device=device)) == 1, stack.summary()
