"""/metrics: renders a snapshot of the device states; never waits for a probe.

Two parts:

- the per-device and per-path families (29 series per device with the default RTT
  histogram, 11 without; a path 26; docs/exporter.md, "Latency distributions") are
  rendered by :class:`DeviceMetrics` straight to exposition text from a snapshot of plain
  tuples, with each device's label set escaped once per inventory load, and streamed
  family by family (the histogram in blocks) so a body of tens of MB is never held
  whole. prometheus-client's ``generate_latest`` builds a ``Sample`` and re-escapes
  every label per series: 0.43 s for 60,000 series on this machine, over the 0.25 s
  budget; this path takes a fraction of that (see docs/exporter.md, "Figures").
- everything else (exporter health, probe errors, SNMP, process) comes from
  prometheus-client collectors in a :class:`~prometheus_client.CollectorRegistry`,
  :class:`ExporterCollector` among them.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import accumulate, compress
from operator import attrgetter, is_not
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter import __version__
from exporter.config import Device
from exporter.gzipbody import Deflated
from exporter.icmp import IcmpProber
from exporter.state import DOWN, UNKNOWN, UP, DeviceState

log = logging.getLogger("exporter.collector")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    """Escape a label value for the text exposition format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """``a="x",b="y"`` for the given label pairs."""
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)


