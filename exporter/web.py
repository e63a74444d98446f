"""The exporter's HTTP side: a Flask (WSGI) app, served by ``wardops_common.webserver``.

Endpoints: ``/metrics``, ``/-/healthy``, ``/-/ready`` (200 after the first full probe
cycle), ``POST /-/reload`` and ``/``, a page for an operator: counts by state, then down devices
(newest outage first), devices not known to be up, and the rest. Every
handler reads a snapshot through the :class:`WebView` it is given; none waits on a probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import urlencode

from flask import Flask, Response, render_template_string, request

from exporter.collector import CONTENT_TYPE
from exporter.gzipbody import GzipStream, gzipped
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
    region: str = ""  # its region label, if any
    parents: tuple[tuple[str, str], ...] = ()  # (name, address) of the devices it is behind
    #: down while every parent is down too (probed by this exporter): cut off, not broken
    parent_down: bool = False
    #: parents another exporter shard probes (``--shard``): their state is not known here
    parents_elsewhere: tuple[tuple[str, str], ...] = ()
    maintenance: tuple[str, ...] = ()  # names of its (or its site's) active windows


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

    def metrics(self, scraper: str = "",
                gzip: bool = False) -> bytes | Iterable[bytes] | GzipStream: ...
    def ready(self) -> bool: ...
    def reload(self) -> tuple[bool, str]: ...
    def page(self) -> list[DeviceRow]: ...


# What the page calls a device, worst first. Only "up" is green: a device whose probes
# cannot run, or have stopped, or never ran, is shown as such, never as up.
SHOWN_STATES = ("down", "error", "stale", "unknown", "up")
_LABELS = {"down": "down", "error": "probe error", "stale": "stale", "unknown": "unknown",
           "up": "up"}
# The state filter also offers these: devices cut off behind down parents, and devices in
# a maintenance window (whatever their state).
FILTER_STATES = (*SHOWN_STATES, "parent_down", "maintenance")
_FILTER_LABELS = {**_LABELS, "parent_down": "parent down", "maintenance": "in maintenance"}
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
class Filters:
    """The page's filters (its query string): text search and four selections."""

    q: str = ""  # part of a name, address, site or type, any case
    site: str = ""
    region: str = ""
    type: str = ""
    state: str = ""  # one of FILTER_STATES

    def keeps(self, state: str, row: DeviceRow) -> bool:
        """Whether ``row`` (shown as ``state``) passes every filter."""
        if self.site and row.site != self.site:
            return False
        if self.region and row.region != self.region:
            return False
        if self.type and row.type != self.type:
            return False
        if self.state == "parent_down":
            if not row.parent_down:
                return False
        elif self.state == "maintenance":
            if not row.maintenance:
                return False
        elif self.state and state != self.state:
            return False
        needle = self.q.strip().lower()
        return not needle or any(needle in text.lower() for text in (
            row.name, row.address, row.site, row.type, row.region))

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return any((self.q.strip(), self.site, self.region, self.type, self.state))


@dataclass(frozen=True, slots=True)
class Subtotal:
    """Counts of one region or site: devices, up, down (cut off among them), the rest."""

    name: str
    region: str = ""
    devices: int = 0
    up: int = 0
    down: int = 0
    parent_down: int = 0
    other: int = 0  # probe error, stale, unknown: not known to be up
    maintenance: int = 0

    def add(self, state: str, row: DeviceRow) -> Subtotal:
        """These counts with ``row`` (shown as ``state``) added."""
        return replace(self, devices=self.devices + 1, up=self.up + (state == "up"),
                       down=self.down + (state == "down"),
                       parent_down=self.parent_down + row.parent_down,
                       other=self.other + (state not in ("up", "down")),
                       maintenance=self.maintenance + bool(row.maintenance))


@dataclass(frozen=True, slots=True)
class TreeNode:
    """A device in its site's dependency tree, with the devices behind it."""

    cells: dict[str, str]
    children: tuple[TreeNode, ...]
    also_behind: tuple[tuple[str, str], ...] = ()  # its other parents (listed under each)

    @property
    def also_behind_text(self) -> str:
        """Its other parents' names, each once."""
        return _names(self.also_behind)


