"""Maintenance windows of the inventory, with a real clock and real outages: while a
device's (or a site's) window is active nothing is paged, the alerts are visible in the
alerter's Alertmanager API as suppressed by the MaintenanceWindow alert naming the window
(and on the alerter's / page), the device's own up/down series stay truthful, and an
outage still there when the window ends is notified once, then. Both kinds of window: a
one-off (start, end) and a recurring one (Alertmanager's syntax, in a time zone).

The alerter runs the default rules and examples/alerter.yml's maintenance route and
inhibit rules (so the shipped example is what is tested).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml
from faultstack import Stack
from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO, wait_for

DEVICES = {"Gori-Router": "127.47.1.1", "Gori-ATM": "127.47.1.2",
           "Poti-Router": "127.47.2.1", "Poti-Switch": "127.47.2.2"}
# from window start: long enough to see the alerts muted on a loaded machine (the test
# checks it was), short enough to wait for its end
WINDOW = 25.0
QUIET = 6.0


def example_maintenance_config() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """examples/alerter.yml's MaintenanceWindow routes and inhibit rules."""
    example = yaml.safe_load((REPO / "examples" / "alerter.yml").read_text())
    routes = [r for r in example["route"]["routes"]
              if any("MaintenanceWindow" in m for m in r["matchers"])]
    inhibit = [r for r in example["inhibit_rules"]
               if any("MaintenanceWindow" in m for m in r["source_matchers"])]
    assert routes and len(inhibit) == 2
    return routes, inhibit


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get("WARDOPS_NETNS") != "1":
        pytest.skip("needs a private network namespace: run via scripts/test")
    routes, inhibit = example_maintenance_config()
    running = Stack(tmp_path_factory.mktemp("maint"), DEVICES, routes=routes,
                    inhibit_rules=inhibit)
    try:
        yield running
    finally:
        running.stop()


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def am_alerts(stack: Stack) -> list[dict[str, Any]]:
    """The alerter's alerts as Alertmanager's API v2 lists them."""
    response = requests.get(f"http://127.0.0.1:{stack.alerter_port}/api/v2/alerts", timeout=5)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return alerts


def muted_by_window(stack: Stack, alertname: str, **labels: str) -> str:
    """The ``window`` of the MaintenanceWindow alert that suppresses the alert, or ""."""
    alerts = am_alerts(stack)
    by_fingerprint = {a["fingerprint"]: a["labels"] for a in alerts}
    for alert in alerts:
        if alert["labels"]["alertname"] != alertname or any(
                alert["labels"].get(k) != v for k, v in labels.items()):
            continue
        if alert["status"]["state"] != "suppressed":
            return ""
        sources = [by_fingerprint.get(fp, {}) for fp in alert["status"]["inhibitedBy"]]
        return ",".join(s.get("window", "") for s in sources
                        if s.get("alertname") == "MaintenanceWindow")
    return ""


def test_window_mutes_then_notifies_once_when_it_ends(netns: None, stack: Stack) -> None:
    start = time.time()
    end = start + WINDOW
    window = [{"name": "ups-replacement", "start": rfc3339(start - 1), "end": rfc3339(end)}]
    stack.entries["Gori-ATM"] = {"maintenance": window}
    stack.write_inventory(sites={"Poti": {"maintenance": [
        {"name": "branch-rewiring", "start": rfc3339(start - 1), "end": rfc3339(end)}]}})
    stack.exporter.signal(signal.SIGHUP)
    wait_for(lambda: len(stack.active("MaintenanceWindow")) == 2, timeout=20,
             what="MaintenanceWindow firing for the ATM and the site")
    metrics = requests.get(f"http://127.0.0.1:{stack.exporter_ports[0]}/metrics",
                           timeout=5).text
    served = {tuple(sorted(s.labels.items())): s.value
              for f in text_string_to_metric_families(metrics)
              if f.name == "wardops_maintenance_active" for s in f.samples}
    assert served == {
        (("address", "127.47.1.2"), ("device", "Gori-ATM"), ("site", "Gori"),
         ("window", "ups-replacement")): 1.0,
        (("site", "Poti"), ("window", "branch-rewiring")): 1.0}

    stack.firewall.drop(DEVICES["Gori-ATM"], DEVICES["Poti-Router"], DEVICES["Poti-Switch"])
    wait_for(lambda: muted_by_window(stack, "DeviceDown", device="Gori-ATM")
             and muted_by_window(stack, "SiteDown", site="Poti"), timeout=20,
             what="DeviceDown and SiteDown visible as muted by their windows")
    assert muted_by_window(stack, "DeviceDown", device="Gori-ATM") == "ups-replacement"
    assert muted_by_window(stack, "SiteDown", site="Poti") == "branch-rewiring"
    # never a false green: the device's own series say down throughout
    down = {r["metric"]["device"] for r in stack.prom.query("wardops_device_up == 0")}
    assert down == {"Gori-ATM", "Poti-Router", "Poti-Switch"}
    time.sleep(QUIET)
    assert time.time() < end - 1, "the machine was too slow to see the window's inside"
    assert not [line for line in stack.summary() if "Watchdog" not in line], stack.summary()

    # The window ends with both still down: each is notified, once.
    stack.wait_notified("DeviceDown", "firing", device="Gori-ATM")
    stack.wait_notified("SiteDown", "firing", site="Poti")
    assert time.time() >= end
    time.sleep(QUIET)
    assert len(stack.notified("DeviceDown", "firing", device="Gori-ATM")) == 1, stack.summary()
    assert len(stack.notified("SiteDown", "firing", site="Poti")) == 1, stack.summary()
    assert not stack.notified("MaintenanceWindow"), "the window itself is not news"
    assert not muted_by_window(stack, "DeviceDown", device="Gori-ATM")

    stack.firewall.restore(DEVICES["Gori-ATM"], DEVICES["Poti-Router"], DEVICES["Poti-Switch"])
    stack.wait_notified("DeviceDown", "resolved", device="Gori-ATM")
    stack.wait_notified("SiteDown", "resolved", site="Poti")