def _num(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class _Row:
    key: tuple[str, ...]
    labels: str  # escaped label text of the per-device (per-path) series
    info_labels: str  # the same plus latitude/longitude (a path's route) when known
    histogram: bool  # serve its RTT histogram (not for a device with paths: theirs are)


HISTOGRAM = "wardops_device_rtt_histogram_seconds"


def _le(bound: float) -> str:
    """A bucket bound as client_python writes it (``0.005``, ``1.0``)."""
    return repr(float(bound))


# (suffix, type, help of the device family, help of the path family); the families of
# both are wardops_device_<suffix> and wardops_path_<suffix>, in this order.
_FAMILIES = (
    ("up", "gauge",
     "1 if the device answers, 0 if it is down (after down_after/up_after); absent while "
     "unknown: before its first probe, or while probes of a device last seen up fail to run.",
     "1 if the device answers over this path (its isp), 0 if the path is down (after "
     "down_after/up_after); absent while unknown."),
    ("rtt_seconds", "gauge", "Mean round trip of the last probe's replies; absent while down.",
     "Mean round trip of the path's last probe's replies; absent while down."),
    ("rtt_min_seconds", "gauge",
     "Shortest round trip of the last probe's replies; absent while down.", ""),
    ("rtt_max_seconds", "gauge",
     "Longest round trip of the last probe's replies; absent while down.", ""),
    ("rtt_stddev_seconds", "gauge",
     "Standard deviation (jitter) of the last probe's round trips; absent with fewer than "
     "two replies.",
     "Standard deviation (jitter) of the path's last probe's round trips; absent with "
     "fewer than two replies."),
    ("packet_loss_ratio", "gauge", "Share of the last probe's echo requests that got no reply.",
     "Share of the path's last probe's echo requests that got no reply."),
    ("echo_requests_total", "counter",
     "Echo requests sent to the device since the exporter started (loss over a window: "
     "1 - replies (the histogram's _count) / requests).",
     "Echo requests sent over the path since the exporter started."),
    ("rtt_histogram_seconds", "histogram",
     "Round trips of the device's replies since the exporter started (probe.rtt_buckets, up "
     "to probe.timeout); not served for a device with paths (see wardops_path_*).",
     "Round trips of the path's replies since the exporter started (probe.rtt_buckets, up "
     "to probe.timeout)."),
    ("down_since_timestamp_seconds", "gauge",
     "Unix time the current outage began (its first failed probe); 0 while up.",
     "Unix time the path's current outage began (its first failed probe); 0 while up."),
    ("last_probe_timestamp_seconds", "gauge",
     "Unix time the device's last probe finished; 0 before the first.", ""),
    ("state_changes_total", "counter", "Transitions between up and down.",
     "The path's transitions between up and down."),
    ("probe_failing", "gauge",
     "1 while the device's probes fail to run (reason label); absent otherwise.", ""),
    ("info", "gauge", "The device's labels, with latitude and longitude when known.",
     "One per path: the device's labels, isp, and the path's destination (path_address), "
     "source, interface and mark when set."),
)


_PARENT_HELP = ("One per dependency: the device (device, address, site) is reached through "
                "parent (parent, parent_address); by default a site's routers are the parents "
                "of its other devices. A device with several parents is cut off only while "
                "all are down.")


@dataclass(frozen=True, slots=True)
class _Inventory:
    """What the render takes from one inventory load, swapped in as a whole."""

    rows: tuple[_Row, ...] = ()
    path_rows: tuple[_Row, ...] = ()
    parents: str = ""  # the wardops_device_parent_info lines
    bounds: tuple[float, ...] | None = None  # served; None: no histogram
    # one row's histogram text, by name prefix: its labels substituted for \0
    templates: dict[str, str] = field(default_factory=dict)
    version: int = 0


_Pairs = list[tuple[_Row, DeviceState]]


@dataclass(frozen=True, slots=True)
class _Piece:
    """A family's header, or its lines for a block of rows: the unit kept compressed."""

    key: tuple[str, int]  # the family's name; the block's index, -1 for the header
    made_of: Callable[[DeviceState], object] | None  # what of a state it shows (_KEYS)
    block: _Pairs
    states: list[DeviceState]  # the block's states, in the same order
    make: Callable[[_Pairs], str]

    def text(self) -> str:
        """The piece's exposition text."""
        return self.make(self.block)

    def same_as(self, changed: list[tuple[DeviceState, DeviceState | None]]) -> bool:
        """Whether the piece makes the text it made in an earlier render of the same
        inventory, given its rows whose states are not the same objects as then, each
        with its state then if it is known (:meth:`_Seen.changed`): every one is known
        and agrees on what the piece is made of. Equal values print alike: no -0.0 or
        NaN reaches a state (round trips are not negative, times and counts are checked
        on load), and a NaN would only render again."""
        get = self.made_of
        return get is None or all(was is not None and get(state) == get(was)
                                  for state, was in changed)


_NOTHING = Deflated((), 0, 0)


@dataclass(frozen=True, slots=True)
class _Seen:
    """A block's states as a render saw them, without keeping them alive: each by a weak
    reference (alive and the same object: the row has not changed since, its state being
    immutable), and only those not up by a strong one, so that a down device's late
    probe can be compared field by field. Holding every state instead kept a whole
    generation of them alive next to the store's: 66 MiB at 100,000 devices. A changed
    row that was up is taken as changed in every family it shows."""

    refs: list[weakref.ref[DeviceState]]
    held: dict[int, DeviceState]  # by row: the states that were not up

    @classmethod
    def of(cls, states: list[DeviceState]) -> _Seen:
        """The block's states as they are now."""
        return cls(list(map(weakref.ref, states)),
                   {i: s for i, s in enumerate(states) if s.status != UP})

    def changed(self, states: list[DeviceState]
                ) -> list[tuple[DeviceState, DeviceState | None]]:
        """The rows whose state is not the object seen then, each with that state if it
        was held (else None): the test found in C (map, compress), as it runs for every
        block of every scrape."""
        then = [ref() for ref in self.refs]
        if len(then) != len(states):
            raise ValueError("a block is compared with one of another size")
        rows = compress(range(len(states)), map(is_not, states, then))
        return [(states[i], self.held.get(i)) for i in rows]


_NO_ROWS = _Seen([], {})


class DeviceMetrics:
    """Renders the per-device and per-path families for the inventory and a snapshot."""

    def __init__(self, devices: Sequence[Device] = (),
                 bounds: Sequence[float] | None = None) -> None:
        self._inventory = _Inventory()
        # the compressed pieces of the last deflated(), with how it saw their blocks
        self._kept: dict[tuple[str, int], tuple[_Seen, Deflated]] = {}
        self._kept_for: _Inventory | None = None
        self.pieces = (0, 0)  # the last deflated()'s pieces: made again, kept
        self.set_devices(devices, bounds)

    @property
    def version(self) -> int:
        """Bumped by every :meth:`set_devices`: a render kept for the states' generation
        is only served again while this has not moved either."""
        return self._inventory.version

    def set_devices(self, devices: Sequence[Device],
                    bounds: Sequence[float] | None = None) -> None:
        """Escape each device's labels once; swapped in as a whole for the next render.

        ``bounds``: the RTT histogram's served bucket bounds
        (:func:`exporter.latency.rendered_bounds`); None serves no histogram.
        """
        rows = []
        path_rows = []
        parent_lines = []
        for device in devices:
            for parent_name, parent_address in device.parents:
                parent_lines.append("wardops_device_parent_info{" + label_text((
                    ("device", device.name), ("address", device.address),
                    ("site", device.site), ("parent", parent_name),
                    ("parent_address", parent_address))) + "} 1\n")
            labels = label_text(device.label_pairs())
            coords = []
            if device.latitude is not None:
                coords.append(("latitude", repr(device.latitude)))
            if device.longitude is not None:
                coords.append(("longitude", repr(device.longitude)))
            info = labels + ("," + label_text(coords) if coords else "")
            rows.append(_Row(device.key, labels, info, not device.paths))
            for path in device.paths:
                path_labels = labels + "," + label_text([("isp", path.isp)])
                route = path.route
                extra = [("path_address", path.address)]
                extra += [("source", route.source)] if route.source else []
                extra += [("interface", route.interface)] if route.interface else []
                extra += [("mark", f"{route.mark:#x}")] if route.mark is not None else []
                path_rows.append(_Row(device.path_key(path), path_labels,
                                      path_labels + "," + label_text(extra), True))
        served = tuple(bounds) if bounds is not None else None
        # One device's whole histogram is one %-format of one template, then its labels
        # put in for each \0: two C-level calls instead of a Python line per bucket, which
        # made the histogram most of the render time at 10,000 devices. Labels go in
        # after the format, not before: % reads its template a character at a time, and
        # the labels are two thirds of the text (the histogram's render: 0.69 -> 0.60 s
        # at 100,000 devices).
        templates = {}
        for prefix in ("wardops_device_", "wardops_path_"):
            name = f"{prefix}rtt_histogram_seconds"
            lines = [f'{name}_bucket{{\0,le="{_le(b)}"}} %d\n' for b in served or ()]
            lines.append(f'{name}_bucket{{\0,le="+Inf"}} %d\n{name}_sum{{\0}} %r\n'
                         f"{name}_count{{\0}} %d\n")
            templates[prefix] = "".join(lines)
        self._inventory = _Inventory(tuple(rows), tuple(path_rows), "".join(parent_lines),
                                     served, templates, self._inventory.version + 1)

    def render(self, states: Mapping[tuple[str, ...], DeviceState]) -> str:
        """Exposition text of every per-device and per-path family for ``states``."""
        return "".join(self.render_parts(states))

    def render_parts(self, states: Mapping[tuple[str, ...], DeviceState]) -> Iterator[str]:
        """:meth:`render`'s text a family's header or block of rows at a time, each one
        dropped once it is handed out: a 10,000-device body (tens of MB with histograms)
        is never held as lines, text and bytes all at once."""
        for piece in self._pieces(self._inventory, states):
            text = piece.text()
            if text:
                yield text

    def deflated(self, states: Mapping[tuple[str, ...], DeviceState]) -> Deflated:
        """:meth:`render`'s text compressed, each piece on its own: a piece whose rows'
        states agree with the last call's on what it is made of is not rendered or
        compressed again. Between two cycles only the down devices' late probes change
        anything (their last probe and request count), so a mid-interval scrape makes
        two families of 29 again instead of all. One caller at a time (the app holds its
        render lock): the kept pieces are this object's."""
        inventory = self._inventory
        kept = self._kept if self._kept_for is inventory else {}
        self._kept, self._kept_for = {}, None
        made: dict[tuple[str, int], tuple[_Seen, Deflated]] = {}
        reused = 0
        # Per block, found once for all its families: how this render sees it, by its
        # states list (held here with it, so that its id is not reused meanwhile), and
        # its changed rows since the last render, by that render's _Seen (held in kept).
        seen: dict[int, tuple[list[DeviceState], _Seen]] = {}
        changes: dict[int, list[tuple[DeviceState, DeviceState | None]]] = {}
        for piece in self._pieces(inventory, states):
            if piece.made_of is None:  # headers, and lines made of the labels only
                now = _NO_ROWS
            else:
                block = seen.get(id(piece.states))
                if block is None:
                    block = seen[id(piece.states)] = (piece.states, _Seen.of(piece.states))
                now = block[1]
            was = kept.get(piece.key)
            if was is None:
                same = False
            elif piece.made_of is None:
                same = True
            else:
                changed = changes.get(id(was[0]))
                if changed is None:
                    changed = changes[id(was[0])] = was[0].changed(piece.states)
                same = piece.same_as(changed)
            if same and was is not None:
                part = was[1]
                reused += 1
            else:
                if was is not None:  # its old text is not held while the new one is made
                    kept[piece.key] = (was[0], _NOTHING)
                part = Deflated.of([piece.text().encode()])
            made[piece.key] = (now, part)
        self._kept, self._kept_for = made, inventory
        self.pieces = (len(made) - reused, reused)
        return Deflated.join(part for _, part in made.values())

    def _pieces(self, inventory: _Inventory,
                states: Mapping[tuple[str, ...], DeviceState]) -> Iterator[_Piece]:
        """The body in order, as pieces."""
        yield from self._family_pieces(inventory, "wardops_device_", 2, inventory.rows, states)
        parents = (f"# HELP wardops_device_parent_info {_PARENT_HELP}\n"
                   "# TYPE wardops_device_parent_info gauge\n" + inventory.parents)
        yield _Piece(("wardops_device_parent_info", -1), None, [], [], _constant(parents))
        if inventory.path_rows:
            yield from self._family_pieces(inventory, "wardops_path_", 3,
                                           inventory.path_rows, states)

    @staticmethod
    def _family_pieces(inventory: _Inventory, prefix: str, help_at: int,
                       rows: tuple[_Row, ...],
                       states: Mapping[tuple[str, ...], DeviceState]) -> Iterator[_Piece]:
        # One pass per family, its lines made a block of rows at a time: a family must be
        # contiguous, and making them all in one pass held every family's text until the
        # last row (120 MB at 100,000 devices). The histogram comes last: it is two thirds
        # of the body.
        fresh = DeviceState()
        row_states = [states.get(row.key, fresh) for row in rows]
        pairs = list(zip(rows, row_states))
        starts = range(0, len(pairs), _BLOCK)
        blocks = [(pairs[i:i + _BLOCK], row_states[i:i + _BLOCK]) for i in starts]
        families = [f for f in _FAMILIES if f[help_at] and f[1] != "histogram"]
        if inventory.bounds is not None:
            families += [f for f in _FAMILIES if f[help_at] and f[1] == "histogram"]
        for family in families:
            suffix, kind, help_text = family[0], family[1], family[help_at]
            name = prefix + suffix
            yield _Piece((name, -1), None, [], [],
                         _constant(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"))
            if kind == "histogram":
                make = partial(_histogram, inventory.templates.get(prefix, ""),
                               len(inventory.bounds or ()))
            else:
                make = partial(_lines_text, suffix, name)
            for index, (block, block_states) in enumerate(blocks):
                yield _Piece((name, index), _KEYS[suffix], block, block_states, make)


def _constant(text: str) -> Callable[[_Pairs], str]:
    return lambda _block: text


def _histogram(template: str, served: int, block: _Pairs) -> str:
    """The histogram's lines for a block of rows: a row without a request, or with paths
    (theirs are served), has none."""
    out = []
    for row, state in block:
        if not state.requests or not row.histogram:
            continue
        counts = state.buckets
        total = sum(counts)
        cumulative = list(accumulate(counts[:served])) if counts else [0] * served
        out.append((template % (*cumulative, total, float(state.rtt_sum), total))
                   .replace("\0", row.labels))
    return "".join(out)


def _lines_text(suffix: str, name: str, block: _Pairs) -> str:
    return "".join(_lines(suffix, name, block))


def _lines(suffix: str, name: str, block: list[tuple[_Row, DeviceState]]) -> list[str]:
    """The lines of family ``name`` (``wardops_device_`` or ``wardops_path_`` + ``suffix``)
    for a block of rows and their states; a series is absent where the docs say so."""
    if suffix == "up":
        return [f"{name}{{{r.labels}}} {1 if s.status == UP else 0}\n"
                for r, s in block if s.status != UNKNOWN]
    if suffix == "down_since_timestamp_seconds":
        return [f"{name}{{{r.labels}}} {_num(s.down_since if s.status == DOWN else 0.0)}\n"
                for r, s in block if s.status != UNKNOWN]
    if suffix == "rtt_seconds":
        return [f"{name}{{{r.labels}}} {_num(s.rtt)}\n"
                for r, s in block if s.status == UP and s.rtt is not None]
    if suffix == "rtt_min_seconds":
        return [f"{name}{{{r.labels}}} {_num(s.rtt_min)}\n" for r, s in block
                if s.status == UP and s.rtt is not None and s.rtt_min is not None
                and s.rtt_max is not None]
    if suffix == "rtt_max_seconds":
        return [f"{name}{{{r.labels}}} {_num(s.rtt_max)}\n" for r, s in block
                if s.status == UP and s.rtt is not None and s.rtt_min is not None
                and s.rtt_max is not None]
    if suffix == "rtt_stddev_seconds":
        return [f"{name}{{{r.labels}}} {_num(s.rtt_stddev)}\n" for r, s in block
                if s.status == UP and s.rtt is not None and s.rtt_stddev is not None]
    if suffix == "packet_loss_ratio":
        return [f"{name}{{{r.labels}}} {_num(s.loss)}\n" for r, s in block
                if s.loss is not None]
    if suffix == "echo_requests_total":
        return [f"{name}{{{r.labels}}} {s.requests}\n" for r, s in block if s.requests]
    if suffix == "last_probe_timestamp_seconds":
        return [f"{name}{{{r.labels}}} {_num(s.last_probe)}\n" for r, s in block]
    if suffix == "state_changes_total":
        return [f"{name}{{{r.labels}}} {s.changes}\n" for r, s in block]
    if suffix == "probe_failing":
        return [f'{name}{{{r.labels},reason="{escape_label_value(s.failing)}"}} 1\n'
                for r, s in block if s.failing]
    if suffix == "info":
        return [f"{name}{{{r.info_labels}}} 1\n" for r, _ in block]
    raise AssertionError(f"no lines for {name}")  # a family added to _FAMILIES only


def _histogram_key(state: DeviceState) -> tuple[bool, tuple[int, ...], float]:
    return state.requests > 0, state.buckets, state.rtt_sum


# What each family's lines are made of in a state, besides the row's labels (fixed per
# inventory): a block whose states agree on it renders the same text, so
# DeviceMetrics.deflated keeps its compressed lines. tests/exporter/test_metrics_render_kept
# checks each entry against _lines and _histogram, field by field. None: the labels only.
_KEYS: dict[str, Callable[[DeviceState], object] | None] = {
    "up": attrgetter("status"),
    "rtt_seconds": attrgetter("status", "rtt"),
    "rtt_min_seconds": attrgetter("status", "rtt", "rtt_min", "rtt_max"),
    "rtt_max_seconds": attrgetter("status", "rtt", "rtt_min", "rtt_max"),
    "rtt_stddev_seconds": attrgetter("status", "rtt", "rtt_stddev"),
    "packet_loss_ratio": attrgetter("loss"),
    "echo_requests_total": attrgetter("requests"),
    # a device's requests count only by being there: the down devices' late probes add
    # requests, not replies, and leave their histogram's lines as they were
    "rtt_histogram_seconds": _histogram_key,
    "down_since_timestamp_seconds": attrgetter("status", "down_since"),
    "last_probe_timestamp_seconds": attrgetter("last_probe"),
    "state_changes_total": attrgetter("changes"),
    "probe_failing": attrgetter("failing"),
    "info": None,
}


# Rows rendered between joins of their lines: a family's text is kept as one string per
# block, not as one small string per series (a 10,000-device body held as lines took
# about 2.5 times its size).
_BLOCK = 1000



@dataclass(slots=True)
class ExporterStatus:
    """Exporter-wide numbers the collector reports, updated by the app."""

    reload_successful: bool = True
    reload_success_timestamp: float = 0.0
    #: whether the last (re)load of --web.config.file and its certificates worked
    web_reload_successful: bool = True
    icmp_mode: str = ""
    state_save_timestamp: float = 0.0
    state_save_seconds: float = 0.0  # how long the last save took (encode and write)
    #: HTTP requests refused for want of credentials (--web.config.file), by reason
    http_refused: dict[str, int] = field(default_factory=lambda: {
        "no_credentials": 0, "wrong_credentials": 0})
    #: gzip scrapes of /metrics by whether the per-device part was rendered for them
    #: ("rendered") or served as rendered for an earlier scrape, no state having changed
    #: since ("kept")
    device_renders: dict[str, int] = field(default_factory=lambda: {
        "rendered": 0, "kept": 0})
    device_render_seconds: float = 0.0  # the last render's, compression included
    #: pieces of the per-device part (a family's lines for a block of rows) over those
    #: renders: made again, or kept because their rows' states had not changed for them
    device_pieces: dict[str, int] = field(default_factory=lambda: {"made": 0, "kept": 0})


class ExporterCollector:
    """prometheus-client collector for the exporter's own health metrics.

    Reads plain attributes of the objects it is given (``scheduler``, ``errors``,
    ``store``, ``status``, ``state_errors``) at scrape time; nothing here waits.
    """

    def __init__(self, *, scheduler: Any, errors: Any, states: Callable[[], Iterable[str]],
                 status: ExporterStatus, state_errors: dict[str, int]) -> None:
        self._scheduler = scheduler
        self._errors = errors
        self._states = states
        self._status = status
        self._state_errors = state_errors

    def collect(self) -> Iterable[Metric]:
        """Fresh metric families built from the current numbers."""
        errors = CounterMetricFamily("wardops_probe_errors", "Probes that could not run, by "
                                     "reason (the device was neither judged up nor down).",
                                     labels=["reason"])
        for reason, count in sorted(dict(self._errors.counts).items()):
            errors.add_metric([reason], count)
        yield errors
        scheduler = self._scheduler
        if scheduler is not None:
            if scheduler.last_cycle_seconds is not None:
                yield GaugeMetricFamily("wardops_exporter_cycle_duration_seconds",
                                        "Duration of the last complete probe cycle, from its "
                                        "start to its last probe's end.",
                                        value=scheduler.last_cycle_seconds)
            yield CounterMetricFamily("wardops_exporter_cycle_overruns",
                                      "Probe cycles that did not finish within the interval.",
                                      value=scheduler.overruns)
            yield CounterMetricFamily("wardops_exporter_cycles",
                                      "Probe cycles completed.", value=scheduler.cycles)
            yield GaugeMetricFamily("wardops_exporter_probe_interval_seconds",
                                    "Configured probe interval (probe.interval): each device "
                                    "is probed once per interval.",
                                    value=scheduler.settings.interval)
            yield GaugeMetricFamily("wardops_exporter_cycle_aligned",
                                    "1 while probe cycles end just before the scrapes "
                                    "(probe.align_to_scrapes, scrapes regular), 0 while they "
                                    "use the even splay.", value=1 if scheduler.aligned else 0)
        devices = GaugeMetricFamily("wardops_exporter_devices", "Devices by state.",
                                    labels=["state"])
        counts = dict.fromkeys((UP, DOWN, UNKNOWN), 0)
        for state_name in self._states():
            counts[state_name] += 1
        for state_name, count in counts.items():
            devices.add_metric([state_name], count)
        yield devices
        status = self._status
        yield GaugeMetricFamily("wardops_exporter_config_last_reload_successful",
                                "1 if the last inventory (re)load succeeded.",
                                value=1 if status.reload_successful else 0)
        yield GaugeMetricFamily("wardops_exporter_config_last_reload_success_timestamp_seconds",
                                "Unix time of the last successful inventory (re)load.",
                                value=status.reload_success_timestamp)
        yield GaugeMetricFamily("wardops_exporter_web_config_last_reload_successful",
                                "1 if the last (re)load of --web.config.file and the "
                                "certificates it names succeeded (0: the running one is "
                                "kept).", value=1 if status.web_reload_successful else 0)
        build = GaugeMetricFamily("wardops_exporter_build_info", "Always 1; the exporter's "
                                  "version and ICMP socket mode as labels.",
                                  labels=["version", "icmp_mode"])
        build.add_metric([__version__, status.icmp_mode], 1)
        yield build
        state_errors = CounterMetricFamily(
            "wardops_exporter_state_file_errors",
            "Failures to save or load the state file; load_entry: saved entries refused "
            "(that device starts unknown).", labels=["operation"])
        for operation, count in sorted(self._state_errors.items()):
            state_errors.add_metric([operation], count)
        yield state_errors
        refused = CounterMetricFamily(
            "wardops_exporter_http_requests_refused",
            "HTTP requests refused by --web.config.file's basic auth, by reason.",
            labels=["reason"])
        for reason, count in sorted(self._status.http_refused.items()):
            refused.add_metric([reason], count)
        yield refused
        yield GaugeMetricFamily("wardops_exporter_state_last_save_timestamp_seconds",
                                "Unix time the state file was last written.",
                                value=status.state_save_timestamp)
        yield GaugeMetricFamily("wardops_exporter_state_last_save_duration_seconds",
                                "Seconds the last state-file save took (encoding and "
                                "writing, off the probe loop).",
                                value=status.state_save_seconds)
        yield _by_result(
            "wardops_exporter_device_metrics_renders",
            "gzip scrapes of /metrics by how the per-device families were made: rendered "
            "for the scrape (the pieces whose lines changed), or kept whole from an earlier "
            "scrape because no state and no device changed since.", status.device_renders)
        yield _by_result(
            "wardops_exporter_device_metrics_pieces",
            "Pieces of the per-device families (a family's lines for a block of 1,000 rows) "
            "over the gzip scrapes' renders: made again, or kept because no row's state "
            "changed in what the family shows.", status.device_pieces)
        yield GaugeMetricFamily("wardops_exporter_device_metrics_render_seconds",
                                "Seconds the last render of the per-device families for a "
                                "gzip scrape took, compression included.",
                                value=status.device_render_seconds)


def _by_result(name: str, help_text: str, counts: dict[str, int]) -> CounterMetricFamily:
    """A counter family with one series per ``result`` label value."""
    family = CounterMetricFamily(name, help_text, labels=["result"])
    for result, count in sorted(counts.items()):
        family.add_metric([result], count)
    return family


class IcmpCollector:
    """The ICMP engine's packet counters (per echo request, not per probe), by family.

    Every series exists from the start at 0, for both families, even one whose socket
    could not be opened (it then never sends).
    """

    def __init__(self, prober: IcmpProber) -> None:
        self._prober = prober

    def collect(self) -> Iterable[Metric]:
        """Fresh counter families from :meth:`IcmpProber.stats_by_family`."""
        by_family = self._prober.stats_by_family()
        requests = CounterMetricFamily("wardops_icmp_requests",
                                       "ICMP echo requests sent.", labels=["family"])
        replies = CounterMetricFamily("wardops_icmp_replies", "Echo replies received within "
                                      "their probe's timeout.", labels=["family"])
        late = CounterMetricFamily("wardops_icmp_late_replies", "Echo replies to our requests "
                                   "that came after the timeout or their probe's end, or were "
                                   "duplicates (ignored).", labels=["family"])
        send_errors = CounterMetricFamily("wardops_icmp_send_errors", "Echo requests the kernel "
                                          "refused to send, by reason.",
                                          labels=["family", "reason"])
        receive_errors = CounterMetricFamily("wardops_icmp_receive_errors", "Failed reads on "
                                             "the ICMP socket, by reason.",
                                             labels=["family", "reason"])
        for family, stats in by_family.items():
            requests.add_metric([family], stats.requests_sent)
            replies.add_metric([family], stats.replies_received)
            late.add_metric([family], stats.late_replies)
            for reason, count in stats.send_errors.items():
                send_errors.add_metric([family, reason], count)
            for reason, count in stats.receive_errors.items():
                receive_errors.add_metric([family, reason], count)
        yield from (requests, replies, late, send_errors, receive_errors)


class GuardedCollectors:
    """Other parts' collectors (e.g. SNMP), each isolated: one that raises loses its own
    metrics for that scrape, counted in ``wardops_exporter_collect_errors_total`` and
    logged, instead of failing the whole /metrics."""

    def __init__(self, collectors: dict[str, Any]) -> None:
        self._collectors = collectors
        self._failures = dict.fromkeys(collectors, 0)

    def collect(self) -> Iterable[Metric]:
        """The wrapped collectors' families, then the failure counter."""
        for name, collector in self._collectors.items():
            try:
                families = list(collector.collect())
            except Exception:
                # Counted and logged; the rest of the scrape is still served.
                self._failures[name] += 1
                log.exception("collector failed", extra={"collector": name})
                continue
            yield from families
        failures = CounterMetricFamily("wardops_exporter_collect_errors",
                                       "Scrapes where a collector failed (its metrics were "
                                       "left out).", labels=["collector"])
        for name, count in self._failures.items():
            failures.add_metric([name], count)
        yield failures


def render_metrics(device_metrics: DeviceMetrics, states: Mapping[tuple[str, ...], DeviceState],
                   registry: CollectorRegistry) -> Iterator[bytes]:
    """The whole /metrics body in pieces, streamed as they are made: the per-device
    families, then the registry's."""
    for text in device_metrics.render_parts(states):
        yield text.encode()
    yield generate_latest(registry)
