"""Maintenance windows of the inventory, pure: parsing (with its errors) and when a window
is active, at chosen times (a time zone through `location`); and the served series."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry

from exporter.config import ConfigError, load_inventory
from exporter.maintenance import MaintenanceCollector, device_windows, parse_windows
from tests.exporter.conftest import Lab
from tests.support import wait_for

TBILISI = ZoneInfo("Asia/Tbilisi")  # UTC+4, no daylight saving


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_recurring_window_in_its_time_zone() -> None:
    (window,) = parse_windows([{"name": "weekly", "time_intervals": [
        {"weekdays": ["saturday"], "times": [{"start_time": "23:00", "end_time": "24:00"}],
         "location": "Asia/Tbilisi"}]}], "x")
    # 2026-12-05 is a Saturday; 23:00 in Tbilisi is 19:00 UTC
    assert not window.active(at("2026-12-05T18:59:59+00:00"))
    assert window.active(at("2026-12-05T19:00:00+00:00"))
    assert window.active(at("2026-12-05T23:59:59+04:00"))
    assert not window.active(at("2026-12-06T00:00:00+04:00"))  # end excluded
    assert not window.active(datetime(2026, 12, 12, 22, 0, tzinfo=TBILISI).timestamp())
    assert window.active(datetime(2026, 12, 12, 23, 30, tzinfo=TBILISI).timestamp())


def test_one_off_window_from_start_to_end() -> None:
    (window,) = parse_windows([{"name": "ups", "start": "2026-12-08T09:00:00+04:00",
                                "end": "2026-12-08T12:00:00+04:00"}], "x")
    assert not window.active(at("2026-12-08T04:59:59Z"))
    assert window.active(at("2026-12-08T05:00:00Z"))
    assert not window.active(at("2026-12-08T08:00:00Z"))


@pytest.mark.parametrize(("raw", "message"), [
    ([{"name": "a", "start": "2026-12-08T09:00:00+04:00"}],
     "x: maintenance[0] (a): end: missing (RFC 3339, e.g. 2026-12-06T08:00:00+04:00)"),
    ([{"name": "a", "start": "2026-12-08T09:00:00", "end": "2026-12-08T10:00:00Z"}],
     "x: maintenance[0] (a): start: 2026-12-08T09:00:00 has no time zone offset (add Z or "
     "e.g. +04:00)"),
    ([{"name": "a", "start": "2026-12-08T10:00:00Z", "end": "2026-12-08T09:00:00Z"}],
     "x: maintenance[0] (a): end: 2026-12-08T09:00:00Z is not after start "
     "2026-12-08T10:00:00Z"),
    ([{"name": "a", "start": "monday", "end": "2026-12-08T09:00:00Z"}],
     "x: maintenance[0] (a): start: 'monday' is not an RFC 3339 time (e.g. "
     "2026-12-06T08:00:00+04:00)"),
    ([{"name": "a"}], "x: maintenance[0] (a): needs either time_intervals (recurring) or "
                      "start and end (one-off)"),
    ([{"name": "a", "time_intervals": [{"weekdays": ["caturday"]}]}],
     "x: maintenance[0] (a): time_intervals[0].weekdays[0]: caturday is not a valid weekday"),
    ([{"name": "a", "time_intervals": [{"location": "Mars/Olympus"}]}],
     "x: maintenance[0] (a): time_intervals[0].location: unknown time zone Mars/Olympus"),
    ([{"start": "2026-12-08T09:00:00Z"}],
     "x: maintenance[0]: name: missing (the reason shown, e.g. ups-replacement)"),
    ([{"name": "a", "time_intervals": [{}]}, {"name": "a", "time_intervals": [{}]}],
     "x: maintenance[1]: name: 'a' is not unique"),
    ([{"name": "a", "times": []}], "x: maintenance[0]: times: unknown key (known: end, name, "
                                   "start, time_intervals)"),
    ({"name": "a"}, "x: maintenance: must be a list of windows ({name: ..., time_intervals: "
                    "[...]} or {name: ..., start: ..., end: ...})"),
])
def test_bad_windows_are_refused_naming_the_entry(raw: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_windows(raw, "x")
    assert str(err.value) == message


def test_site_and_device_windows_are_served_and_shown(tmp_path: Path) -> None:
    path = tmp_path / "devices.yml"
    path.write_text("""
sites:
  A:
    maintenance:
      - {name: rewiring, start: '2026-12-08T09:00:00Z', end: '2026-12-08T10:00:00Z'}
  B: {}
devices:
  - {name: A-ATM, address: 127.0.1.2, site: A}
  - name: B-ATM
    address: 127.0.2.2
    site: B
    maintenance:
      - {name: ups, start: '2026-12-08T09:30:00Z', end: '2026-12-08T11:00:00Z'}
  - {name: B-NVR, address: 127.0.2.3, site: B}
""")
    inventory = load_inventory(path)
    now = at("2026-12-08T09:45:00Z")
    registry = CollectorRegistry()
    registry.register(MaintenanceCollector(lambda: (inventory.sites, inventory.devices),
                                           clock=lambda: now))
    value = registry.get_sample_value
    assert value("wardops_maintenance_active", {"site": "A", "window": "rewiring"}) == 1
    assert value("wardops_maintenance_active", {"device": "B-ATM", "address": "127.0.2.2",
                                                "site": "B", "window": "ups"}) == 1
    assert value("wardops_maintenance_active", {"device": "B-NVR", "address": "127.0.2.3",
                                                "site": "B", "window": "ups"}) is None
    shown = {d.name: device_windows(d, inventory.sites, now) for d in inventory.devices}
    assert shown == {"A-ATM": ["rewiring"], "B-ATM": ["ups"], "B-NVR": []}
    later = at("2026-12-08T10:30:00Z")
    assert {d.name: device_windows(d, inventory.sites, later)
            for d in inventory.devices} == {"A-ATM": [], "B-ATM": ["ups"], "B-NVR": []}


def test_a_recurring_window_opens_and_closes_on_the_real_clock(lab: Lab) -> None:
    """A one-minute window in Tbilisi time (today's weekday there, this or the next
    minute): the running exporter serves 1 inside it and 0 from its end on."""
    now = datetime.now(TBILISI)
    if now.second > 40:  # too little of this minute left to see it open: take the next
        now = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    start = now.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=1)
    weekday = start.strftime("%A").lower()
    end_time = "24:00" if end.day != start.day else f"{end:%H:%M}"  # Alertmanager's midnight
    lab.write_config(f"""
probe: {{interval: 1s, timeout: 500ms, count: 1}}
sites:
  Gori:
    maintenance:
      - name: minute
        time_intervals:
          - weekdays: [{weekday}]
            times: [{{start_time: '{start:%H:%M}', end_time: '{end_time}'}}]
            location: Asia/Tbilisi
devices:
  - {{name: Gori-ATM, address: 127.0.0.1, site: Gori}}
""")
    exporter = lab.start()

    def served() -> float | None:
        return exporter.value("wardops_maintenance_active", site="Gori", window="minute")

    wait_for(lambda: served() == 1, timeout=90, interval=0.2, what="the window open")
    assert time.time() >= start.timestamp()
    wait_for(lambda: served() == 0, timeout=90, interval=0.2, what="the window closed")
    closed = time.time()
    assert end.timestamp() <= closed < end.timestamp() + 2
