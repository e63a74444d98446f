"""The exporter's HTTP side: a Flask (WSGI) app, served by ``wardops_common.webserver``.

Endpoints: ``/metrics``, ``/-/healthy``, ``/-/ready`` (200 after the first full probe
cycle), ``POST /-/reload`` and ``/``, a page for an operator: counts by state, then down devices
(newest outage first), devices not known to be up, and the rest. Every
handler reads a snapshot through the :class:`WebView` it is given; none waits on a probe.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, Response, render_template_string, request

from exporter.collector import CONTENT_TYPE
from exporter.state import DOWN, UNKNOWN
from wardops_common.durations import format_duration, format_milliseconds

log = logging.getLogger("exporter.web")


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """What the landing page knows of one device, from one snapshot of the states."""

    name: str
    address: str
    site: str
    type: str
    status: str  # the state machine's: up | down | unknown
    error: str = ""  # reason of the probe errors it has now; "" once a probe runs again
    stale: bool = False  # its last probe finished too long ago for the schedule
    rtt: float | None = None
    loss: float | None = None
    down_since: float = 0.0
    last_probe: float = 0.0
    paths: tuple[PathRow, ...] = ()  # its ISP paths, if it has any


@dataclass(frozen=True, slots=True)
class PathRow:
    """One ISP path of a device, from the same snapshot."""

    isp: str
    address: str  # where its requests go
    status: str  # up | down | unknown
    rtt: float | None = None
    loss: float | None = None
    down_since: float = 0.0


class WebView(Protocol):
    """What the web side needs from the running exporter."""

    @property
    def icmp_mode(self) -> str: ...

    def metrics(self, scraper: str = "") -> bytes | Iterable[bytes]: ...
    def ready(self) -> bool: ...
    def reload(self) -> tuple[bool, str]: ...
    def page(self) -> list[DeviceRow]: ...


# What the page calls a device, worst first. Only "up" is green: a device whose probes
# cannot run, or have stopped, or never ran, is shown as such, never as up.
SHOWN_STATES = ("down", "error", "stale", "unknown", "up")
_LABELS = {"down": "down", "error": "probe error", "stale": "stale", "unknown": "unknown",
           "up": "up"}
REFRESH_SECONDS = 30


def shown_state(row: DeviceRow) -> str:
    """The page's state of a device: down beats a probe error, which beats the rest."""
    if row.status == DOWN:
        return "down"
    if row.error:
        return "error"
    if row.status == UNKNOWN:
        return "unknown"
    return "stale" if row.stale else "up"


def ago(then: float, now: float) -> str:
    """ "12s ago", or "never" for 0."""
    return f"{format_duration(now - then)} ago" if then else "never"


def down_for(down_since: float, now: float) -> str:
    """ "6m 12s" for an outage that began at ``down_since``; "" when not down."""
    return format_duration(now - down_since) if down_since else ""


@dataclass(frozen=True, slots=True)
class Landing:
    """The landing page's content: counts, then the devices in three tables."""

    counts: dict[str, int]  # by shown state, in SHOWN_STATES order
    down: list[dict[str, str]]  # newest outage first
    attention: list[dict[str, str]]  # probe errors, stale, unknown
    up: list[dict[str, str]]  # by site and name
    paths: list[dict[str, str]]  # every ISP path: down first (newest outage first), then
    # unknown, then up, by site and device


def landing(rows: list[DeviceRow], now: float) -> Landing:
    """Sort and format ``rows`` for the page at time ``now``."""
    counts = dict.fromkeys(SHOWN_STATES, 0)
    shown = [(shown_state(row), row) for row in rows]
    for state, _ in shown:
        counts[state] += 1

    def cells(state: str, row: DeviceRow) -> dict[str, str]:
        label = f"probe error: {row.error}" if state == "error" else _LABELS[state]
        if state == "down" and row.error:
            label += f" (probe error now: {row.error})"
        return {"name": row.name, "site": row.site, "address": row.address, "type": row.type,
                "state": state, "label": label, "down_for": down_for(row.down_since, now),
                "since": (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.down_since))
                          if row.down_since else ""),
                "last_probe": ago(row.last_probe, now),
                "rtt": format_milliseconds(row.rtt, " ") if row.rtt is not None else "",
                "loss": f"{row.loss:.0%}" if row.loss is not None else ""}

    order = {state: i for i, state in enumerate(SHOWN_STATES)}
    down = sorted((r for r in shown if r[0] == "down"), key=lambda r: -r[1].down_since)
    attention = sorted((r for r in shown if r[0] not in ("down", "up")),
                       key=lambda r: (order[r[0]], r[1].site, r[1].name, r[1].address))
    up = sorted((r for r in shown if r[0] == "up"),
                key=lambda r: (r[1].site, r[1].name, r[1].address))
    return Landing(counts, [cells(*r) for r in down], [cells(*r) for r in attention],
                   [cells(*r) for r in up], _path_cells(rows, now))


