#!/usr/bin/env python3
"""Generate the wardops Grafana dashboards (grafana/dashboards/*.json).

The dashboards are written as Python so that every panel shares one datasource
reference, one set of value mappings (up/down/unknown) and one layout rule; the JSON is
generated and committed, so Grafana's file provisioning reads it as it is.

    python3 grafana/build_dashboards.py          # rewrite grafana/dashboards/*.json
    python3 grafana/build_dashboards.py --check  # exit 1 if the committed JSON is stale

Every query goes through the dashboard's ``datasource`` variable (any Prometheus data
source), which defaults to the provisioned uid (``wardops-prometheus``, set in
grafana/provisioning/datasources/wardops.yml): the dashboards work as provisioned and
import into a Grafana that already has its own Prometheus. No ``${DS_...}`` inputs, which
file provisioning cannot fill in. Standard library only: it runs without the virtualenv.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DATASOURCE_UID = "wardops-prometheus"
DS = {"type": "prometheus", "uid": "${datasource}"}
DATASOURCE_VARIABLE = {
    "type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
    "regex": "", "hide": 0, "refresh": 1, "includeAll": False, "multi": False,
    "current": {"selected": False, "text": "wardops Prometheus", "value": DATASOURCE_UID}}
OUT_DIR = Path(__file__).resolve().parent / "dashboards"
TAGS = ["wardops"]
GRID_WIDTH = 24

Panel = dict[str, Any]

def up_down_mappings(no_data: str) -> list[dict[str, Any]]:
    """Value mappings for 1/0 series: UP green, DOWN red, -1 or no sample grey ``no_data``."""
    return [
        {"type": "value", "options": {
            "1": {"text": "UP", "color": "green", "index": 0},
            "0": {"text": "DOWN", "color": "red", "index": 1},
            "-1": {"text": no_data, "color": "#8e8e8e", "index": 3},
        }},
        {"type": "special", "options": {
            "match": "null", "result": {"text": no_data, "color": "#8e8e8e", "index": 2},
        }},
    ]


# Device state: 1 up, 0 down; no sample means unknown, never green.
STATE_MAPPINGS = up_down_mappings("UNKNOWN")
UPLINK_MAPPINGS = up_down_mappings("NO DATA")
# Share of a site's devices that are up: anything below 1 is not green.
SHARE_UP_THRESHOLDS = {"mode": "absolute", "steps": [
    {"color": "red", "value": None},
    {"color": "orange", "value": 0.01},
    {"color": "green", "value": 1},
]}
AVAILABILITY_THRESHOLDS = {"mode": "absolute", "steps": [
    {"color": "red", "value": None},
    {"color": "orange", "value": 0.99},
    {"color": "green", "value": 0.999},
]}


def zero_is_good(bad_color: str = "red") -> dict[str, Any]:
    """Thresholds for counts of bad things: green at 0, ``bad_color`` from 1."""
    return {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                          {"color": bad_color, "value": 1}]}


# ---------------------------------------------------------------- queries and panels

def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False,
           ref: str = "A") -> dict[str, Any]:
    """One Prometheus query of a panel."""
    t: dict[str, Any] = {"datasource": DS, "expr": expr, "refId": ref,
                         "legendFormat": legend or "__auto"}
    if instant or table:
        t.update(instant=True, range=False)
    else:
        t.update(instant=False, range=True)
    if table:
        t["format"] = "table"
    return t


def _targets(queries: list[tuple[str, str]] | str, **kw: Any) -> list[dict[str, Any]]:
    if isinstance(queries, str):
        queries = [(queries, "")]
    return [target(expr, legend, ref=chr(ord("A") + i), **kw)
            for i, (expr, legend) in enumerate(queries)]


def _panel(kind: str, title: str, targets: list[dict[str, Any]], *, w: int, h: int,
           description: str = "", unit: str | None = None, decimals: int | None = None,
           thresholds: dict[str, Any] | None = None, mappings: list[Any] | None = None,
           min_value: float | None = None, max_value: float | None = None,
           options: dict[str, Any] | None = None, custom: dict[str, Any] | None = None,
           overrides: list[Any] | None = None,
           transformations: list[Any] | None = None) -> Panel:
    defaults: dict[str, Any] = {"custom": custom or {}}
    if unit:
        defaults["unit"] = unit
    if decimals is not None:
        defaults["decimals"] = decimals
    if thresholds:
        defaults["thresholds"] = thresholds
        defaults["color"] = {"mode": "thresholds"}
    if mappings:
        defaults["mappings"] = mappings
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    panel: Panel = {
        "type": kind, "title": title, "description": description, "datasource": DS,
        "targets": targets, "gridPos": {"w": w, "h": h, "x": 0, "y": 0},
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if transformations:
        panel["transformations"] = transformations
    return panel


def stat(title: str, expr: str, *, w: int = 4, h: int = 4, unit: str = "none",
         thresholds: dict[str, Any] | None = None, description: str = "",
         mappings: list[Any] | None = None, legend: str = "",
         text_mode: str = "value") -> Panel:
    """A single big number (instant query)."""
    return _panel("stat", title, [target(expr, legend, instant=True)], w=w, h=h, unit=unit,
                  description=description, thresholds=thresholds, mappings=mappings,
                  options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                             "values": False},
                           "colorMode": "background", "graphMode": "none",
                           "textMode": text_mode, "justifyMode": "auto",
                           "orientation": "auto"})


def status_grid(title: str, expr: str, legend: str, *, w: int = 24, h: int = 8,
                description: str = "") -> Panel:
    """One coloured tile per series (a site, say), value = share of devices up."""
    return _panel("stat", title, [target(expr, legend, instant=True)], w=w, h=h,
                  unit="percentunit", decimals=0, thresholds=SHARE_UP_THRESHOLDS,
                  min_value=0, max_value=1, description=description,
                  options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                             "values": False},
                           "colorMode": "background", "graphMode": "none",
                           "textMode": "value_and_name", "justifyMode": "center",
                           "orientation": "vertical", "text": {"titleSize": 12,
                                                               "valueSize": 16}})


def timeseries(title: str, queries: list[tuple[str, str]] | str, *, w: int = 12, h: int = 8,
               unit: str = "none", description: str = "", min_value: float | None = None,
               max_value: float | None = None, bars: bool = False,
               overrides: list[Any] | None = None) -> Panel:
    """A graph over the dashboard's time range."""
    custom = {"drawStyle": "bars" if bars else "line", "lineWidth": 1,
              "fillOpacity": 60 if bars else 10, "showPoints": "never",
              "spanNulls": False}
    return _panel("timeseries", title, _targets(queries), w=w, h=h, unit=unit,
                  description=description, min_value=min_value, max_value=max_value,
                  custom=custom, overrides=overrides,
                  options={"legend": {"displayMode": "table", "placement": "right",
                                      "calcs": ["lastNotNull", "max"]},
                           "tooltip": {"mode": "multi", "sort": "desc"}})