def recurring(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """``time_intervals`` entries (weekday and times in ``start``'s zone) covering
    ``start`` to ``end`` on whole minutes, split at midnight (24:00 is its end)."""
    zone = str(start.tzinfo)
    if end.date() == start.date() or end == end.replace(hour=0, minute=0):
        end_time = f"{end:%H:%M}" if end.date() == start.date() else "24:00"
        return [{"weekdays": [f"{start:%A}".lower()], "location": zone,
                 "times": [{"start_time": f"{start:%H:%M}", "end_time": end_time}]}]
    return [{"weekdays": [f"{start:%A}".lower()], "location": zone,
             "times": [{"start_time": f"{start:%H:%M}", "end_time": "24:00"}]},
            {"weekdays": [f"{end:%A}".lower()], "location": zone,
             "times": [{"start_time": "00:00", "end_time": f"{end:%H:%M}"}]}]


def alerter_page(stack: Stack) -> str:
    response = requests.get(f"http://127.0.0.1:{stack.alerter_port}/", timeout=5)
    response.raise_for_status()
    return response.text


def test_a_recurring_window_in_a_time_zone_through_the_whole_stack(netns: None,
                                                                   stack: Stack) -> None:
    """A recurring device window in Tbilisi time (today's weekday there, from this minute
    to a minute boundary at least 30 s away; UTC+4, so a window read in the wrong zone
    would not be open): exporter -> Prometheus -> alerter -> webhook, nothing paged while
    it is open, the alert muted by it in API v2 and on the / page, one notification when
    it closes with the switch still down, and the resolve."""
    began = time.time()
    now = datetime.now(ZoneInfo("Asia/Tbilisi"))
    start = now.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=1 if now.second < 30 else 2)
    stack.entries = {"Poti-Switch": {"maintenance": [
        {"name": "switch-firmware", "time_intervals": recurring(start, end)}]}}
    stack.write_inventory()
    stack.exporter.signal(signal.SIGHUP)
    wait_for(lambda: [w for w in stack.active("MaintenanceWindow")
                      if w.get("window") == "switch-firmware"], timeout=20,
             what="MaintenanceWindow firing for the switch's recurring window")

    stack.firewall.drop(DEVICES["Poti-Switch"])
    wait_for(lambda: muted_by_window(stack, "DeviceDown", device="Poti-Switch"), timeout=20,
             what="DeviceDown visible as muted by the recurring window")
    assert muted_by_window(stack, "DeviceDown", device="Poti-Switch") == "switch-firmware"
    page = alerter_page(stack)
    assert "Poti-Switch" in page and "inhibited by MaintenanceWindow window=switch-firmware" \
        in page, page
    down = {r["metric"]["device"] for r in stack.prom.query("wardops_device_up == 0")}
    assert down == {"Poti-Switch"}
    time.sleep(QUIET)
    assert time.time() < end.timestamp() - 1, "too slow to see the window's inside"
    paged = [t for t in stack.notified("DeviceDown", device="Poti-Switch") if t >= began]
    assert not paged, stack.summary()

    # The window closes with the switch still down: notified then, once (and not before:
    # the first notification's time is checked below).
    time.sleep(max(0.0, end.timestamp() - time.time()))

    def fired() -> list[float]:
        return [t for t in stack.notified("DeviceDown", "firing", device="Poti-Switch")
                if t >= began]
    wait_for(fired, timeout=30, what=f"the switch's DeviceDown after the window ({stack.summary()})")
    time.sleep(QUIET)
    assert len(fired()) == 1 and fired()[0] >= end.timestamp(), stack.summary()
    assert not muted_by_window(stack, "DeviceDown", device="Poti-Switch")
    assert "inhibited by MaintenanceWindow" not in alerter_page(stack)
    assert not [t for t in stack.notified("MaintenanceWindow") if t >= began]

    stack.firewall.restore(DEVICES["Poti-Switch"])
    wait_for(lambda: [t for t in stack.notified("DeviceDown", "resolved", device="Poti-Switch")
                      if t >= began], timeout=30, what="the switch's resolve")