@dataclass(frozen=True, slots=True)
class Landing:
    """The landing page's content: counts, then the devices in three tables."""

    counts: dict[str, int]  # by shown state, in SHOWN_STATES order
    down: list[dict[str, str]]  # own outages newest first, then the cut-off ones
    attention: list[dict[str, str]]  # probe errors, stale, unknown
    up: list[dict[str, str]]  # by site and name
    paths: list[dict[str, str]]  # every ISP path: down first (newest outage first), then
    # unknown, then up, by site and device
    regions: list[Subtotal] = field(default_factory=list)  # worst first
    sites: list[Subtotal] = field(default_factory=list)  # worst first
    tree: list[TreeNode] = field(default_factory=list)  # the selected site's roots
    shown: int = 0  # devices that pass the filters
    options: dict[str, list[str]] = field(default_factory=dict)  # site, region, type


def landing(rows: list[DeviceRow], now: float, filters: Filters | None = None) -> Landing:
    """Sort and format ``rows`` for the page at time ``now``, keeping those that pass
    ``filters``; the counts and subtotals are those of the devices kept."""
    filters = filters or Filters()
    counts = dict.fromkeys(SHOWN_STATES, 0)
    shown = [(state, row) for state, row in ((shown_state(row), row) for row in rows)
             if filters.keeps(state, row)]
    for state, _ in shown:
        counts[state] += 1

    order = {state: i for i, state in enumerate(SHOWN_STATES)}
    down = sorted((r for r in shown if r[0] == "down"),
                  key=lambda r: (r[1].parent_down, -r[1].down_since))
    attention = sorted((r for r in shown if r[0] not in ("down", "up")),
                       key=lambda r: (order[r[0]], r[1].site, r[1].name, r[1].address))
    up = sorted((r for r in shown if r[0] == "up"),
                key=lambda r: (r[1].site, r[1].name, r[1].address))
    kept = [row for _, row in shown]
    return Landing(counts, [_cells(*r, now) for r in down], [_cells(*r, now) for r in attention],
                   [_cells(*r, now) for r in up], _path_cells(kept, now),
                   regions=_subtotals(shown, lambda row: row.region or "(no region)"),
                   sites=_subtotals(shown, lambda row: row.site or "(no site)"),
                   tree=_tree(rows, filters.site, now) if filters.site else [],
                   shown=len(shown),
                   options={"site": sorted({r.site for r in rows if r.site}),
                            "region": sorted({r.region for r in rows if r.region}),
                            "type": sorted({r.type for r in rows if r.type})})


def _cells(state: str, row: DeviceRow, now: float) -> dict[str, str]:
    """One device's table cells; the state says when it is cut off or in maintenance."""
    label = f"probe error: {row.error}" if state == "error" else _LABELS[state]
    if state == "down" and row.error:
        label += f" (probe error now: {row.error})"
    if row.parent_down:
        label += " · parent down (" + _names(row.parents) + ")"
    elif state == "down" and row.parents_elsewhere:
        label += (" · parent on another shard (" + _names(row.parents_elsewhere)
                  + "): cut off or not, the alerter's rules decide")
    if row.maintenance:
        label += " · maintenance (" + ", ".join(row.maintenance) + ")"
    return {"name": row.name, "site": row.site, "address": row.address, "type": row.type,
            "region": row.region, "state": state,
            "flag": "cutoff" if row.parent_down else ("maint" if row.maintenance else ""),
            "label": label, "down_for": down_for(row.down_since, now),
            "since": (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(row.down_since))
                      if row.down_since else ""),
            "last_probe": ago(row.last_probe, now),
            "rtt": format_milliseconds(row.rtt, " ") if row.rtt is not None else "",
            "loss": f"{row.loss:.0%}" if row.loss is not None else ""}


def _names(keys: Iterable[tuple[str, str]]) -> str:
    """Device names for a label, each once: the bank's export names a branch's four
    routers alike ("Gardabani-881 ×4")."""
    names = [name for name, _ in keys]
    return ", ".join(name + (f" ×{names.count(name)}" if names.count(name) > 1 else "")
                     for name in dict.fromkeys(names))


def _subtotals(shown: list[tuple[str, DeviceRow]],
               key: Callable[[DeviceRow], str]) -> list[Subtotal]:
    """Counts per ``key`` (region or site), those with devices down or not known up first."""
    totals: dict[str, Subtotal] = {}
    for state, row in shown:
        name = key(row)
        totals[name] = totals.get(name, Subtotal(name, row.region)).add(state, row)
    return sorted(totals.values(), key=lambda t: (-t.down, -t.other, t.name))