LOSS_THRESHOLDS = {"mode": "absolute", "steps": [
    {"color": "green", "value": None},
    {"color": "yellow", "value": 0.01},
    {"color": "orange", "value": 0.05},
    {"color": "red", "value": 0.2},
]}


def smokeping(title: str, family: str, selector: str, *, w: int = 24, h: int = 9,
              description: str = "", repeat: str = "") -> Panel:
    """Latency as smokeping draws it, from an RTT histogram (``family``: wardops_device or
    wardops_path) over ``selector``: the median line, the spread between percentiles
    shaded (10-90 light, 25-75 darker), and the loss of each interval as bars on the
    right axis, coloured by how much was lost. ``repeat``: one panel per value of that
    variable, side by side."""
    buckets = (f"sum by (le) (rate({family}_rtt_histogram_seconds_bucket{{{selector}}}"
               f"[$__rate_interval]))")
    loss = (f"1 - sum(rate({family}_rtt_histogram_seconds_count{{{selector}}}"
            f"[$__rate_interval])) / (sum(rate({family}_echo_requests_total{{{selector}}}"
            f"[$__rate_interval])) > 0)")
    queries = [(f"histogram_quantile({q}, {buckets})", name) for q, name in (
        (0.1, "p10"), (0.25, "p25"), (0.5, "median"), (0.75, "p75"), (0.9, "p90"))]
    queries.append((loss, "loss"))

    def band(name: str, to: str, opacity: int) -> dict[str, Any]:
        return column(name, **{"custom.fillBelowTo": to, "custom.lineWidth": 0,
                               "custom.fillOpacity": opacity, "color": {
                                   "mode": "fixed", "fixedColor": "#8ab8ff"}})

    overrides = [
        band("p90", "p10", 20), band("p75", "p25", 35),
        column("p10", **{"custom.lineWidth": 0, "custom.fillOpacity": 0,
                         "color": {"mode": "fixed", "fixedColor": "#8ab8ff"}}),
        column("p25", **{"custom.lineWidth": 0, "custom.fillOpacity": 0,
                         "color": {"mode": "fixed", "fixedColor": "#8ab8ff"}}),
        column("median", **{"custom.lineWidth": 2,
                            "color": {"mode": "fixed", "fixedColor": "#1f60c4"}}),
        column("loss", unit="percentunit", min=0, max=1, thresholds=LOSS_THRESHOLDS,
               color={"mode": "thresholds"}, **{
                   "custom.axisPlacement": "right", "custom.drawStyle": "bars",
                   "custom.fillOpacity": 80, "custom.axisLabel": "loss"}),
    ]
    panel = timeseries(title, queries, w=w, h=h, unit="s", min_value=0,
                       overrides=overrides, description=description or (
                           "Median round trip (line), the middle half (darker) and 80% "
                           "(lighter) of the replies of each interval, from the RTT "
                           "histogram; bars on the right axis: the share of echo requests "
                           "lost, green to red. Wide bands are jitter."))
    if repeat:
        panel.update(repeat=repeat, repeatDirection="h", maxPerRow=2)
    return panel


def state_timeline(title: str, expr: str, legend: str, *, w: int = 24, h: int = 8,
                   mappings: list[Any] | None = None, description: str = "") -> Panel:
    """Up/down bands per series over time; gaps (no data) stay grey, never green."""
    return _panel("state-timeline", title, [target(expr, legend)], w=w, h=h,
                  description=description, mappings=mappings or STATE_MAPPINGS,
                  thresholds={"mode": "absolute", "steps": [{"color": "#8e8e8e",
                                                             "value": None}]},
                  custom={"fillOpacity": 80, "lineWidth": 0},
                  options={"showValue": "never", "mergeValues": True, "rowHeight": 0.9,
                           "alignValue": "left",
                           "legend": {"displayMode": "list", "placement": "bottom",
                                      "showLegend": False}})


HIDDEN_COLUMNS = {"Time": True, "__name__": True, "job": True, "instance": True}


def table(title: str, queries: list[tuple[str, str]], *, w: int = 24, h: int = 10,
          description: str = "", rename: dict[str, str] | None = None,
          hide: list[str] | None = None, sort_by: str | None = None, desc: bool = False,
          overrides: list[Any] | None = None, unit: str | None = None,
          decimals: int | None = None, thresholds: dict[str, Any] | None = None,
          mappings: list[Any] | None = None) -> Panel:
    """An instant table; several queries are merged on their labels into one row each.

    ``rename`` maps the columns ("Value #A" ...) to headers; tables sort by any column
    with a click, ``sort_by`` is the initial order.
    """
    excluded = dict(HIDDEN_COLUMNS)
    excluded.update({name: True for name in hide or []})
    transformations: list[Any] = []
    if len(queries) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append({"id": "organize", "options": {
        "excludeByName": excluded, "indexByName": {}, "renameByName": rename or {}}})
    options: dict[str, Any] = {"showHeader": True, "cellHeight": "sm",
                               "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": desc}]
    return _panel("table", title, _targets(queries, table=True), w=w, h=h,
                  description=description, options=options, overrides=overrides,
                  unit=unit, decimals=decimals, thresholds=thresholds, mappings=mappings,
                  custom={"align": "auto", "filterable": True},
                  transformations=transformations)


def column(name: str, **props: Any) -> dict[str, Any]:
    """A table-column override: unit, decimals, colour ... for the column ``name``."""
    properties = []
    for key, value in props.items():
        if key == "cell":
            properties.append({"id": "custom.cellOptions", "value": {"type": value}})
        else:
            properties.append({"id": key, "value": value})
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def geomap(title: str, expr: str, *, w: int = 24, h: int = 14, description: str = "") -> Panel:
    """Sites as markers at their coordinates (labels ``latitude``/``longitude``)."""
    layer = {
        "type": "markers", "name": "Sites", "tooltip": True,
        "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"},
        "config": {
            "showLegend": True,
            "style": {"size": {"fixed": 8, "min": 6, "max": 14},
                      "color": {"field": "Value", "fixed": "#8e8e8e"},
                      "opacity": 0.8,
                      "text": {"mode": "field", "field": "site", "fixed": ""},
                      "textConfig": {"fontSize": 10, "offsetY": -12,
                                     "textAlign": "center", "textBaseline": "bottom"}},
        },
    }
    return _panel("geomap", title, [target(expr, "{{site}}", table=True)], w=w, h=h,
                  description=description, unit="percentunit", decimals=0,
                  thresholds=SHARE_UP_THRESHOLDS, min_value=0, max_value=1,
                  transformations=[{"id": "convertFieldType", "options": {
                      "fields": {}, "conversions": [
                          {"targetField": "latitude", "destinationType": "number"},
                          {"targetField": "longitude", "destinationType": "number"}]}}],
                  options={"view": {"id": "fit", "lat": 0, "lon": 0, "zoom": 1,
                                    "allLayers": True},
                           "controls": {"showZoom": True, "mouseWheelZoom": True,
                                        "showAttribution": True},
                           "basemap": {"type": "default", "name": "Basemap"},
                           "layers": [layer], "tooltip": {"mode": "details"}})