def _path_cells(rows: list[DeviceRow], now: float) -> list[dict[str, str]]:
    """The paths table: a path down while its device answers is the branch on its backup."""
    rank = {DOWN: 0, UNKNOWN: 1}
    paths = sorted(((row, path) for row in rows for path in row.paths),
                   key=lambda rp: (rank.get(rp[1].status, 2), -rp[1].down_since,
                                   rp[0].site, rp[0].name, rp[1].isp))
    return [{"name": row.name, "site": row.site, "isp": path.isp, "address": path.address,
             "state": path.status, "label": path.status,
             "down_for": down_for(path.down_since, now),
             "rtt": format_milliseconds(path.rtt, " ") if path.rtt is not None else "",
             "loss": f"{path.loss:.0%}" if path.loss is not None else ""}
            for row, path in paths]


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{{ refresh }}">
<title>{% if page.counts.down %}{{ page.counts.down }} down · {% endif %}wardops exporter</title>
<style>
body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse;margin-bottom:1.2em}
td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}
.counts span{margin-right:1em;font-size:1.3em}
.up{color:#1a7f37}.down{color:#c62828;font-weight:bold}.error{color:#b35c00;font-weight:bold}
.stale{color:#b35c00}.unknown{color:#777}
</style></head><body>
<h1>wardops exporter</h1>
<p class="counts">{% for state, n in page.counts.items() %}<span class="{{ state if n else '' }}"
 id="count-{{ state }}">{{ n }} {{ labels[state] }}</span>{% endfor %}</p>
<p>{% if not total %}No devices in the inventory.{% elif page.counts.up == total %}All {{ total }}
devices up.{% else %}{{ total }} devices; only "up" means a fresh probe got a reply.{% endif %}
As of {{ as_of }} UTC, refreshed every {{ refresh }} s. ICMP socket mode: <b>{{ mode }}</b>.
<a href="/metrics">/metrics</a> · <a href="/-/ready">/-/ready</a></p>
{% if page.down %}<h2>Down, newest outage first</h2>
<table id="down"><tr><th>device</th><th>site</th><th>address</th><th>type</th><th>state</th>
<th>down for</th><th>since (UTC)</th><th>last probe</th></tr>
{% for r in page.down %}<tr><td>{{ r.name }}</td><td>{{ r.site }}</td><td>{{ r.address }}</td>
<td>{{ r.type }}</td><td class="down">{{ r.label }}</td><td>{{ r.down_for }}</td>
<td>{{ r.since }}</td><td>{{ r.last_probe }}</td></tr>
{% endfor %}</table>{% endif %}
{% if page.attention %}<h2>Not known to be up</h2>
<table id="attention"><tr><th>device</th><th>site</th><th>address</th><th>type</th>
<th>state</th><th>last probe</th></tr>
{% for r in page.attention %}<tr><td>{{ r.name }}</td><td>{{ r.site }}</td>
<td>{{ r.address }}</td><td>{{ r.type }}</td><td class="{{ r.state }}">{{ r.label }}</td>
<td>{{ r.last_probe }}</td></tr>
{% endfor %}</table>{% endif %}
{% if page.paths %}<h2>ISP paths, down first</h2>
<table id="paths"><tr><th>device</th><th>site</th><th>isp</th><th>path address</th>
<th>state</th><th>down for</th><th>RTT</th><th>loss</th></tr>
{% for r in page.paths %}<tr><td>{{ r.name }}</td><td>{{ r.site }}</td><td>{{ r.isp }}</td>
<td>{{ r.address }}</td><td class="{{ r.state }}">{{ r.label }}</td><td>{{ r.down_for }}</td>
<td>{{ r.rtt }}</td><td>{{ r.loss }}</td></tr>
{% endfor %}</table>{% endif %}
{% if page.up %}<h2>Up</h2>
<table id="up"><tr><th>device</th><th>site</th><th>address</th><th>type</th><th>state</th>
<th>RTT</th><th>loss</th><th>last probe</th></tr>
{% for r in page.up %}<tr><td>{{ r.name }}</td><td>{{ r.site }}</td><td>{{ r.address }}</td>
<td>{{ r.type }}</td><td class="up">up</td><td>{{ r.rtt }}</td><td>{{ r.loss }}</td>
<td>{{ r.last_probe }}</td></tr>
{% endfor %}</table>{% endif %}
</body></html>
"""


def gzipped(parts: Iterable[bytes], level: int = 1) -> Iterator[bytes]:
    """``parts`` compressed as one gzip stream, piece by piece (never held whole)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip header and trailer
    for part in parts:
        out = compressor.compress(part)
        if out:
            yield out
    yield compressor.flush()


def create_app(view: WebView, *, lifecycle: bool = True) -> Flask:
    """The Flask app for ``view``; ``lifecycle`` false (no ``--web.enable-lifecycle``):
    ``POST /-/reload`` is refused, as Prometheus refuses it (reload with SIGHUP)."""
    app = Flask("exporter")

    @app.get("/metrics")
    def metrics() -> Response:
        # who scrapes, so that probe cycles can align to one regular scraper
        scraper = f"{request.remote_addr or '?'} {request.user_agent.string}"
        body = view.metrics(scraper)
        if request.accept_encodings.quality("gzip") <= 0:
            return Response(body, content_type=CONTENT_TYPE)
        # As Prometheus's client libraries do when asked (Prometheus always asks): at
        # 10,000 devices 35 MB become 1.4 MB, and writing them costs less than the
        # compression (level 1: a third of the CPU of the default level, 10 % larger).
        return Response(gzipped([body] if isinstance(body, bytes) else body),
                        content_type=CONTENT_TYPE,
                        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})

    @app.get("/-/healthy")
    def healthy() -> Response:
        return Response("OK\n", content_type="text/plain")

    @app.get("/-/ready")
    def ready() -> Response:
        if view.ready():
            return Response("OK\n", content_type="text/plain")
        return Response("not ready: first probe cycle still running\n", status=503,
                        content_type="text/plain")

    @app.post("/-/reload")
    def reload() -> Response:
        if not lifecycle:
            return Response("Lifecycle API is not enabled.\n", status=403,
                            content_type="text/plain")
        ok, message = view.reload()
        return Response(message + "\n", status=200 if ok else 500, content_type="text/plain")

    @app.get("/")
    def index() -> str:
        rows = view.page()
        now = time.time()
        return render_template_string(
            _PAGE, page=landing(rows, now), labels=_LABELS, total=len(rows),
            refresh=REFRESH_SECONDS, mode=view.icmp_mode,
            as_of=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)))

    return app