def _tree(rows: list[DeviceRow], site: str, now: float) -> list[TreeNode]:
    """The dependency tree of ``site``'s devices: those whose parents are elsewhere (or
    none) at the top, each device under each of its parents of the site."""
    members = [row for row in rows if row.site == site]
    keys = {(row.name, row.address) for row in members}
    children: dict[tuple[str, str], list[DeviceRow]] = {}
    roots = []
    for row in sorted(members, key=lambda r: (r.name, r.address)):
        inside = [p for p in row.parents if p in keys]
        for parent in inside:
            children.setdefault(parent, []).append(row)
        if not inside:
            roots.append(row)

    def node(row: DeviceRow, parent: tuple[str, str] | None) -> TreeNode:
        kids = children.get((row.name, row.address), [])
        return TreeNode(_cells(shown_state(row), row, now), tuple(node(k, (row.name, row.address))
                                                                   for k in kids),
                        tuple(key for key in row.parents if parent and key != parent))

    return [node(row, None) for row in roots]


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
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>{% if page.counts.down %}{{ page.counts.down }} down · {% endif %}wardops exporter</title>
<style>
body{font-family:sans-serif;margin:1em;max-width:80em}
table{border-collapse:collapse;margin-bottom:1.2em}
td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}
.scroll{overflow-x:auto}
.counts span{margin-right:1em;font-size:1.3em;white-space:nowrap;display:inline-block}
.up{color:#1a7f37}.down{color:#c62828;font-weight:bold}.error{color:#b35c00;font-weight:bold}
.stale{color:#b35c00}.unknown{color:#777}
.cutoff{color:#8e44ad;font-weight:normal}.maint{color:#1f5fa8;font-weight:normal}
.num{text-align:right}
form{display:flex;flex-wrap:wrap;gap:.4em;margin:.6em 0 1em}
form input,form select,form button{font-size:1em;padding:3px}
nav a{margin-right:1em;white-space:nowrap}
ul.tree{list-style:none;padding-left:1.2em;margin:0}ul.tree li{margin:2px 0}
@media (max-width:700px){body{margin:.4em}.wide{display:none}td,th{padding:2px 4px}
h1{font-size:1.3em}h2{font-size:1.1em}form input{flex:1 1 100%}
table{font-size:.85em}.counts span{font-size:1.1em}}
</style></head><body>
<h1>wardops exporter</h1>
<nav><a id="link-fleet" href="{{ links.fleet }}">Fleet dashboard</a>
<a id="link-alerter" href="{{ links.alerter }}">Alerts (alerter)</a>
<a href="/metrics">/metrics</a> <a href="/-/ready">/-/ready</a></nav>
<p class="counts">{% for state, n in page.counts.items() %}<span class="{{ state if n else '' }}"
 id="count-{{ state }}">{{ n }} {{ labels[state] }}</span>{% endfor %}</p>
<p>{% if not total %}No devices in the inventory.{% elif filters.active %}{{ page.shown }} of
{{ total }} devices match the filters (<a href="/">clear</a>).{% elif page.counts.up == total %}All
{{ total }} devices up.{% else %}{{ total }} devices; only "up" means a fresh probe got a
reply.{% endif %}
As of {{ as_of }} UTC, refreshed every {{ refresh }} s. ICMP socket mode: <b>{{ mode }}</b>.</p>
<form method="get" action="/" id="filters">
<input type="search" name="q" value="{{ filters.q }}" placeholder="name, address, site, type"
 aria-label="search">
{% for key in ("site", "region", "type") %}<select name="{{ key }}" aria-label="{{ key }}">
<option value="">every {{ key }}</option>{% for value in page.options[key] %}
<option{% if value == filters[key] %} selected{% endif %}>{{ value }}</option>{% endfor %}
</select>{% endfor %}
<select name="state" aria-label="state"><option value="">every state</option>
{% for value in states %}<option value="{{ value }}"{% if value == filters.state %} selected{%
 endif %}>{{ state_labels[value] }}</option>{% endfor %}</select>
<button type="submit">Filter</button></form>
{% macro device(r) %}<a href="{{ links.device(r) }}">{{ r.name }}</a>{% endmacro %}
{% macro site(name) %}<a href="/?site={{ name | urlencode }}">{{ name }}</a>{% endmacro %}
{% macro node(n) %}<li><span class="{{ n.cells.state }}">{{ n.cells.name }}</span>
<span class="wide">{{ n.cells.address }} {{ n.cells.type }}</span>
<span class="{{ n.cells.state }} {{ n.cells.flag }}">{{ n.cells.label }}</span>{% if
n.cells.down_for %} for {{ n.cells.down_for }}{% endif %}{% if n.also_behind %}
<small>(also behind {{ n.also_behind_text }})</small>{% endif %}
{% if n.children %}<ul class="tree">{% for c in n.children %}{{ node(c) }}{% endfor %}</ul>{%
endif %}</li>{% endmacro %}
{% if filters.site %}<h2>Site {{ filters.site }}: dependencies</h2>
<p><a href="{{ links.site(filters.site) }}">Site dashboard</a>. Each device under the
device(s) it is reached through (<code>parent</code>; by default the site's routers).</p>
{% if page.tree %}<ul class="tree" id="tree">{% for n in page.tree %}{{ node(n) }}{% endfor %}
</ul>{% else %}<p>No devices at this site.</p>{% endif %}{% endif %}
{% if page.down %}<h2>Down, newest outage first</h2>
<div class="scroll"><table id="down"><tr><th>device</th><th>site</th><th class="wide">address</th>
<th class="wide">type</th><th>state</th><th>down for</th><th class="wide">since (UTC)</th>
<th class="wide">last probe</th></tr>
{% for r in page.down %}<tr><td>{{ device(r) }}</td><td>{{ site(r.site) }}</td>
<td class="wide">{{ r.address }}</td><td class="wide">{{ r.type }}</td>
<td class="down {{ r.flag }}">{{ r.label }}</td><td>{{ r.down_for }}</td>
<td class="wide">{{ r.since }}</td><td class="wide">{{ r.last_probe }}</td></tr>
{% endfor %}</table></div>{% endif %}
{% if page.attention %}<h2>Not known to be up</h2>
<div class="scroll"><table id="attention"><tr><th>device</th><th>site</th>
<th class="wide">address</th><th class="wide">type</th><th>state</th><th>last probe</th></tr>
{% for r in page.attention %}<tr><td>{{ device(r) }}</td><td>{{ site(r.site) }}</td>
<td class="wide">{{ r.address }}</td><td class="wide">{{ r.type }}</td>
<td class="{{ r.state }} {{ r.flag }}">{{ r.label }}</td><td>{{ r.last_probe }}</td></tr>
{% endfor %}</table></div>{% endif %}
{% if page.paths %}<h2>ISP paths, down first</h2>
<div class="scroll"><table id="paths"><tr><th>device</th><th>site</th><th>isp</th>
<th class="wide">path address</th><th>state</th><th>down for</th><th>RTT</th>
<th class="wide">loss</th></tr>
{% for r in page.paths %}<tr><td>{{ r.name }}</td><td>{{ r.site }}</td><td>{{ r.isp }}</td>
<td class="wide">{{ r.address }}</td><td class="{{ r.state }}">{{ r.label }}</td>
<td>{{ r.down_for }}</td><td>{{ r.rtt }}</td><td class="wide">{{ r.loss }}</td></tr>
{% endfor %}</table></div>{% endif %}
{% if page.regions %}<h2>By region</h2>
<div class="scroll"><table id="regions"><tr><th>region</th><th class="num">devices</th>
<th class="num">up</th><th class="num">down</th><th class="num">cut off</th>
<th class="num">not known up</th><th class="num">in maintenance</th></tr>
{% for t in page.regions %}<tr><td>{% if t.name != "(no region)" %}<a href="/?region={{
t.name | urlencode }}">{{ t.name }}</a>{% else %}{{ t.name }}{% endif %}</td>
<td class="num">{{ t.devices }}</td><td class="num up">{{ t.up }}</td>
<td class="num{% if t.down %} down{% endif %}">{{ t.down }}</td>
<td class="num">{{ t.parent_down }}</td><td class="num">{{ t.other }}</td>
<td class="num">{{ t.maintenance }}</td></tr>
{% endfor %}</table></div>{% endif %}
{% if page.sites %}<details id="sites-box"{% if page.sites | length <= 20 %} open{% endif %}>
<summary><h2 style="display:inline">By site</h2> ({{ page.sites | length }} sites, {{
page.sites | selectattr("down") | list | length }} with devices down)</summary>
<div class="scroll"><table id="sites"><tr><th>site</th><th class="wide">region</th>
<th class="num">devices</th><th class="num">up</th><th class="num">down</th>
<th class="num">cut off</th><th class="num">not known up</th>
<th class="num">in maintenance</th></tr>
{% for t in page.sites %}<tr><td>{{ site(t.name) }}</td><td class="wide">{{ t.region }}</td>
<td class="num">{{ t.devices }}</td><td class="num up">{{ t.up }}</td>
<td class="num{% if t.down %} down{% endif %}">{{ t.down }}</td>
<td class="num">{{ t.parent_down }}</td><td class="num">{{ t.other }}</td>
<td class="num">{{ t.maintenance }}</td></tr>
{% endfor %}</table></div></details>{% endif %}
{% if page.up %}<h2>Up</h2>
<div class="scroll"><table id="up"><tr><th>device</th><th>site</th><th class="wide">address</th>
<th class="wide">type</th><th>state</th><th>RTT</th><th class="wide">loss</th>
<th class="wide">last probe</th></tr>
{% for r in page.up %}<tr><td>{{ device(r) }}</td><td>{{ site(r.site) }}</td>
<td class="wide">{{ r.address }}</td><td class="wide">{{ r.type }}</td>
<td class="up {{ r.flag }}">{{ r.label }}</td><td>{{ r.rtt }}</td><td class="wide">{{ r.loss }}</td>
<td class="wide">{{ r.last_probe }}</td></tr>
{% endfor %}</table></div>{% endif %}
</body></html>
"""


@dataclass(frozen=True, slots=True)
class PageLinks:
    """Where the page's links go: Grafana (the provisioned dashboards) and the alerter.

    Empty: the host the page was requested from, on Grafana's and the alerter's default
    ports (3000, 9470), as docker-compose.yml and the demo run them.
    """

    grafana: str = ""
    alerter: str = ""


class _Links:
    """The links of one rendering of the page."""

    def __init__(self, links: PageLinks, host: str, scheme: str) -> None:
        name = host  # without its port: "[::1]:9469" -> "[::1]"
        if host.startswith("["):
            name = host[:host.index("]") + 1] if "]" in host else host
        elif ":" in host:
            name = host.rsplit(":", 1)[0]
        self.grafana = (links.grafana or f"{scheme}://{name}:3000").rstrip("/")
        self.alerter = links.alerter or f"{scheme}://{name}:9470/"
        self.fleet = f"{self.grafana}/d/wardops-fleet"

    def device(self, cells: dict[str, str]) -> str:
        """The device's Grafana dashboard."""
        return f"{self.grafana}/d/wardops-device?" + urlencode(
            {"var-device": cells["name"], "var-address": cells["address"],
             "var-site": cells["site"]})

    def site(self, name: str) -> str:
        """The site's Grafana dashboard."""
        return f"{self.grafana}/d/wardops-site?" + urlencode({"var-site": name})


def create_app(view: WebView, *, lifecycle: bool = True,
               links: PageLinks | None = None) -> Flask:
    """The Flask app for ``view``; ``lifecycle`` false (no ``--web.enable-lifecycle``):
    ``POST /-/reload`` is refused, as Prometheus refuses it (reload with SIGHUP);
    ``links``: where the / page's dashboard and alerter links go."""
    app = Flask("exporter")
    page_links = links or PageLinks()

    @app.get("/metrics")
    def metrics() -> Response:
        # who scrapes, so that probe cycles can align to one regular scraper
        scraper = f"{request.remote_addr or '?'} {request.user_agent.string}"
        wants_gzip = request.accept_encodings.quality("gzip") > 0
        body = view.metrics(scraper, gzip=wants_gzip)
        if not isinstance(body, GzipStream) and not wants_gzip:
            return Response(body, content_type=CONTENT_TYPE)  # a GzipStream only if asked
        # As Prometheus's client libraries do when asked (Prometheus always asks): at
        # 10,000 devices 35 MB become 1.4 MB, and writing them costs less than the
        # compression (level 1: a third of the CPU of the default level, 10 % larger).
        if isinstance(body, GzipStream):
            chunks = body.chunks
        else:
            chunks = gzipped([body] if isinstance(body, bytes) else body)
        return Response(chunks, content_type=CONTENT_TYPE,
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
        args = request.args
        filters = Filters(**{key: args.get(key, "")[:200]
                             for key in ("q", "site", "region", "type", "state")})
        return render_template_string(
            _PAGE, page=landing(rows, now, filters), labels=_LABELS, total=len(rows),
            filters=filters, states=FILTER_STATES, state_labels=_FILTER_LABELS,
            links=_Links(page_links, request.host, request.scheme),
            refresh=REFRESH_SECONDS, mode=view.icmp_mode,
            as_of=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)))

    return app