def row(title: str) -> Panel:
    """A section header."""
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"w": GRID_WIDTH, "h": 1, "x": 0, "y": 0}}


def layout(panels: list[Panel]) -> list[Panel]:
    """Place panels left to right, wrapping at the grid width; rows start a new line."""
    x = y = line_height = 0
    for pid, panel in enumerate(panels, start=1):
        panel["id"] = pid
        pos = panel["gridPos"]
        if panel["type"] == "row" or x + pos["w"] > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        pos["x"], pos["y"] = x, y
        x += pos["w"]
        line_height = max(line_height, pos["h"])
        if panel["type"] == "row":
            x, y, line_height = 0, y + pos["h"], 0
    return panels


def query_variable(name: str, label: str, query: str, *, multi: bool = False,
                   include_all: bool = False, hide: int = 0) -> dict[str, Any]:
    """A template variable filled from Prometheus label values."""
    return {"type": "query", "name": name, "label": label, "datasource": DS,
            "query": {"query": query, "refId": f"{name}-values"}, "definition": query,
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
            "allValue": ".*" if include_all else None, "hide": hide,
            "current": {}, "options": [], "regex": ""}


def custom_variable(name: str, label: str, values: list[str], description: str) -> dict[str, Any]:
    """A fixed list of choices; the first is the default."""
    return {"type": "custom", "name": name, "label": label, "description": description,
            "query": ",".join(values), "multi": False, "includeAll": False, "hide": 0,
            "current": {"text": values[0], "value": values[0], "selected": True},
            "options": [{"text": v, "value": v, "selected": i == 0}
                        for i, v in enumerate(values)]}


def dashboard(uid: str, title: str, description: str, panels: list[Panel], *,
              variables: list[dict[str, Any]] | None = None, time_from: str = "now-6h",
              links: bool = True, annotations: list[dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """The dashboard document Grafana stores; ``annotations``: Prometheus annotation
    queries shown on its time series (e.g. :func:`maintenance_annotation`)."""
    return {
        "uid": uid, "title": title, "description": description, "tags": TAGS,
        "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
        "refresh": "30s", "timezone": "", "fiscalYearStartMonth": 0, "liveNow": False,
        "time": {"from": time_from, "to": "now"}, "timepicker": {},
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana",
                                                                "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"},
                                 *(annotations or [])]},
        "templating": {"list": [DATASOURCE_VARIABLE, *(variables or [])]},
        "links": [{"type": "dashboards", "tags": TAGS, "asDropdown": True, "title": "wardops",
                   "includeVars": False, "keepTime": True}] if links else [],
        "panels": layout(panels),
    }


# ---------------------------------------------------------------- the dashboards

# How long a device stays in the inventory, and a down device stays down, after its
# series were last seen (exporter unreachable, restarted without its state file, probes
# that cannot run): the same 10 minutes as DeviceDown and SiteDown (rules/wardops.yml).
HOLD = "10m"


def _sel(selector: str) -> str:
    return f"{{{selector}}}" if selector else ""


def _by(labels: tuple[str, ...]) -> str:
    return ", ".join(("device", "address", *labels))


def stale_probes(selector: str = "") -> str:
    """Devices probed before whose last probe is older than 3 of their exporter's
    intervals: ProbeStale's condition (rules/wardops.yml), value = seconds since."""
    return (f"(time() - (wardops_device_last_probe_timestamp_seconds{_sel(selector)} > 0))"
            " > on (job, instance) group_left () (3 * wardops_exporter_probe_interval_seconds)")


def inventory(selector: str = "", labels: tuple[str, ...] = ()) -> str:
    """One series (value 1) per device reported in the last :data:`HOLD`."""
    return (f"group by ({_by(labels)}) "
            f"(last_over_time(wardops_device_info{_sel(selector)}[{HOLD}]))")


def device_state(selector: str = "", labels: tuple[str, ...] = ()) -> str:
    """Each inventory device's state: 0 DOWN, 1 UP, -1 UNKNOWN; exactly one per device.

    DOWN is what DeviceDown and SiteDown read: the last state reported within
    :data:`HOLD` is down and no exporter reports it up now (missing data holds it).
    UP needs a current up series whose probe is not stale (ProbeStale). Everything else
    in the inventory is UNKNOWN (never probed, probes failing, stale, exporter unreachable).
    """
    sel = _sel(selector)
    by = _by(labels)
    return (f"(min by ({by}) (last_over_time(wardops_device_up{sel}[{HOLD}])) == 0"
            f" unless on (device, address) (wardops_device_up{sel} == 1))"
            f" or on (device, address) (min by ({by}) (wardops_device_up{sel}) == 1"
            f" unless on (device, address) ({stale_probes(selector)}))"
            f" or on (device, address) ({inventory(selector, labels)} * 0 - 1)")


def count_state(value: int, selector: str = "") -> str:
    """How many inventory devices are in state ``value`` (0 when none)."""
    return f"count(({device_state(selector)}) == {value}) or vector(0)"


def not_up_reason(selector: str = "") -> str:
    """One ``reason`` label per inventory device (value 1): why it is not known to be up.

    The first that applies wins: probes that cannot run (with the exporter's reason), no
    data from the exporter, never probed, stale probes, no reply; anything else is 'no
    probe result'.
    """
    sel = _sel(selector)

    def because(expr: str, text: str) -> str:
        return f'label_replace(group by (device, address) ({expr}), "reason", "{text}", "", "")'

    failing = (f"label_replace(max by (device, address, reason) (topk by (device, address) "
               f"(1, wardops_device_probe_failing{sel})), \"reason\", \"probes cannot run: "
               f"$1\", \"reason\", \"(.*)\")")
    chain = [
        failing,
        because(f"{inventory(selector)} unless on (device, address) wardops_device_info{sel}",
                "no data from its exporter"),
        because(f"wardops_device_last_probe_timestamp_seconds{sel} == 0", "not probed yet"),
        because(stale_probes(selector), "probes stale (3 intervals)"),
        because(f"last_over_time(wardops_device_up{sel}[{HOLD}]) == 0", "no reply (down)"),
        because(inventory(selector), "no probe result"),
    ]
    return "\n  or on (device, address) ".join(chain)


def not_known_up(selector: str = "") -> str:
    """Devices not known to be up: state (0 DOWN, -1 UNKNOWN) with the ``reason``."""
    return (f"(({device_state(selector, ('site',))}) < 1)"
            f" * on (device, address) group_left (reason) ({not_up_reason(selector)})")


# SiteDown's expression, verbatim (tests/stack checks it against rules/wardops.yml): a
# site with 2 or more devices, every one of them down.
SITE_DOWN = """count by (site) (
  min without (instance, job) (last_over_time(wardops_device_up[10m])) == 0
    unless on (device, address) (wardops_device_up == 1)
) >= 2
  unless on (site) count by (site) (
    min without (instance, job) (last_over_time(wardops_device_up[10m])) == 1
      or on (device, address) (wardops_device_up == 1)
  )"""

