"""What the report asks Prometheus, in as few and as cheap queries as the truth allows.

1. The devices: ``/api/v1/series`` of ``wardops_device_info`` and ``wardops_device_up``
   (index only), so a device never seen up in the period is still in the report, at 0.
2. Per heat-strip cell (an hour for a month; at most 11,000 cells): each device's
   proven-up and known scrapes and each exporter's scrapes, three range queries of
   ``sum_over_time``/``count_over_time`` over windows that tile the period exactly
   (``[cell - 1ms]``, as the recording rules). Their sums are the period's figures.
3. The state at the period's start (one instant query, the last state in the hour before).
4. Raw samples only for the devices that were ever down, and only around the cells with
   a down scrape (``up`` and ``down_since``, one query per run of such cells): the
   outages, exact to the scrape.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from report.promapi import PromAPI, ReportError
from report.reconstruct import DeviceFigures, outages_of

#: how far before the period's start its state is read: the recording rules bridge an
#: exporter gap of up to an hour the same way (rules/recording/availability.yml)
LOOKBACK = 3600.0
#: a range query answers at most this many points per series
MAX_CELLS = 11_000
#: a device: job, instance, device, address (two inventory rows may share a name)
DeviceKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Scope:
    """What to report on: the period ``(start, end]`` and the label filters."""

    start: float
    end: float
    interval: float
    region: str | None = None
    site: str | None = None

    def selector(self, metric: str) -> str:
        """``metric{region="...",site="..."}`` with the filters."""
        matchers = [f"{k}={json.dumps(v)}" for k, v in (("region", self.region),
                                                        ("site", self.site)) if v]
        return metric + ("{" + ",".join(matchers) + "}" if matchers else "")


@dataclass
class Collected:
    """The devices' figures and the period's monitoring coverage."""

    devices: list[DeviceFigures]
    cell: float
    #: cell end times
    cell_ends: list[float]
    #: share of the period in which Prometheus scraped no exporter at all
    unscraped_share: float
    #: seconds at the period's start before Prometheus's first sample (retention)
    missing_head: float


def cell_size(start: float, end: float) -> float:
    """Heat-strip cell: an hour, or more so the period has at most MAX_CELLS; a whole
    number of milliseconds dividing the period, so the cells tile it exactly."""
    period_ms = round((end - start) * 1000)
    n = max(1, -(-period_ms // 3_600_000))
    while n <= MAX_CELLS * 10:
        if period_ms % n == 0 and n <= MAX_CELLS:
            return period_ms / n / 1000
        n += 1
    raise ReportError("the period cannot be cut into whole milliseconds; give --from/--to "
                      "on whole seconds")


def down_spans(up: list[float], known: list[float], down_at_start: bool
               ) -> list[tuple[int, int]]:
    """The cells ``(first, last)`` whose raw samples hold every transition of a device:
    each run of cells with a down scrape, from the cell before it (the state before) to
    the first cell after it with a sample (the scrape that proves it up again, however
    long a monitoring gap lies between). All-up cells between them hold no transition,
    so a month of a device with one outage reads a few hours of samples, not the month."""
    n = len(up)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < n:
        if up[i] < known[i] or (i == 0 and down_at_start):
            first = max(0, i - 1)
            j = i
            while j + 1 < n and (up[j + 1] < known[j + 1] or known[j + 1] == 0):
                j += 1
            last = min(n - 1, j + 1)
            if spans and first <= spans[-1][1]:
                first = spans.pop()[0]
            spans.append((first, last))
            i = last + 1
        else:
            i += 1
    return spans


def _key(labels: dict[str, str]) -> DeviceKey:
    return (labels.get("job", ""), labels.get("instance", ""), labels.get("device", ""),
            labels.get("address", ""))


def collect(api: PromAPI, scope: Scope, progress: Callable[[str], None]) -> Collected:
    """Query Prometheus and reconstruct every device's figures for ``scope``."""
    start, end = scope.start, scope.end
    cell = cell_size(start, end)
    n = round((end - start) / cell)
    ends = [start + cell * (i + 1) for i in range(n)]
    window = f"[{round(cell * 1000) - 1}ms]"
    per_cell = cell / scope.interval

    progress("listing devices")
    labels: dict[DeviceKey, dict[str, str]] = {}
    for metric in ("wardops_device_info", "wardops_device_up"):
        for found in api.series(scope.selector(metric), start, end):
            labels.setdefault(_key(found), found)
    if not labels:
        raise ReportError(f"Prometheus at {api.url} has no wardops devices in the period "
                          f"(wardops_device_info / wardops_device_up): wrong URL or filters, "
                          f"or the period is older than its retention")

    def cells(expr: str, key: Callable[[dict[str, str]], object]) -> dict[object, list[float]]:
        out: dict[object, list[float]] = {}
        for series in api.query_range(expr, start + cell, end, cell):
            row = out.setdefault(key(series.labels), [0.0] * n)
            for t, v in series.points:
                row[round((t - start) / cell) - 1] += v
        return out

    progress(f"{len(labels)} devices; reading {n} cells of {cell:g}s")
    ups = cells(f"sum_over_time({scope.selector('wardops_device_up')}{window})", _key)
    known = cells(f"count_over_time({scope.selector('wardops_device_up')}{window})", _key)
    jobs = sorted({k[0] for k in labels})
    job_regex = json.dumps("|".join(re.escape(j) for j in jobs))
    scrapes = cells(f"count_over_time(up{{job=~{job_regex}}}{window})",
                    lambda lab: (lab.get("job", ""), lab.get("instance", "")))
    any_scrape = [max((row[i] for row in scrapes.values()), default=0.0) for i in range(n)]
    head = next((i for i, v in enumerate(any_scrape) if v > 0), n)
    unscraped = sum(1 for v in any_scrape if v < per_cell * 0.5)

    down_at_start = {_key(s.labels) for s in api.query(
        f"last_over_time({scope.selector('wardops_device_up')}[1h]) == 0", start)}
    devices: list[DeviceFigures] = []
    for key, lab in labels.items():
        up_row = ups.get(key, [0.0] * n)
        known_row = known.get(key, [0.0] * n)
        scrape_row = scrapes.get(key[:2], [0.0] * n)
        denominators = [max(s, per_cell) for s in scrape_row]
        devices.append(DeviceFigures(
            device=key[2], address=lab.get("address", ""), site=lab.get("site", ""),
            region=lab.get("region", ""), type=lab.get("type", ""),
            up_scrapes=round(sum(up_row)), known_scrapes=round(sum(known_row)),
            expected_scrapes=round(sum(denominators)), interval=scope.interval,
            period=end - start,
            cells=[u / d for u, d in zip(up_row, denominators)],
            known_cells=[k / d for k, d in zip(known_row, denominators)]))

    # Only a device with a down scrape (or down as the period began) had outages.
    ever_down = [(d, key, up_rows, known_rows) for d, key, up_rows, known_rows in
                 ((d, k, ups.get(k, [0.0] * n), known.get(k, [0.0] * n))
                  for d, k in zip(devices, labels))
                 if key in down_at_start or d.up_scrapes < d.known_scrapes]
    for i, (dev, key, up_row, known_row) in enumerate(ever_down, 1):
        if i == 1 or i % 50 == 0 or i == len(ever_down):
            progress(f"outages: device {i}/{len(ever_down)}")
        match = ",".join(f"{k}={json.dumps(v)}" for k, v in
                         zip(("job", "instance", "device", "address"), key))
        raw: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for first, last in down_spans(up_row, known_row, key in down_at_start):
            since = start + first * cell - (LOOKBACK if first == 0 else 0)
            until = start + (last + 1) * cell
            for series in api.query(
                    '{__name__=~"wardops_device_up|wardops_device_down_since_timestamp_seconds",'
                    f"{match}}}[{round((until - since) * 1000) - 1}ms]", until):
                raw[series.labels["__name__"]].extend(series.points)
        dev.outages = outages_of(sorted(set(raw["wardops_device_up"])),
                                 raw["wardops_device_down_since_timestamp_seconds"],
                                 start, end)
    return Collected(devices=devices, cell=cell, cell_ends=ends,
                     unscraped_share=unscraped / n, missing_head=head * cell)
