"""A month of the exporter's series with known truth, as OpenMetrics for
``promtool tsdb create-blocks-from openmetrics`` (tests/report and bench/report_bench.py).

The series are what Prometheus stores from scraping wardops-exporter: per device
``wardops_device_up``, ``wardops_device_down_since_timestamp_seconds``,
``wardops_device_state_changes_total`` and ``wardops_device_info``; per exporter ``up``.
While an exporter is unreachable (a gap) Prometheus writes ``up 0`` and nothing else; the
exporter keeps probing, so ``down_since`` after the gap tells when an outage began in it.

The expected report figures are computed here from the script, by counting scrapes, with
no code shared with the report.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

JOB = "wardops-exporter"


@dataclass
class Device:
    """A device and its scripted outages ``(went down, came back)``; ``back`` None: never."""

    name: str
    address: str
    site: str
    region: str
    instance: str
    type: str = "router"
    outages: list[tuple[float, float | None]] = field(default_factory=list)
    #: first probed then (unknown before: no up/down_since series)
    known_from: float | None = None

    def labels(self) -> str:
        return (f'job="{JOB}",instance="{self.instance}",device="{self.name}",'
                f'address="{self.address}",site="{self.site}",region="{self.region}",'
                f'type="{self.type}"')


@dataclass
class History:
    """Scrapes every ``interval`` seconds over ``[first, last]``; ``gaps`` per exporter
    instance ``[from, to)`` in which its scrapes failed."""

    first: int
    last: int
    interval: int
    devices: list[Device]
    gaps: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    #: devices whose down_since/state_changes are written only if they ever go down
    #: (the benchmark's shortcut: the report reads them only for such devices)
    sparse: bool = False

    def scrapes(self) -> range:
        return range(self.first, self.last + 1, self.interval)

    def reachable(self, instance: str, t: float) -> bool:
        return not any(a <= t < b for a, b in self.gaps.get(instance, []))

    def instances(self) -> list[str]:
        return sorted({d.instance for d in self.devices})


def _down_at(device: Device, t: float) -> float:
    """``down_since`` at ``t``: the start of the outage under way, 0 when up."""
    for s, e in device.outages:
        if s <= t and (e is None or t < e):
            return s
    return 0.0


def write_openmetrics(history: History, path: Path) -> int:
    """Write the history; return the number of samples."""
    n = 0
    with path.open("w") as out:
        def family(name: str, kind: str, lines: Iterator[str]) -> None:
            nonlocal n
            out.write(f"# TYPE {name} {kind}\n")
            for line in lines:
                out.write(line)
                n += 1

        times = list(history.scrapes())
        ok = {i: [history.reachable(i, t) for t in times] for i in history.instances()}

        def per_device(metric: str, value: str) -> Iterator[str]:
            for d in history.devices:
                if history.sparse and value != "up" and not d.outages:
                    continue
                reach = ok[d.instance]
                changes = sorted([s for s, _ in d.outages]
                                 + [e for _, e in d.outages if e is not None])
                for t, r in zip(times, reach):
                    if not r:
                        continue
                    known = d.known_from is None or t >= d.known_from
                    if value == "info":
                        yield f"{metric}{{{d.labels()}}} 1 {t}\n"
                    elif value == "changes":
                        yield f"{metric}{{{d.labels()}}} {bisect.bisect_right(changes, t)} {t}\n"
                    elif known:
                        since = _down_at(d, t) if d.outages else 0.0
                        v = (("0" if since else "1") if value == "up"
                             else repr(since) if since else "0")
                        yield f"{metric}{{{d.labels()}}} {v} {t}\n"

        family("wardops_device_up", "gauge", per_device("wardops_device_up", "up"))
        family("wardops_device_down_since_timestamp_seconds", "gauge",
               per_device("wardops_device_down_since_timestamp_seconds", "since"))
        family("wardops_device_state_changes", "counter",
               per_device("wardops_device_state_changes_total", "changes"))
        if not history.sparse:
            family("wardops_device_info", "gauge", per_device("wardops_device_info", "info"))
        family("up", "gauge", (f'up{{job="{JOB}",instance="{i}"}} {int(r)} {t}\n'
                               for i in history.instances()
                               for t, r in zip(times, ok[i])))
        out.write("# EOF\n")
    return n


@dataclass(frozen=True)
class Expected:
    """What the report must say of a device for the period ``(start, end]``."""

    up_scrapes: int
    known_scrapes: int
    expected_scrapes: int
    #: (start, end or None while still down at the period's end, seconds in the period)
    outages: list[tuple[float, float | None, float]]
    #: outages no scrape saw: (the scrape before, the scrape after)
    unseen: list[tuple[float, float]] = field(default_factory=list)


def expected(history: History, device: Device, start: float, end: float) -> Expected:
    """Count the device's scrapes in ``(start, end]`` and place its outages as the report
    should see them: from ``down_since`` to the first scrape proving it up."""
    times = [t for t in history.scrapes() if start < t <= end]
    up = known = 0
    for t in times:
        if not history.reachable(device.instance, t):
            continue
        if device.known_from is not None and t < device.known_from:
            continue
        known += 1
        up += not _down_at(device, t)
    outages = []
    unseen = []
    reachable = [t for t in history.scrapes() if history.reachable(device.instance, t)]
    for s, e in device.outages:
        if e is not None and not any(s <= t < e for t in reachable):
            after = next(t for t in reachable if t >= e)
            if start < after <= end:
                unseen.append((max(t for t in reachable if t < s), after))
            continue
        if s >= end or (e is not None and e <= start):
            continue
        back = None if e is None else next(
            (t for t in history.scrapes() if t >= e and history.reachable(device.instance, t)),
            None)
        if back is not None and back > end:
            back = None
        outages.append((s, back, min(back if back is not None else end, end) - max(s, start)))
    return Expected(up, known, round((end - start) / history.interval), outages, unseen)


SITES = (("Tbilisi-Vake", "Tbilisi"), ("Tbilisi-Saburtalo", "Tbilisi"), ("Gori", "Shida Kartli"),
         ("Kutaisi", "Imereti"), ("Zestafoni", "Imereti"), ("Batumi", "Adjara"),
         ("Poti", "Samegrelo"), ("Zugdidi", "Samegrelo"), ("Telavi", "Kakheti"),
         ("Rustavi", "Kvemo Kartli"))
KINDS = ("router", "atm", "switch")


def month_scenario(start: int, end: int, interval: int) -> History:
    """30 devices (10 sites x router, ATM, switch) with scripted outages around the month
    ``(start, end]``; the history runs from 12 h before it to 6 h after it.

    - Tbilisi-Vake-router: down 3 h before the month, all month, never back;
    - Gori (all three devices): down together for 2 h on day 3;
    - Kutaisi-router: an outage crossing the month's start; Kutaisi-atm: crossing its end;
    - Batumi-switch: flapping, 20 outages of 10 min on day 10;
    - exporter b (Samegrelo and Kakheti) unreachable 40 min on day 12 and 50 min on
      day 20: Poti-router goes down inside the first gap, Zugdidi-atm comes back inside it,
      Telavi-router is down across the second;
    - Rustavi-switch: unknown (not yet probed) for the first 5 days;
    - outages no scrape saw: Zestafoni-switch twice between two scrapes on day 15,
      Zugdidi-switch inside the exporter's second gap, and Tbilisi-Saburtalo-router just
      before an outage that the next scrape sees;
    - others: a few outages each, at times that are not on the scrape grid.
    """
    day = 86400
    history = History(first=start - 12 * 3600, last=end + 6 * 3600, interval=interval,
                      devices=[])
    history.gaps["b:9469"] = [(start + 12 * day + 36000, start + 12 * day + 36000 + 2400),
                              (start + 20 * day + 3600, start + 20 * day + 3600 + 3000)]
    n = 0
    for site, region in SITES:
        for kind in KINDS:
            n += 1
            instance = "b:9469" if region in ("Samegrelo", "Kakheti") else "a:9469"
            history.devices.append(Device(f"{site}-{kind}", f"10.20.{n}.1", site, region,
                                          instance, kind))
    by = {d.name: d for d in history.devices}
    by["Tbilisi-Vake-router"].outages = [(start - 3 * 3600 + 7, None)]
    for kind in KINDS:
        by[f"Gori-{kind}"].outages = [(start + 3 * day + 50000 + 3, start + 3 * day + 57200 + 3)]
    by["Kutaisi-router"].outages = [(start - 2 * 3600 + 11, start + 5417)]
    by["Kutaisi-atm"].outages = [(end - 2700 + 7, end + 7200)]
    by["Batumi-switch"].outages = [(start + 10 * day + 1200 * i + 5, start + 10 * day + 1200 * i + 605)
                                   for i in range(20)]
    gap1, gap2 = history.gaps["b:9469"]
    by["Poti-router"].outages = [(gap1[0] + 900 + 13, gap1[1] + 4000)]
    by["Zugdidi-atm"].outages = [(gap1[0] - 1800 + 29, gap1[0] + 1200 + 1)]
    by["Telavi-router"].outages = [(gap2[0] - 600 + 2, gap2[1] + 900 + 9)]
    by["Rustavi-switch"].known_from = start + 5 * day + 31
    blip = start + 15 * day + 7200  # on the scrape grid
    by["Zestafoni-switch"].outages = [(blip + 10, blip + 25), (blip + 31, blip + 50)]
    by["Zugdidi-switch"].outages = [(gap2[0] + 600 + 3, gap2[0] + 1200)]
    by["Tbilisi-Saburtalo-router"].outages = [(blip + 5, blip + 15), (blip + 30, blip + 630)]
    # a few more, deterministic: device i, day (7 i) mod 28, lasting 3-90 minutes
    for i, d in enumerate(history.devices):
        if not d.outages and i % 3 == 1:
            at = start + ((7 * i) % 28) * day + 3600 * (i % 20) + 17 * i
            d.outages = [(at, at + 180 + 300 * (i % 18))]
            if i % 2:
                d.outages.append((at + 2 * day, at + 2 * day + 3600 + 61))
    return history