UPLINKS_DOWN = ('wardops_interface_oper_up{isp!=""} == 0'
                " and on (device, address, ifindex) wardops_interface_admin_up == 1")


DEVICE_LINK = "/d/wardops-device/wardops-device?var-device=${__data.fields.device}"
# Sites whose devices with paths answer over exactly one path now, by the ISP that works.
ONE_ISP = ("count by (isp) (count by (isp, site) ((wardops_path_up == 1) and on (device, "
           "address) (count by (device, address) (wardops_path_up == 1) == 1)))")
SITE_LINK = "/d/wardops-site/wardops-site?var-site=${__data.fields.site}"


def fleet_overview() -> dict[str, Any]:
    """What is down right now, where, and since when."""
    site_state = device_state(labels=("region", "site"))
    share_up = (f"(count by (region, site) (({site_state}) == 1)"
                f" or 0 * count by (region, site) ({site_state}))"
                f" / count by (region, site) ({site_state})")
    # One position per device, even while an edited position and the old one are both
    # in the window.
    coords = (f'group by (device, address, latitude, longitude) (topk by (device, address) '
              f'(1, last_over_time(wardops_device_info{{latitude!=""}}[{HOLD}])))')
    located = (f"({device_state(labels=('site',))})"
               f" * on (device, address) group_left (latitude, longitude) {coords}")
    site_map = (f"(count by (site, latitude, longitude) (({located}) == 1)"
                f" or 0 * count by (site, latitude, longitude) ({located}))"
                f" / count by (site, latitude, longitude) ({located})")
    down_since = (f"min by (device, address, site) (last_over_time("
                  f"wardops_device_down_since_timestamp_seconds[{HOLD}]) > 0)"
                  f" and on (device, address) (({device_state()}) == 0)")
    uplink_sites = f'last_over_time(wardops_interface_oper_up{{isp!=""}}[{HOLD}])'
    panels = [
        stat("In inventory", f"count({inventory()}) or vector(0)", w=3,
             thresholds={"mode": "absolute", "steps": [{"color": "blue", "value": None}]},
             description="Devices reported by the exporters (wardops_device_info) in the "
                         f"last {HOLD}: up + down + unknown add up to this."),
        stat("Devices up", count_state(1), w=3,
             thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}]},
             description="Devices whose latest probe got a reply and is not stale."),
        stat("Devices down", count_state(0), w=3, thresholds=zero_is_good(),
             description="Devices that stopped answering, as DeviceDown/SiteDown see them: "
                         f"a down device stays down while its data is missing (up to {HOLD})."),
        stat("Devices unknown", count_state(-1), w=3, thresholds=zero_is_good("orange"),
             description="Neither up nor down: never probed, probes failing or stale, or "
                         "no data from their exporter. Never counted as up; see 'Not known "
                         "to be up' for the reason."),
        stat("Probes failing", "count(wardops_device_probe_failing == 1) or vector(0)", w=3,
             thresholds=zero_is_good("orange"),
             description="Devices whose probes cannot run (ProbeFailing): name does not "
                         "resolve, no route, local firewall ..."),
        stat("Stale devices",
             f"count(({stale_probes()}) unless on (device, address)"
             " wardops_device_probe_failing) or vector(0)", w=3,
             thresholds=zero_is_good("orange"),
             description="Devices probed before with no probe for 3 of their exporter's "
                         "intervals (ProbeStale). Shown unknown, not up."),
        stat("Sites fully down", f"count({SITE_DOWN}) or vector(0)", w=3,
             thresholds=zero_is_good(),
             description="Sites with 2 or more devices, all down: what SiteDown fires on."),
        stat("Exporters unreachable", 'count(up{job="wardops-exporter"} == 0) or vector(0)',
             w=3, thresholds=zero_is_good(),
             description="Exporter scrape targets Prometheus cannot reach: their devices' "
                         "state is unknown, not green."),
        table("Down devices (longest outage first)", [
            (down_since, ""),
            (f"time() - ({down_since})", ""),
        ], w=12, h=9, rename={"Value #A": "Down since", "Value #B": "Down for"},
            sort_by="Down since", desc=False,
            overrides=[column("Down since", unit="dateTimeAsIso"),
                       column("Down for", unit="dtdurations", decimals=0),
                       column("device", links=[{"title": "Device dashboard",
                                                "url": DEVICE_LINK}])],
            description="Every device that is down now, with the start of its outage "
                        "(kept across exporter restarts)."),
        table("Not known to be up", [(not_known_up(), "")], w=12, h=9,
              rename={"Value": "State"}, sort_by="State",
              overrides=[column("State", mappings=STATE_MAPPINGS, cell="color-background"),
                         column("device", links=[{"title": "Device dashboard",
                                                  "url": DEVICE_LINK}])],
              description="Every device of the inventory that is not up, DOWN or UNKNOWN, "
                          "with the reason: probes that cannot run, no data from its "
                          "exporter, not probed yet, stale probes, no reply."),
        row("Sites"),
        status_grid("Sites by region: share of devices up", share_up, "{{region}} · {{site}}",
                    description="One tile per site; green only when every device of the site "
                                "is up. Devices that are unknown count as not up."),
        geomap("Sites on the map", site_map,
               description="Site coordinates come from wardops_device_info; colour is the "
                           "share of the site's devices that are up."),
        row("ISP uplinks (SNMP)"),
        stat("Sites with no uplink up",
             f"count(count by (site) ({uplink_sites}) unless on (site)"
             ' (wardops_interface_oper_up{isp!=""} == 1)) or vector(0)', w=6,
             thresholds=zero_is_good(),
             description="Sites with ISP uplinks (reported in the last "
                         f"{HOLD}) none of which is reported up now: down, or SNMP polls "
                         "failing."),
        stat("Uplinks down per ISP",
             f'count by (isp) ({UPLINKS_DOWN}) or 0 * count by (isp) ({uplink_sites})',
             w=18, thresholds=zero_is_good(), legend="{{isp}}", text_mode="value_and_name",
             description="Uplinks down (oper down, admin up) by provider: many uplinks of "
                         "one ISP down at once is that provider's outage."),
        row("ISP paths (probed)"),
        stat("Branches on one ISP now, by ISP",
             f"{ONE_ISP} or 0 * count by (isp) (count by (isp, site) (wardops_path_info))",
             w=8, h=5, thresholds=zero_is_good("orange"), legend="{{isp}}",
             text_mode="value_and_name",
             description="Sites whose probed devices answer over exactly one ISP path: the "
                         "branch runs on its backup (IspPathDown), counted by the ISP that "
                         "still works. Many on one ISP: the other ISP's outage."),
        table("ISP paths down", [
            ("max by (device, address, site, isp) "
             "(wardops_path_down_since_timestamp_seconds > 0)", ""),
        ], w=16, h=5, rename={"Value": "Down since"}, sort_by="Down since",
            overrides=[column("Down since", unit="dateTimeAsIso"),
                       column("device", links=[{"title": "Device dashboard",
                                                "url": DEVICE_LINK}])],
            description="Every path that is down now, with the start of its outage; the "
                        "device itself is down only when all its paths are."),
        timeseries("Branches on one ISP, by ISP", [(ONE_ISP, "{{isp}}")], w=24, h=6,
                   min_value=0, bars=True,
                   description="Over time: how many branches ran on a single ISP."),
        row("Latency and loss"),
        table("Worst jitter (15 minutes)", [
            ("topk(10, avg_over_time(wardops_device_rtt_stddev_seconds[15m]) or "
             "avg_over_time(wardops_path_rtt_stddev_seconds[15m]))", "")],
              w=24, h=9, rename={"Value": "Jitter"}, sort_by="Jitter", desc=True,
              overrides=[column("Jitter", unit="s", decimals=4),
                         column("device", links=[{"title": "Device dashboard",
                                                  "url": DEVICE_LINK}])],
              description="Mean over 15 minutes of each probe's standard deviation of round "
                          "trips, devices and ISP paths (isp column) alike: the links whose "
                          "latency wanders most."),
        table("Worst round-trip time", [("topk(10, wardops_device_rtt_seconds)", "")],
              w=12, h=9, rename={"Value": "RTT"}, sort_by="RTT", desc=True,
              overrides=[column("RTT", unit="s", decimals=3)]),
        table("Worst packet loss", [("topk(10, wardops_device_packet_loss_ratio)", "")],
              w=12, h=9, rename={"Value": "Loss"}, sort_by="Loss", desc=True,
              overrides=[column("Loss", unit="percentunit", decimals=0)]),
        timeseries("Fleet round-trip time", [
            ("max(wardops_device_rtt_seconds)", "max"),
            ("quantile(0.95, wardops_device_rtt_seconds)", "p95"),
            ("quantile(0.5, wardops_device_rtt_seconds)", "median")], unit="s"),
        timeseries("Devices by state", [
            (count_state(1), "up"), (count_state(0), "down"), (count_state(-1), "unknown")],
            min_value=0),
    ]
    return dashboard("wardops-fleet", "wardops / Fleet overview",
                     "Devices up, down and unknown (adding up to the inventory), what is down "
                     "since when and why the rest are not known to be up, sites by region and "
                     "on the map, ISP uplinks, worst latency and loss.", panels,
                     time_from="now-1h")


