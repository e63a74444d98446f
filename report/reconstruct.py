"""Pure reconstruction of outages and availability figures from Prometheus's samples.

No I/O here: ``cli`` fetches, this module decides, ``render`` writes. Times are Unix
seconds; the period is the half-open window ``(start, end]`` as the recording rules read
it (a range selector ``[R - 1ms]`` ending at ``end``).

Definitions (docs/report.md):

- *proven up*: a scrape of the exporter in which the device's ``wardops_device_up`` was 1.
  Availability is proven-up scrapes over the scrapes the period should have had (the
  larger of the exporter's scrapes and ``period / scrape interval``): a device down,
  unknown, its exporter unreachable or Prometheus not scraping all count against it.
- *unknown*: time without a ``wardops_device_up`` sample (never counted as up).
- *outage*: from the exporter's ``down_since`` (the first failed probe, exact even when it
  fell in a monitoring gap) to the first scrape that proves the device up again.
- *unseen outage*: one that began and ended between two scrapes (or within a monitoring
  gap), so no scrape saw the device down; only the exporter's state-change counter moved.
  It is counted (as the recording rules count it) and placed between those two scrapes,
  but its length is unknown, so it adds nothing to downtime or MTTR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import mean

Point = tuple[float, float]


def outages_of(up: Sequence[Point], down_since: Sequence[Point], start: float, end: float
               ) -> list[tuple[float, float | None]]:
    """``(start, end)`` of every outage overlapping ``(start, end]``, from one device's raw
    ``wardops_device_up`` and ``wardops_device_down_since_timestamp_seconds`` samples
    (the caller includes up to five minutes before ``start``: the state at the start).
    ``end`` is None for an outage still under way at the period's end."""
    since = {t: v for t, v in down_since}
    found: list[tuple[float, float | None]] = []
    open_at: float | None = None   # start of the outage under way
    open_since = 0.0               # its down_since value, to tell two outages apart
    last_down = 0.0
    before = [p for p in up if p[0] <= start]
    if before and before[-1][1] == 0:
        t = before[-1][0]
        open_since = since.get(t, 0.0)
        open_at = open_since if 0 < open_since <= t else t
        last_down = t
    for t, v in up:
        if t <= start or t > end:
            continue
        if v == 0:
            ds = since.get(t, 0.0)
            if open_at is not None and ds > 0 and open_since > 0 and ds != open_since:
                # A new down_since after a gap: the old outage ended unseen in the gap;
                # it was proven down until its last down scrape.
                found.append((open_at, last_down))
                open_at = None
            if open_at is None:
                open_at = ds if 0 < ds <= t else t
                open_since = ds
            last_down = t
        elif open_at is not None:
            found.append((open_at, t))
            open_at = None
    if open_at is not None:
        found.append((open_at, None))
    return found


def unseen_outages(up: Sequence[Point], down_since: Sequence[Point], changes: Sequence[Point],
                   start: float, end: float, known_before: bool = True
                   ) -> list[tuple[float, float]]:
    """The outages no scrape saw: ``(last scrape before, first scrape after)`` for each.

    Between two consecutive scrapes the state fell ``(changes + up before - up after) / 2``
    times (the state-change counter's rise, clamped at 0 across a reset, as the recording
    rules read it); the falls a scrape saw (up -> down, or a new ``down_since`` while down)
    are outages ``outages_of`` places, the rest are unseen. Only pairs whose later scrape
    is in ``(start, end]`` count. ``known_before`` False: the first sample had no earlier
    one within the rules' hour of lookback, so the state before it counts as up with no
    changes (a new device, as rules/recording/availability.yml reads it)."""
    counter = dict(changes)
    since = dict(down_since)
    found: list[tuple[float, float]] = []
    prev: tuple[float, float, float, float] | None = None  # t, up, changes, down_since
    for t, v in up:
        c = counter.get(t)
        if c is None:
            continue
        ds = since.get(t, 0.0)
        if prev is None:
            if known_before or t <= start:
                prev = (t, v, c, ds)
                continue
            prev = (t, 1.0, 0.0, 0.0)
        t1, v1, c1, ds1 = prev
        if start < t <= end:
            falls = int((max(c - c1, 0.0) + v1 - v) / 2 + 1e-9)
            seen = v == 0 and (v1 == 1 or (ds > 0 and ds1 > 0 and ds != ds1))
            found.extend([(t1, t)] * max(0, falls - seen))
        prev = (t, v, c, ds)
    return found


