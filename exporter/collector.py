"""/metrics: renders a snapshot of the device states; never waits for a probe.

Two parts:

- the per-device families (7 series per device, 70,000 at 10,000 devices, plus one
  while a device's probes fail to run) are rendered by :class:`DeviceMetrics` straight
  to exposition text from a snapshot of plain tuples, with each device's label set
  escaped once per inventory load. prometheus-client's
  ``generate_latest`` builds a ``Sample`` and re-escapes every label per series: 0.43 s for
  60,000 series on this machine, over the 0.25 s budget; this path takes a small
  fraction of that (see docs/exporter.md, "Figures").
- everything else (exporter health, probe errors, SNMP, process) comes from
  prometheus-client collectors in a :class:`~prometheus_client.CollectorRegistry`,
  :class:`ExporterCollector` among them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter import __version__
from exporter.config import Device
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
    key: tuple[str, str]
    labels: str  # escaped label text of the per-device series
    info_labels: str  # the same plus latitude/longitude when known


HISTOGRAM = "wardops_device_rtt_histogram_seconds"


def _le(bound: float) -> str:
    """A bucket bound as client_python writes it (``0.005``, ``1.0``)."""
    return repr(float(bound))


class DeviceMetrics:
    """Renders the per-device families for the current inventory and a state snapshot."""

    def __init__(self, devices: Sequence[Device] = (),
                 bounds: Sequence[float] | None = None) -> None:
        self._rows: tuple[_Row, ...] = ()
        self._bounds: tuple[float, ...] | None = None
        self._le: tuple[str, ...] = ()
        self.set_devices(devices, bounds)

    def set_devices(self, devices: Sequence[Device],
                    bounds: Sequence[float] | None = None) -> None:
        """Escape each device's labels once; swapped in as a whole for the next render.

        ``bounds``: the RTT histogram's served bucket bounds
        (:func:`exporter.latency.rendered_bounds`); None serves no histogram.
        """
        rows = []
        for device in devices:
            labels = label_text(device.label_pairs())
            coords = []
            if device.latitude is not None:
                coords.append(("latitude", repr(device.latitude)))
            if device.longitude is not None:
                coords.append(("longitude", repr(device.longitude)))
            info = labels + ("," + label_text(coords) if coords else "")
            rows.append(_Row(device.key, labels, info))
        self._rows = tuple(rows)
        self._bounds = tuple(bounds) if bounds is not None else None
        self._le = tuple(f',le="{_le(b)}"}} ' for b in self._bounds or ())

    def render(self, states: dict[tuple[str, str], DeviceState]) -> str:
        """Exposition text of every per-device family for ``states``."""
        up: list[str] = []
        rtt: list[str] = []
        rtt_min: list[str] = []
        rtt_max: list[str] = []
        jitter: list[str] = []
        loss: list[str] = []
        requests: list[str] = []
        histogram: list[str] = []
        down_since: list[str] = []
        last_probe: list[str] = []
        changes: list[str] = []
        failing: list[str] = []
        info: list[str] = []
        fresh = DeviceState()
        with_histogram = self._bounds is not None
        for row in self._rows:
            state = states.get(row.key, fresh)
            labels = row.labels
            status = state.status
            if status != UNKNOWN:
                up.append(f"wardops_device_up{{{labels}}} {1 if status == UP else 0}\n")
                down_since.append(f"wardops_device_down_since_timestamp_seconds{{{labels}}} "
                                  f"{_num(state.down_since if status == DOWN else 0.0)}\n")
                if status == UP and state.rtt is not None:
                    rtt.append(f"wardops_device_rtt_seconds{{{labels}}} {_num(state.rtt)}\n")
                    if state.rtt_min is not None and state.rtt_max is not None:
                        rtt_min.append(f"wardops_device_rtt_min_seconds{{{labels}}} "
                                       f"{_num(state.rtt_min)}\n")
                        rtt_max.append(f"wardops_device_rtt_max_seconds{{{labels}}} "
                                       f"{_num(state.rtt_max)}\n")
                    if state.rtt_stddev is not None:
                        jitter.append(f"wardops_device_rtt_stddev_seconds{{{labels}}} "
                                      f"{_num(state.rtt_stddev)}\n")
            if state.loss is not None:
                loss.append(f"wardops_device_packet_loss_ratio{{{labels}}} {_num(state.loss)}\n")
            if state.requests:
                requests.append(f"wardops_device_echo_requests_total{{{labels}}} "
                                f"{state.requests}\n")
                if with_histogram:
                    self._histogram(histogram, labels, state)
            last_probe.append(f"wardops_device_last_probe_timestamp_seconds{{{labels}}} "
                              f"{_num(state.last_probe)}\n")
            changes.append(f"wardops_device_state_changes_total{{{labels}}} {state.changes}\n")
            if state.failing:
                failing.append(f"wardops_device_probe_failing{{{labels},reason="
                               f"\"{escape_label_value(state.failing)}\"}} 1\n")
            info.append(f"wardops_device_info{{{row.info_labels}}} 1\n")
        families = [
            ("wardops_device_up", "gauge",
             ("1 if the device answers, 0 if it is down (after down_after/up_after); absent "
              "while unknown: before its first probe, or while probes of a device last seen "
              "up fail to run."), up),
            ("wardops_device_rtt_seconds", "gauge",
             "Mean round trip of the last probe's replies; absent while down.", rtt),
            ("wardops_device_rtt_min_seconds", "gauge",
             "Shortest round trip of the last probe's replies; absent while down.", rtt_min),
            ("wardops_device_rtt_max_seconds", "gauge",
             "Longest round trip of the last probe's replies; absent while down.", rtt_max),
            ("wardops_device_rtt_stddev_seconds", "gauge",
             ("Standard deviation (jitter) of the last probe's round trips; absent with fewer "
              "than two replies."), jitter),
            ("wardops_device_packet_loss_ratio", "gauge",
             "Share of the last probe's echo requests that got no reply.", loss),
            ("wardops_device_echo_requests_total", "counter",
             ("Echo requests sent to the device since the exporter started (loss over a "
              "window: 1 - replies (the histogram's _count) / requests)."), requests),
        ]
        if with_histogram:
            families.append((HISTOGRAM, "histogram",
                             ("Round trips of the device's replies since the exporter "
                              "started (probe.rtt_buckets, up to probe.timeout)."), histogram))
        families += [
            ("wardops_device_down_since_timestamp_seconds", "gauge",
             "Unix time the current outage began (its first failed probe); 0 while up.",
             down_since),
            ("wardops_device_last_probe_timestamp_seconds", "gauge",
             "Unix time the device's last probe finished; 0 before the first.", last_probe),
            ("wardops_device_state_changes_total", "counter",
             "Transitions between up and down.", changes),
            ("wardops_device_probe_failing", "gauge",
             ("1 while the device's probes fail to run (reason label); absent otherwise."),
             failing),
            ("wardops_device_info", "gauge",
             "The device's labels, with latitude and longitude when known.", info),
        ]
        parts = []
        for name, kind, help_text, lines in families:
            parts.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
            parts.extend(lines)
        return "".join(parts)

    def _histogram(self, out: list[str], labels: str, state: DeviceState) -> None:
        """The histogram's cumulative buckets, +Inf, sum and count of one device."""
        counts = state.buckets
        total = sum(counts)
        prefix = f"{HISTOGRAM}_bucket{{{labels}"
        running = 0
        for index, le in enumerate(self._le):
            if counts:
                running += counts[index]
            out.append(f"{prefix}{le}{running}\n")
        out.append(f'{prefix},le="+Inf"}} {total}\n'
                   f"{HISTOGRAM}_sum{{{labels}}} {_num(state.rtt_sum)}\n"
                   f"{HISTOGRAM}_count{{{labels}}} {total}\n")


@dataclass(slots=True)
class ExporterStatus:
    """Exporter-wide numbers the collector reports, updated by the app."""

    reload_successful: bool = True
    reload_success_timestamp: float = 0.0
    #: whether the last (re)load of --web.config.file and its certificates worked
    web_reload_successful: bool = True
    icmp_mode: str = ""
    state_save_timestamp: float = 0.0
    #: HTTP requests refused for want of credentials (--web.config.file), by reason
    http_refused: dict[str, int] = field(default_factory=lambda: {
        "no_credentials": 0, "wrong_credentials": 0})


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


def render_metrics(device_metrics: DeviceMetrics, states: dict[tuple[str, str], DeviceState],
                   registry: CollectorRegistry) -> bytes:
    """The whole /metrics body: the per-device families, then the registry's."""
    return device_metrics.render(states).encode() + generate_latest(registry)