def site_dashboard() -> dict[str, Any]:
    """One site's devices and its uplinks."""
    sel = 'site="$site"'
    panels = [
        stat("In inventory", f"count({inventory(sel)}) or vector(0)",
             thresholds={"mode": "absolute", "steps": [{"color": "blue", "value": None}]}),
        stat("Up", count_state(1, sel),
             thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None}]}),
        stat("Down", count_state(0, sel), thresholds=zero_is_good()),
        stat("Unknown", count_state(-1, sel), thresholds=zero_is_good("orange"),
             description="In the inventory but neither up nor down (never probed, probes "
                         "failing or stale, exporter unreachable): never green."),
        stat("Availability 1d", f"wardops:site_availability:ratio_1d{{{sel}}}", unit="percentunit",
             thresholds=AVAILABILITY_THRESHOLDS, w=8),
        state_timeline("Device state", device_state(sel), "{{device}} ({{address}})",
                       h=10, description="UNKNOWN (grey): not probed, probes failing or stale, "
                                         "or the exporter was unreachable; never green."),
        stat("Uplinks by ISP", f'wardops_interface_oper_up{{{sel}, isp!=""}}', w=24,
             mappings=UPLINK_MAPPINGS, legend="{{isp}} · {{device}} {{ifname}}",
             text_mode="value_and_name",
             thresholds={"mode": "absolute", "steps": [{"color": "#8e8e8e", "value": None}]},
             description="Each ISP uplink's operational state now (SNMP); an uplink whose "
                         "device's SNMP poll fails has no value."),
        state_timeline("ISP uplinks", f'wardops_interface_oper_up{{{sel}, isp!=""}}',
                       "{{device}} {{isp}} ({{ifname}})", h=5, mappings=UPLINK_MAPPINGS,
                       description="Operational state of the interfaces marked as ISP uplinks "
                                   "(SNMP)."),
        timeseries("Round-trip time", [(f"wardops_device_rtt_seconds{{{sel}}}", "{{device}}")],
                   unit="s"),
        timeseries("Packet loss", [(f"wardops_device_packet_loss_ratio{{{sel}}}", "{{device}}")],
                   unit="percentunit", min_value=0, max_value=1),
        smokeping("Latency of the site's devices", "wardops_device", sel,
                  description="All the site's devices' replies (devices probed over ISP "
                              "paths are in the paths' panels): median line, 25-75% and "
                              "10-90% of the replies shaded, loss as coloured bars."),
        row("ISP paths (probed)"),
        smokeping("Latency over ${isp}", "wardops_path", f'{sel}, isp=~"${{isp}}"', w=12,
                  repeat="isp",
                  description="One panel per ISP, side by side: the site's replies over that "
                              "ISP's path (median line, 25-75% and 10-90% shaded) and its "
                              "loss (bars, green to red)."),
        state_timeline("ISP paths", f"wardops_path_up{{{sel}}}", "{{device}} {{isp}}", h=5,
                       mappings=UPLINK_MAPPINGS,
                       description="Each probed path up or down over time (DOWN while the "
                                   "device still answers: it runs on the other ISP)."),
        timeseries("Median round trip by path", [
            (f"histogram_quantile(0.5, sum by (device, isp, le) (rate("
             f"wardops_path_rtt_histogram_seconds_bucket{{{sel}}}[$__rate_interval])))",
             "{{device}} {{isp}}")], unit="s", min_value=0),
        timeseries("Loss by path", [
            (f"1 - sum by (device, isp) (rate(wardops_path_rtt_histogram_seconds_count"
             f"{{{sel}}}[$__rate_interval])) / (sum by (device, isp) (rate("
             f"wardops_path_echo_requests_total{{{sel}}}[$__rate_interval])) > 0)",
             "{{device}} {{isp}}")], unit="percentunit", min_value=0, max_value=1),
        table("Devices", [
            (device_state(sel, ("site",)), ""),
            (f"max by (device, address, site) (wardops_device_rtt_seconds{{{sel}}})", ""),
            (f"max by (device, address, site) (wardops_device_packet_loss_ratio{{{sel}}})", ""),
            (f"min by (device, address, site) (time() - "
             f"(wardops_device_last_probe_timestamp_seconds{{{sel}}} > 0))", ""),
        ], rename={"Value #A": "State", "Value #B": "RTT", "Value #C": "Loss",
                   "Value #D": "Last probe"}, sort_by="State",
            overrides=[column("State", mappings=STATE_MAPPINGS, cell="color-background"),
                       column("RTT", unit="s", decimals=3),
                       column("Loss", unit="percentunit", decimals=0),
                       column("Last probe", unit="s", decimals=0),
                       column("device", links=[{"title": "Device dashboard",
                                                "url": DEVICE_LINK}])]),
        table("Not known to be up", [(not_known_up(sel), "")], h=6,
              rename={"Value": "State"}, sort_by="State",
              overrides=[column("State", mappings=STATE_MAPPINGS, cell="color-background")],
              description="This site's devices that are not up, with the reason."),
    ]
    return dashboard("wardops-site", "wardops / Site", "One site: its devices' state over "
                     "time, ISP uplinks, round-trip time and loss.", panels,
                     variables=[query_variable("site", "Site",
                                               "label_values(wardops_device_info, site)"),
                                query_variable("isp", "ISP", 'label_values(wardops_path_info'
                                               '{site="$site"}, isp)', multi=True,
                                               include_all=True)],
                     annotations=[maintenance_annotation('site="$site"')])


