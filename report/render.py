"""The report's files: one CSV per table (stable columns), report.json, report.html.

The HTML page is self-contained (inline CSS and SVG, no script, no font or image from
the network), so it opens offline and prints to PDF as it looks on screen. Jinja2 (already
a dependency) escapes every device and site name.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from importlib import resources
from pathlib import Path
from statistics import mean
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2

from report.collect import Collected, Scope
from report.reconstruct import DeviceRow, GroupRow, group_row

#: colour classes of the heat-strip and tables: (lowest availability, colour, legend)
BANDS = ((0.999, "#1a7f37", "≥ 99.9 %"), (0.99, "#6cc070", "99 – 99.9 %"),
         (0.95, "#e3a008", "95 – 99 %"), (0.0, "#c93c37", "< 95 %"))
UNKNOWN_COLOUR = "#aab2bd"
OUTAGE_COLUMNS = ("device", "address", "site", "region", "start", "end",
                  "duration_seconds", "began_before_period", "ongoing_at_end", "seen_by_scrape")


@dataclass(frozen=True)
class OutageRow:
    """A row of outages.csv: one outage overlapping the period (times in the report's
    time zone, RFC 3339; ``end`` empty while still under way at the period's end). An
    outage no scrape saw has ``seen_by_scrape`` False, the scrapes before and after it as
    ``start`` and ``end``, and no duration (it was shorter than the time between them)."""

    device: str
    address: str
    site: str
    region: str
    start: str
    end: str
    duration_seconds: float | None
    began_before_period: bool
    ongoing_at_end: bool
    seen_by_scrape: bool = True


def colour(availability: float, known: float = 1.0) -> str:
    """The band colour of an availability (grey when mostly unknown)."""
    if known < 0.5:
        return UNKNOWN_COLOUR
    return next(c for low, c, _ in BANDS if availability >= low)


def duration(seconds: float | None) -> str:
    """``3 d 4 h``, ``2 h 14 min``, ``45 s``; an em dash for none."""
    if seconds is None:
        return "—"
    s = round(seconds)
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m} min"
    if m:
        return f"{m} min {s % 60} s" if s % 60 else f"{m} min"
    return f"{s} s"


def percent(ratio: float) -> str:
    """``99.952 %``: three decimals, since 0.001 % of a month is 26 seconds."""
    return f"{ratio * 100:.3f} %"


@dataclass
class Run:
    """A rectangle of a heat-strip: cells of one colour side by side."""

    x: float
    w: float
    fill: str


def _strip(cells: Sequence[float], known: Sequence[float], width: float) -> list[Run]:
    """Runs of equal colour (so a site up all month is one rectangle, not 720)."""
    runs: list[Run] = []
    step = width / max(1, len(cells))
    for i, (a, k) in enumerate(zip(cells, known)):
        c = colour(a, k)
        if runs and runs[-1].fill == c:
            runs[-1].w += step
        else:
            runs.append(Run(i * step, step, c))
    return runs


def _write_csv(path: Path, header: Iterable[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(["" if v is None else v for v in row] for row in rows)


def write_report(directory: Path, data: Collected, scope: Scope, tz: ZoneInfo, title: str,
                 source: str, month: str | None = None) -> list[Path]:
    """Write the six files into ``directory``; return their paths. ``month`` (e.g.
    "November 2026") names a calendar month's report."""
    start, end = scope.start, scope.end

    def local(t: float | None) -> str:
        return "" if t is None else datetime.fromtimestamp(t, tz).isoformat()

    rows = sorted((d.row(start, end) for d in data.devices),
                  key=lambda r: (r.availability, -r.downtime_seconds, r.device))
    by_site: dict[tuple[str, str], list[DeviceRow]] = defaultdict(list)
    by_region: dict[str, list[DeviceRow]] = defaultdict(list)
    for r in rows:
        by_site[(r.site, r.region)].append(r)
        by_region[r.region].append(r)
    sites = sorted((group_row(s, reg, members) for (s, reg), members in by_site.items()),
                   key=lambda g: (g.availability, -g.downtime_seconds, g.name))
    regions = sorted((group_row(reg, reg, members) for reg, members in by_region.items()),
                     key=lambda g: g.name)
    outages = sorted((OutageRow(d.device, d.address, d.site, d.region, local(s), local(e),
                                round(min(e if e is not None else end, end) - max(s, start), 3),
                                s <= start, e is None)
                      for d in data.devices for s, e in d.outages),
                     key=lambda o: (o.start, o.device))
    unseen = [OutageRow(d.device, d.address, d.site, d.region, local(s), local(e), None,
                        False, False, seen_by_scrape=False)
              for d in data.devices for s, e in d.unseen]
    outages = sorted(outages + unseen, key=lambda o: (o.start, o.device))
    fleet = group_row("all", "", rows)
    period = end - start
    headline = {
        "availability": fleet.availability, "devices": fleet.devices,
        "devices_with_outages": sum(1 for r in rows if r.outages),
        "outages": fleet.outages, "downtime_seconds": fleet.downtime_seconds,
        "mttr_seconds": fleet.mttr_seconds,
        "unknown_share": fleet.unknown_seconds / (period * fleet.devices) if rows else 0.0,
        "unscraped_share": data.unscraped_share,
    }

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, cls, table in (("devices.csv", DeviceRow, rows), ("sites.csv", GroupRow, sites),
                             ("regions.csv", GroupRow, regions),
                             ("outages.csv", OutageRow, outages)):
        columns = [f.name for f in fields(cls)]
        if name == "regions.csv":
            columns.remove("region")  # the name is the region
        header = [("site" if name == "sites.csv" else "region") if c == "name" else c
                  for c in columns]
        _write_csv(directory / name, header,
                   ([getattr(r, c) for c in columns] for r in table))
        written.append(directory / name)
    meta = {"title": title, "start": local(start), "end": local(end), "month": month,
            "timezone": str(tz), "region": scope.region, "site": scope.site,
            "scrape_interval_seconds": scope.interval,
            "generated": local(datetime.now().timestamp())}
    doc = {"report": meta, "headline": headline,
           "regions": [asdict(g) for g in regions], "sites": [asdict(g) for g in sites],
           "devices": [asdict(r) for r in rows], "outages": [asdict(o) for o in outages]}
    (directory / "report.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    written.append(directory / "report.json")

    # The page: site heat-strips (sites whose period was not all green first), a daily
    # fleet availability chart, the worst devices and the outages.
    site_cells: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for (s, reg), _members in by_site.items():
        devs = [d for d in data.devices if (d.site, d.region) == (s, reg)]
        site_cells[(s, reg)] = ([mean(c) for c in zip(*(d.cells for d in devs))],
                                [mean(c) for c in zip(*(d.known_cells for d in devs))])
    strip_width = 560.0
    strips = [{"site": g, "runs": _strip(*site_cells[(g.name, g.region)], strip_width)}
              for g in sites if g.availability < 1 or g.unknown_seconds > 0][:60]
    days: dict[str, list[float]] = defaultdict(list)
    fleet_cells = [mean(c) for c in zip(*(d.cells for d in data.devices))]
    for t, a in zip(data.cell_ends, fleet_cells):
        days[datetime.fromtimestamp(t - data.cell, tz).strftime("%Y-%m-%d")].append(a)
    daily = [(day, mean(v)) for day, v in sorted(days.items())]
    low = min((a for _, a in daily), default=1.0)
    floor = next(f for f in (0.99, 0.95, 0.9, 0.0) if low >= f)
    # date ticks under the strips: the period's start and every 7th day after it
    strip_ticks = [(strip_width * (t - start) / period,
                    datetime.fromtimestamp(t, tz).strftime("%d %b"))
                   for t in (start + k * 7 * 86400 for k in range(int(period // (7 * 86400)) + 1))
                   if t < end - 86400]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(percent=percent, duration=duration, colour=colour, local=local)
    template = env.from_string(
        resources.files("report").joinpath("report.html.j2").read_text(encoding="utf-8"))
    host = urlsplit(source).netloc or source
    html = template.render(
        meta=meta, headline=headline, regions=regions, sites=sites,
        worst_sites=sites[:10], worst_devices=[r for r in rows if r.availability < 1][:15],
        strips=strips, hidden_sites=len(sites) - len(strips), strip_width=strip_width,
        daily=daily, floor=floor, strip_ticks=strip_ticks, bands=BANDS,
        unknown_colour=UNKNOWN_COLOUR,
        outages=sorted((o for o in outages if o.seen_by_scrape),
                       key=lambda o: -(o.duration_seconds or 0.0))[:40],
        all_outages=len(outages), unseen_outages=len(unseen), source=host, local=local)
    (directory / "report.html").write_text(html, encoding="utf-8")
    written.append(directory / "report.html")
    return written
