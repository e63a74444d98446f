"""Maintenance windows of sites and devices (``maintenance:`` in the inventory).

A window is either recurring, in Alertmanager's time interval syntax (``time_intervals``:
``times``, ``weekdays``, ``days_of_month``, ``months``, ``years``, ``location``; parsed
by :mod:`wardops_common.timeinterval`, the alerter's own parser), or one-off, from
``start`` to ``end`` (RFC 3339 with an offset). The exporter only *says* when a window is
active (``wardops_maintenance_active``, the / page); it keeps probing, and every device's
up/down series stay its own truth. Muting is the alerter's: the default MaintenanceWindow
rule and its inhibit rules (docs/exporter.md, "Maintenance windows").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from wardops_common.readers import unknown_key
from wardops_common.text import text_problem
from wardops_common.timeinterval import TimeInterval, parse_time_interval
from wardops_common.yamlfile import ConfigError

_KEYS = {"name", "time_intervals", "start", "end"}


@dataclass(frozen=True, slots=True)
class Window:
    """One maintenance window; ``name`` is the reason people see (the ``window`` label)."""

    name: str
    intervals: tuple[TimeInterval, ...] = ()  # recurring: active while any contains now
    start: float | None = None  # one-off: Unix times, end exclusive
    end: float | None = None

    def active(self, now: float) -> bool:
        """Whether the window is active at Unix time ``now``."""
        if self.start is not None and self.end is not None:
            return self.start <= now < self.end
        when = datetime.fromtimestamp(now, UTC)
        return any(interval.contains(when) for interval in self.intervals)


def parse_windows(raw: Any, where: str) -> tuple[Window, ...]:
    """A ``maintenance`` list; :class:`ConfigError` naming ``where`` and the entry."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: maintenance: must be a list of windows ({{name: ..., "
                          "time_intervals: [...]} or {name: ..., start: ..., end: ...})")
    windows: list[Window] = []
    for index, body in enumerate(raw):
        windows.append(_parse_window(body, f"{where}: maintenance[{index}]"))
        if windows[-1].name in (w.name for w in windows[:-1]):
            raise ConfigError(f"{where}: maintenance[{index}]: name: "
                              f"{windows[-1].name!r} is not unique")
    return tuple(windows)


def _parse_window(body: Any, where: str) -> Window:
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where}: must be a mapping with name and time_intervals, or "
                          "name, start and end")
    for key in body:
        if key not in _KEYS:
            raise ConfigError(f"{where}: {key}: {unknown_key(str(key), _KEYS)}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name: missing (the reason shown, e.g. ups-replacement)")
    name = name.strip()
    problem = text_problem(name)
    if problem:
        raise ConfigError(f"{where}: name: {name!r} {problem}")
    where = f"{where} ({name})"
    one_off = "start" in body or "end" in body
    if one_off == ("time_intervals" in body):
        raise ConfigError(f"{where}: needs either time_intervals (recurring) or start and "
                          "end (one-off)")
    if one_off:
        start = _timestamp(body.get("start"), f"{where}: start")
        end = _timestamp(body.get("end"), f"{where}: end")
        if end <= start:
            raise ConfigError(f"{where}: end: {body['end']} is not after start "
                              f"{body['start']}")
        return Window(name=name, start=start, end=end)
    entries = body["time_intervals"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: time_intervals: must be a non-empty list (Alertmanager's "
                          "syntax: times, weekdays, days_of_month, months, years, location)")
    try:
        intervals = tuple(parse_time_interval(entry, f"time_intervals[{i}]")
                          for i, entry in enumerate(entries))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return Window(name=name, intervals=intervals)


def _timestamp(raw: Any, where: str) -> float:
    """An RFC 3339 time with an offset (``2026-12-06T08:00:00+04:00`` or ``...Z``).

    YAML reads an unquoted timestamp as a datetime already; both forms are accepted.
    """
    if raw is None:
        raise ConfigError(f"{where}: missing (RFC 3339, e.g. 2026-12-06T08:00:00+04:00)")
    if isinstance(raw, datetime):
        when = raw
    else:
        try:
            when = datetime.fromisoformat(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{where}: {raw!r} is not an RFC 3339 time (e.g. "
                              "2026-12-06T08:00:00+04:00)") from None
    if when.tzinfo is None:
        raise ConfigError(f"{where}: {raw!s} has no time zone offset (add Z or e.g. +04:00)")
    return when.timestamp()


class _WithWindows(Protocol):
    """A site or device as the collector reads it."""

    @property
    def name(self) -> str: ...
    @property
    def maintenance(self) -> tuple[Window, ...]: ...


class _Device(_WithWindows, Protocol):
    @property
    def address(self) -> str: ...
    @property
    def site(self) -> str: ...


def device_windows(device: _Device, sites: Mapping[str, _WithWindows],
                   now: float) -> list[str]:
    """Names of the windows active at ``now`` for ``device``: its site's, then its own."""
    site = sites.get(device.site)
    windows = [*(site.maintenance if site else ()), *device.maintenance]
    return [w.name for w in windows if w.active(now)]


class MaintenanceCollector:
    """``wardops_maintenance_active``: one series per configured window, 1 while active.

    A site's window carries ``site`` and ``window``; a device's also ``device`` and
    ``address`` (so inhibit rules can tell a whole site from one device).
    """

    def __init__(self, current: Callable[[], tuple[Mapping[str, _WithWindows],
                                                   Sequence[_Device]]],
                 clock: Callable[[], float] = time.time) -> None:
        self._current = current
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        """A fresh family from the running inventory, at the time of the scrape."""
        now = self._clock()
        sites, devices = self._current()
        family = GaugeMetricFamily(
            "wardops_maintenance_active",
            "1 while the maintenance window (window) of a site (site) or of one device "
            "(device, address) is active, else 0; one series per configured window.",
            labels=["site", "window"])
        for site in sites.values():
            for window in site.maintenance:
                family.add_metric([site.name, window.name], 1.0 if window.active(now) else 0.0)
        device_family = GaugeMetricFamily("wardops_maintenance_active", "",
                                          labels=["device", "address", "site", "window"])
        for device in devices:
            for window in device.maintenance:
                device_family.add_metric([device.name, device.address, device.site, window.name],
                                         1.0 if window.active(now) else 0.0)
        family.samples.extend(device_family.samples)
        yield family