def maintenance_annotation(selector: str) -> dict[str, Any]:
    """Shade the time the inventory's maintenance windows (wardops_maintenance_active) of
    the selected site or device were active, titled with the window's name."""
    return {"datasource": DS, "enable": True, "hide": False, "iconColor": "#5794F2",
            "name": "Maintenance windows",
            "expr": f"max by (window) (wardops_maintenance_active{{{selector}}}) == 1",
            "step": "1m", "titleFormat": "maintenance: {{window}}", "textFormat": "",
            "tagKeys": "window", "useValueForTime": False}


def device_dashboard() -> dict[str, Any]:
    """One device: state, latency, loss, outages and its SNMP interfaces."""
    sel = 'device="$device", address=~"$address"'
    panels = [
        stat("State", device_state(sel), mappings=STATE_MAPPINGS,
             thresholds={"mode": "absolute", "steps": [{"color": "#8e8e8e", "value": None}]},
             legend="{{address}}", text_mode="value_and_name"),
        stat("Down for",
             f"time() - (wardops_device_down_since_timestamp_seconds{{{sel}}} > 0)",
             unit="dtdurations", thresholds=zero_is_good(), legend="{{address}}",
             description="Empty while the device is up."),
        stat("Last probe",
             f"time() - (wardops_device_last_probe_timestamp_seconds{{{sel}}} > 0)",
             unit="s", legend="{{address}}",
             thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                       {"color": "orange", "value": 90}]},
             description="Seconds since the last probe finished (freshness); empty before the "
                         "first probe. Stale after 3 probe intervals."),
        stat("Availability 1d", f"wardops:device_availability:ratio_1d{{{sel}}}",
             unit="percentunit", thresholds=AVAILABILITY_THRESHOLDS, legend="{{address}}"),
        stat("Availability 30d", f"wardops:device_availability:ratio_30d{{{sel}}}",
             unit="percentunit", thresholds=AVAILABILITY_THRESHOLDS, legend="{{address}}"),
        stat("Outages 30d", f"wardops:device_outages:count_30d{{{sel}}}",
             thresholds=zero_is_good("orange"), legend="{{address}}"),
        state_timeline("State over time", device_state(sel),
                       "{{device}} ({{address}})", h=4),
        smokeping("Latency (smokeping)", "wardops_device", sel,
                  description="Median round trip (line), the middle half (darker) and 80% "
                              "(lighter) of the replies of each interval, from the RTT "
                              "histogram; bars: the share of echo requests lost, green to "
                              "red. A device probed over ISP paths has them below instead."),
        smokeping("Latency over ${isp}", "wardops_path", f'{sel}, isp=~"${{isp}}"', w=12,
                  repeat="isp",
                  description="One panel per ISP path of the device, side by side."),
        state_timeline("ISP paths", f"wardops_path_up{{{sel}}}", "{{isp}}", h=4,
                       mappings=UPLINK_MAPPINGS,
                       description="Each probed ISP path up or down; empty for a device "
                                   "without paths."),
        timeseries("Round-trip time", [(f"wardops_device_rtt_seconds{{{sel}}}", "{{address}}"),
                                       (f"wardops_device_rtt_min_seconds{{{sel}}}", "min"),
                                       (f"wardops_device_rtt_max_seconds{{{sel}}}", "max")],
                   unit="s", description="Each probe's mean, shortest and longest reply."),
        timeseries("Jitter", [(f"wardops_device_rtt_stddev_seconds{{{sel}}}", "{{address}}"),
                              (f"wardops_path_rtt_stddev_seconds{{{sel}}}", "{{isp}}")],
                   unit="s", min_value=0,
                   description="Standard deviation of each probe's round trips (device, and "
                               "each ISP path)."),
        timeseries("Packet loss", [(f"wardops_device_packet_loss_ratio{{{sel}}}",
                                    "{{address}}")],
                   unit="percentunit", min_value=0, max_value=1),
        timeseries("Outages: up/down transitions",
                   [(f"increase(wardops_device_state_changes_total{{{sel}}}[$__rate_interval])",
                     "{{address}}")], bars=True, min_value=0,
                   description="Each outage is two transitions (down, then up again)."),
        timeseries("Outage duration", [
            (f"(time() - (wardops_device_down_since_timestamp_seconds{{{sel}}} > 0))",
             "{{address}}")], unit="s", min_value=0,
                   description="How long the current outage had lasted at each moment."),
        table("Not known to be up", [(not_known_up(sel), "")], h=4,
              rename={"Value": "State"}, hide=["device", "site"],
              overrides=[column("State", mappings=STATE_MAPPINGS, cell="color-background")],
              description="Empty while the device is up; else why it is not known to be up."),
        row("SNMP"),
        stat("SNMP agent", f"wardops_snmp_up{{{sel}}}", mappings=UPLINK_MAPPINGS,
             thresholds={"mode": "absolute", "steps": [{"color": "#8e8e8e", "value": None}]},
             legend="{{address}}", description="Last poll succeeded (UP) or failed (DOWN)."),
        stat("Last SNMP poll",
             f"time() - (wardops_snmp_last_poll_timestamp_seconds{{{sel}}} > 0)", unit="s",
             legend="{{address}}",
             thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                       {"color": "orange", "value": 180}]},
             description="Seconds since the last SNMP poll finished (freshness)."),
        stat("Uptime", f"wardops_snmp_uptime_seconds{{{sel}}}", unit="dtdurations",
             legend="{{address}}"),
        timeseries("SNMP poll errors by reason", [
            (f"sum by (reason) (increase(wardops_snmp_errors_total{{{sel}}}[$__rate_interval]))",
             "{{reason}}")], w=12, bars=True, min_value=0,
            description="Failed polls: timeout, auth, unreachable, resolve, protocol, "
                        "device_down, internal."),
        state_timeline("Uplinks at this site",
                       'wardops_interface_oper_up{site="$site", isp!=""}',
                       "{{device}} {{isp}} ({{ifname}})", w=12, h=4, mappings=UPLINK_MAPPINGS),
        table("Interfaces", [
            (f"wardops_interface_oper_up{{{sel}}}", ""),
            (f"wardops_interface_admin_up{{{sel}}}", ""),
            (f"wardops_interface_speed_bits_per_second{{{sel}}}", ""),
        ], h=8, rename={"Value #A": "Oper", "Value #B": "Admin", "Value #C": "Speed"},
            hide=["device", "address", "site", "type", "region"], sort_by="ifname",
            overrides=[column("Oper", mappings=UPLINK_MAPPINGS, cell="color-background"),
                       column("Admin", mappings=UPLINK_MAPPINGS, cell="color-background"),
                       column("Speed", unit="bps")],
            description="Operational and administrative state by interface (ifname, "
                        "ifalias, isp for uplinks), and speed."),
        state_timeline("Interface state", f"wardops_interface_oper_up{{{sel}}}",
                       "{{ifname}} {{ifalias}}", h=8, mappings=UPLINK_MAPPINGS),
        timeseries("Interface traffic (in +, out −)", [
            (f"rate(wardops_interface_in_octets_total{{{sel}}}[$__rate_interval]) * 8",
             "{{ifname}} in"),
            (f"-rate(wardops_interface_out_octets_total{{{sel}}}[$__rate_interval]) * 8",
             "{{ifname}} out")], unit="bps"),
        timeseries("Interface utilisation", [
            (f"rate(wardops_interface_in_octets_total{{{sel}}}[$__rate_interval]) * 8"
             f" / on (device, address, ifindex) (wardops_interface_speed_bits_per_second > 0)",
             "{{ifname}} in"),
            (f"rate(wardops_interface_out_octets_total{{{sel}}}[$__rate_interval]) * 8"
             f" / on (device, address, ifindex) (wardops_interface_speed_bits_per_second > 0)",
             "{{ifname}} out")], unit="percentunit", min_value=0,
            description="Traffic as a share of the interface speed (interfaces reporting "
                        "speed 0 are left out)."),
        timeseries("Interface errors and discards", [
            (f"rate(wardops_interface_in_errors_total{{{sel}}}[$__rate_interval])",
             "{{ifname}} in errors"),
            (f"rate(wardops_interface_out_errors_total{{{sel}}}[$__rate_interval])",
             "{{ifname}} out errors"),
            (f"rate(wardops_interface_in_discards_total{{{sel}}}[$__rate_interval])",
             "{{ifname}} in discards"),
            (f"rate(wardops_interface_out_discards_total{{{sel}}}[$__rate_interval])",
             "{{ifname}} out discards")], unit="pps", min_value=0),
    ]
    variables = [
        query_variable("device", "Device", "label_values(wardops_device_info, device)"),
        query_variable("address", "Address",
                       'label_values(wardops_device_info{device="$device"}, address)',
                       multi=True, include_all=True),
        query_variable("site", "Site", 'label_values(wardops_device_info{device="$device"}, site)',
                       hide=2),
        query_variable("isp", "ISP path",
                       'label_values(wardops_path_info{device="$device"}, isp)',
                       multi=True, include_all=True),
    ]
    return dashboard("wardops-device", "wardops / Device", "One device: state, round-trip "
                     "time, loss, outages, SNMP interfaces and its site's uplinks.", panels,
                     variables=variables, annotations=[maintenance_annotation(
                         'site="$site", device=~"|$device", address=~"|$address"')])


