"""What the report asks Prometheus, in as few and as cheap queries as the truth allows.

1. The devices: ``/api/v1/series`` of ``wardops_device_info`` and ``wardops_device_up``
   (index only), so a device never seen up in the period is still in the report, at 0.
2. Per heat-strip cell (an hour for a month; at most 11,000 cells): each device's
   proven-up and known scrapes and each exporter's scrapes, three range queries of
   ``sum_over_time``/``count_over_time`` over windows that tile the period exactly
   (``[cell - 1ms]``, as the recording rules). Their sums are the period's figures.
3. The state at the period's start (one instant query, the last state in the hour before).
4. Per cell, each device's state-change counter at the cell's end (one range query of
   the plain series, a sample a cell): a cell where it moved without a down scrape holds
   an outage no scrape saw.
5. Raw samples only for the devices that were ever down or whose counter moved, and only
   around those cells (``up``, ``down_since`` and the counter, one query per run of such
   cells): the outages, exact to the scrape.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from report.promapi import PromAPI, ReportError
from report.reconstruct import DeviceFigures, outages_of, unseen_outages

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


def change_spans(moved: list[bool], known: list[float]) -> list[tuple[int, int]]:
    """The cells ``(first, last)`` to read around each cell whose state-change counter
    moved: from the last earlier cell with a sample (the scrape before the change), or
    from the period's start with its lookback when there is none, to the cell itself."""
    spans = []
    last_known = 0
    for i, m in enumerate(moved):
        if m:
            spans.append((last_known, i))
        if known[i] > 0:
            last_known = i
    return spans


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans of cells, joined."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


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
    # the state-change counter at each cell's last scrape, and before the period
    counter = scope.selector("wardops_device_state_changes_total")
    counted: dict[DeviceKey, list[float | None]] = {}
    # the counter's last value at each cell's end (Prometheus's 5-minute lookback): one
    # sample a cell, where last_over_time over the cell would read every scrape
    for series in api.query_range(counter, start + cell, end, cell):
        row = counted.setdefault(_key(series.labels), [None] * n)
        for t, v in series.points:
            row[round((t - start) / cell) - 1] = v
    counter_before = {_key(s.labels): s.points[0][1] if s.points else 0.0
                      for s in api.query(f"last_over_time({counter}[1h])", start)}

    def moved(key: DeviceKey) -> list[bool]:
        value = counter_before.get(key, 0.0)
        out = []
        for v in counted.get(key, [None] * n):
            out.append(v is not None and v != value)
            value = value if v is None else v
        return out

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

    # Only a device with a down scrape, down as the period began, or whose state-change
    # counter moved had outages.
    ever_down = [(d, key, up_rows, known_rows, moves) for d, key, up_rows, known_rows, moves in
                 ((d, k, ups.get(k, [0.0] * n), known.get(k, [0.0] * n), moved(k))
                  for d, k in zip(devices, labels))
                 if key in down_at_start or d.up_scrapes < d.known_scrapes or any(moves)]
    for i, (dev, key, up_row, known_row, moves) in enumerate(ever_down, 1):
        if i == 1 or i % 50 == 0 or i == len(ever_down):
            progress(f"outages: device {i}/{len(ever_down)}")
        match = ",".join(f"{k}={json.dumps(v)}" for k, v in
                         zip(("job", "instance", "device", "address"), key))
        raw: dict[str, list[tuple[float, float]]] = defaultdict(list)
        spans = merge_spans(down_spans(up_row, known_row, key in down_at_start)
                            + change_spans(moves, known_row))
        for first, last in spans:
            since = start + first * cell - (LOOKBACK if first == 0 else 0)
            until = start + (last + 1) * cell
            for series in api.query(
                    '{__name__=~"wardops_device_up|wardops_device_down_since_timestamp_seconds'
                    f'|wardops_device_state_changes_total",{match}}}'
                    f"[{round((until - since) * 1000) - 1}ms]", until):
                raw[series.labels["__name__"]].extend(series.points)
        up_points = sorted(set(raw["wardops_device_up"]))
        since_points = raw["wardops_device_down_since_timestamp_seconds"]
        dev.outages = outages_of(up_points, since_points, start, end)
        # The reads begin with the device's first sample and there is none in the hour
        # before the period: new (or long unknown), counted as coming from up.
        first_known = next((i for i, k in enumerate(known_row) if k > 0), n)
        known_before = key in counter_before or bool(spans) and spans[0][0] > first_known
        dev.unseen = unseen_outages(up_points, since_points,
                                    raw["wardops_device_state_changes_total"], start, end,
                                    known_before)
    return Collected(devices=devices, cell=cell, cell_ends=ends,
                     unscraped_share=unscraped / n, missing_head=head * cell)