@dataclass
class DeviceFigures:
    """A device's figures for the period."""

    device: str
    address: str
    site: str
    region: str
    type: str
    up_scrapes: int
    known_scrapes: int
    expected_scrapes: int
    interval: float
    period: float
    outages: list[tuple[float, float | None]] = field(default_factory=list)
    #: availability per heat-strip cell
    cells: list[float] = field(default_factory=list)
    #: share of each cell with a sample of the device's state
    known_cells: list[float] = field(default_factory=list)
    #: outages no scrape saw, between the two scrapes around each (``unseen_outages``)
    unseen: list[tuple[float, float]] = field(default_factory=list)

    @property
    def availability(self) -> float:
        """Proven-up scrapes over expected scrapes (0..1)."""
        return self.up_scrapes / self.expected_scrapes if self.expected_scrapes else 0.0

    @property
    def unknown_seconds(self) -> float:
        """Time without a sample of the device's state."""
        return max(0, self.expected_scrapes - self.known_scrapes) * self.interval

    def durations(self, start: float, end: float) -> list[float]:
        """Seconds of each outage inside ``(start, end]``."""
        return [min(e if e is not None else end, end) - max(s, start) for s, e in self.outages]

    def row(self, start: float, end: float) -> DeviceRow:
        """The per-device row for the period ``(start, end]``."""
        durations = self.durations(start, end)
        ended = [e - s for s, e in self.outages if e is not None]
        began = sum(1 for s, _ in self.outages if s > start) + len(self.unseen)
        longest = max(range(len(durations)), key=durations.__getitem__, default=None)
        return DeviceRow(
            device=self.device, address=self.address, site=self.site, region=self.region,
            type=self.type, availability=round(self.availability, 6),
            unknown_seconds=round(self.unknown_seconds, 3),
            outages=len(self.outages) + len(self.unseen),
            downtime_seconds=round(sum(durations), 3),
            mttr_seconds=round(mean(ended), 3) if ended else None,
            mtbf_seconds=(round(self.up_scrapes * self.interval / began, 3)
                          if began else None),
            longest_outage_seconds=round(durations[longest], 3) if longest is not None else 0,
            restored=len(ended),
            longest_outage_start=self.outages[longest][0] if longest is not None else None,
            longest_outage_end=self.outages[longest][1] if longest is not None else None,
            unseen_outages=len(self.unseen))


@dataclass(frozen=True)
class DeviceRow:
    """A row of devices.csv; the first ten columns are stable (scripts read them)."""

    device: str
    address: str
    site: str
    region: str
    type: str
    availability: float
    unknown_seconds: float
    outages: int
    downtime_seconds: float
    mttr_seconds: float | None
    mtbf_seconds: float | None
    longest_outage_seconds: float
    #: outages that ended in the period (MTTR's count)
    restored: int
    longest_outage_start: float | None
    longest_outage_end: float | None
    #: of ``outages``, those no scrape saw (their length is unknown: not in downtime/MTTR)
    unseen_outages: int = 0


@dataclass(frozen=True)
class GroupRow:
    """A row of sites.csv or regions.csv."""

    name: str
    region: str
    devices: int
    availability: float
    unknown_seconds: float
    outages: int
    downtime_seconds: float
    mttr_seconds: float | None
    longest_outage_seconds: float


def group_row(name: str, region: str, rows: Sequence[DeviceRow]) -> GroupRow:
    """A site's or region's row from its devices' rows: availability is their mean (as the
    recording rules' ``avg by (site, region)``), outages and downtime their sums, MTTR the
    mean over all their ended outages (each device's MTTR weighted by its count)."""
    weighted = [(r.mttr_seconds, r.restored) for r in rows if r.mttr_seconds is not None]
    weight = sum(n for _, n in weighted)
    return GroupRow(
        name=name, region=region, devices=len(rows),
        availability=round(mean(r.availability for r in rows), 6) if rows else 0.0,
        unknown_seconds=round(sum(r.unknown_seconds for r in rows), 3),
        outages=sum(r.outages for r in rows),
        downtime_seconds=round(sum(r.downtime_seconds for r in rows), 3),
        mttr_seconds=round(sum(m * n for m, n in weighted) / weight, 3) if weight else None,
        longest_outage_seconds=max((r.longest_outage_seconds for r in rows), default=0.0))