def availability_dashboard() -> dict[str, Any]:
    """Availability per device and per site for the monthly report."""
    def windows(kind: str, what: str) -> list[tuple[str, str]]:
        return [(f"wardops:{kind}_{what}:ratio_{w}", "") for w in ("1d", "7d", "30d")]

    pct = {"unit": "percentunit", "decimals": 3}
    device_cols = ["1d", "7d", "30d", "Outages 1d", "Outages 7d", "Outages 30d", "Watched 30d"]
    site_cols = ["1d", "7d", "30d", "Outages 1d", "Outages 7d", "Outages 30d"]
    refs = [f"Value #{chr(ord('A') + i)}" for i in range(len(device_cols))]
    report = ("The month's report, per device, site and region with every outage, MTTR "
              "and MTBF (CSV, JSON, one HTML page to print): wardops-report --prometheus URL "
              "--month YYYY-MM --output DIR. How each figure is computed: docs/report.md.")
    panels = [
        stat("Fleet availability 1d", "avg(wardops:device_availability:ratio_1d)", w=6,
             unit="percentunit", thresholds=AVAILABILITY_THRESHOLDS),
        stat("Fleet availability 30d", "avg(wardops:device_availability:ratio_30d)", w=6,
             unit="percentunit", thresholds=AVAILABILITY_THRESHOLDS, description=report),
        stat("Outages 1d", "sum(wardops:device_outages:count_1d)", w=6,
             thresholds=zero_is_good("orange")),
        stat("Outages 30d", "sum(wardops:device_outages:count_30d)", w=6,
             thresholds=zero_is_good("orange"),
             description="Outages that overlap the last 30 days (one under way all along "
                         "counts once). " + report),
        table("Sites", [*windows("site", "availability"),
                        *[(f"wardops:site_outages:count_{w}", "") for w in ("1d", "7d", "30d")]],
              h=10, rename=dict(zip(refs, site_cols)), sort_by="30d",
              overrides=[*[column(c, **pct, thresholds=AVAILABILITY_THRESHOLDS,
                                  cell="color-text") for c in ("1d", "7d", "30d")],
                         column("site", links=[{"title": "Site dashboard",
                                                "url": SITE_LINK}])]),
        table("Devices", [*windows("device", "availability"),
                          *[(f"wardops:device_outages:count_{w}", "")
                            for w in ("1d", "7d", "30d")],
                          ("wardops:device_known:ratio_30d", "")],
              h=16, rename=dict(zip(refs, device_cols)), sort_by="30d",
              overrides=[*[column(c, **pct, thresholds=AVAILABILITY_THRESHOLDS,
                                  cell="color-text") for c in ("1d", "7d", "30d")],
                         column("Watched 30d", **pct),
                         column("device", links=[{"title": "Device dashboard",
                                                  "url": DEVICE_LINK}])]),
    ]
    return dashboard(
        "wardops-availability", "wardops / Availability",
        "Availability = share of the exporter's scrapes in which the device was up: time "
        "it was down, unknown or unmonitored counts against it. 'Watched' is the share of "
        "the window with any probe result. Sort any column by clicking its header. " + report,
        panels,
        time_from="now-30d")


def health_dashboard() -> dict[str, Any]:
    """Is the monitoring itself working? Alerts, exporter, alerter, deliveries."""
    panels = [
        stat("Firing alerts", 'count(wardops_alerts{alertstate="firing",'
             ' alertname!="Watchdog"}) or vector(0)', thresholds=zero_is_good()),
        stat("Pending alerts", 'count(wardops_alerts{alertstate="pending"}) or vector(0)',
             thresholds=zero_is_good("orange")),
        stat("Watchdog", 'count(wardops_alerts{alertname="Watchdog", alertstate="firing"})'
             ' or vector(0)',
             thresholds={"mode": "absolute", "steps": [{"color": "red", "value": None},
                                                       {"color": "green", "value": 1}]},
             description="Always firing while the alerter evaluates: 0 means the alerter is "
                         "not working."),
        stat("Targets down", 'count(up{job=~"wardops-.*"} == 0) or vector(0)',
             thresholds=zero_is_good()),
        stat("Stale devices",
             f"count(({stale_probes()}) unless on (device, address)"
             " wardops_device_probe_failing) or vector(0)", w=2,
             thresholds=zero_is_good("orange"),
             description="No probe for 3 of the exporter's intervals (ProbeStale)."),
        stat("Probes failing", "count(wardops_device_probe_failing == 1) or vector(0)", w=2,
             thresholds=zero_is_good("orange"),
             description="Devices whose probes cannot run (ProbeFailing)."),
        stat("Config reload", "min(wardops_exporter_config_last_reload_successful)",
             mappings=[{"type": "value", "options": {
                 "1": {"text": "OK", "color": "green", "index": 0},
                 "0": {"text": "FAILED", "color": "red", "index": 1}}}],
             thresholds={"mode": "absolute", "steps": [{"color": "#8e8e8e", "value": None}]}),
        table("Active alerts", [('wardops_alerts', "")], h=9,
              rename={"Value": "Value"}, hide=["Value"], sort_by="alertstate"),
        state_timeline("Scrape targets", 'up{job=~"wardops-.*"}', "{{job}} {{instance}}", h=5,
                       mappings=UPLINK_MAPPINGS),
        row("Exporter"),
        timeseries("Probe cycle duration", [
            ("wardops_exporter_cycle_duration_seconds"
             " or rate(wardops_exporter_cycle_duration_seconds_sum[$__rate_interval])"
             " / rate(wardops_exporter_cycle_duration_seconds_count[$__rate_interval])",
             "{{instance}}")], unit="s", min_value=0),
        timeseries("Cycle overruns", [
            ("increase(wardops_exporter_cycle_overruns_total[$__rate_interval])",
             "{{instance}}")], bars=True, min_value=0),
        timeseries("Probe errors by reason", [
            ("sum by (reason) (increase(wardops_probe_errors_total[$__rate_interval]))",
             "{{reason}}")], bars=True, min_value=0),
        table("Stale devices (list)", [(stale_probes(), "")], w=12, h=8,
              rename={"Value": "Since last probe"}, sort_by="Since last probe", desc=True,
              overrides=[column("Since last probe", unit="s", decimals=0)],
              description="Devices probed before with no probe for 3 of their exporter's "
                          "intervals."),
        table("Probes failing (list)", [("wardops_device_probe_failing == 1", "")], w=12,
              h=8, hide=["Value"], sort_by="reason",
              description="Devices whose probes cannot run, with the exporter's reason."),
        row("Alerter"),
        stat("Data trusted", "min(wardops_alerter_data_healthy)", w=4,
             mappings=[{"type": "value", "options": {
                 "1": {"text": "YES", "color": "green", "index": 0},
                 "0": {"text": "FROZEN", "color": "red", "index": 1}}}],
             thresholds={"mode": "absolute", "steps": [{"color": "#8e8e8e", "value": None}]},
             description="0 while the alerter freezes alerts because its data cannot be "
                         "trusted (query errors, Prometheus or an exporter down, stale "
                         "probes): MonitoringDegraded is firing then."),
        stat("Last evaluation", "time() - max(wardops_alerter_last_evaluation_timestamp_seconds)",
             w=4, unit="s",
             thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                       {"color": "red", "value": 60}]},
             description="Seconds since the alerter last finished an evaluation cycle."),
        stat("Dead letters", "sum(wardops_alerter_notification_dead_letters)", w=4,
             thresholds=zero_is_good(),
             description="Notifications given up on after retries, kept for inspection."),
        stat("Undelivered", "sum(wardops_alerter_notification_queue_depth)", w=4,
             thresholds=zero_is_good("orange")),
        stat("Oldest undelivered",
             "max(wardops_alerter_notification_oldest_undelivered_age_seconds)", w=4, unit="s",
             thresholds={"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                       {"color": "orange", "value": 60}]}),
        stat("Inhibited/silenced/acked (1h)",
             "sum(increase(wardops_alerter_notifications_suppressed_total[1h]))", w=4,
             thresholds={"mode": "absolute", "steps": [{"color": "blue", "value": None}]}),
        timeseries("Evaluation failures by reason", [
            ("sum by (reason) (increase(wardops_alerter_rule_evaluation_failures_total"
             "[$__rate_interval])) or on() vector(0)", "{{reason}}")], bars=True, min_value=0,
            description="Rule queries without a usable result; their alerts stay frozen."),
        timeseries("Evaluation duration", [
            ("rate(wardops_alerter_evaluation_duration_seconds_sum[$__rate_interval])"
             " / rate(wardops_alerter_evaluation_duration_seconds_count[$__rate_interval])",
             "cycle (mean)"),
            ("wardops_alerter_rule_group_last_duration_seconds", "{{group}}")],
            unit="s", min_value=0),
        timeseries("Notifications by receiver and result", [
            ("sum by (receiver, result) (increase(wardops_alerter_notifications_total"
             "[$__rate_interval]))", "{{receiver}} {{result}}")], bars=True, min_value=0),
        timeseries("Delivery attempts by outcome", [
            ("sum by (receiver, outcome) (increase(wardops_alerter_notification_attempts_total"
             "[$__rate_interval])) or on() vector(0)", "{{receiver}} {{outcome}}")],
            bars=True, min_value=0,
            description="Failed attempts (http_5xx, timeout, connection_refused ...) are "
                        "retried with backoff."),
        timeseries("Delivery queue", [
            ("wardops_alerter_notification_queue_depth", "{{receiver}} queued"),
            ("wardops_alerter_notification_oldest_undelivered_age_seconds",
             "{{receiver}} oldest (s)")], min_value=0),
    ]
    return dashboard("wardops-health", "wardops / Alerts and monitoring health",
                     "Active alerts, and whether the monitoring itself works: targets, "
                     "probe cycles, probe errors, stale devices, rule evaluation and "
                     "notification delivery.", panels,
                     time_from="now-6h")


DASHBOARDS = {
    "fleet-overview.json": fleet_overview,
    "site.json": site_dashboard,
    "device.json": device_dashboard,
    "availability.json": availability_dashboard,
    "alerts-and-health.json": health_dashboard,
}


def render() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
            for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed JSON instead of writing it")
    args = parser.parse_args(argv)
    stale = []
    OUT_DIR.mkdir(exist_ok=True)
    for name, text in render().items():
        path = OUT_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale dashboards (run grafana/build_dashboards.py): {', '.join(stale)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
