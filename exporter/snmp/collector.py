"""Prometheus metric families from the SNMP poller's latest results.

Reads only; builds fresh families on every scrape (client_python's custom-collector
way). A device whose last poll failed exports ``wardops_snmp_up 0`` and its error
counters, and no interface, uptime or scalar series: values from an older poll would
be stale, and stale data must never look like a healthy uplink.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.snmp.poll import POLL_ERROR_REASONS

if TYPE_CHECKING:
    from exporter.snmp.poller import DeviceState

BASE_LABELS = ("device", "address", "site", "type")
IF_LABELS = ("ifindex", "ifname", "ifalias", "isp")
INFO_LABELS = ("sysname", "sysdescr", "sysobjectid")
# Labels the SNMP families set themselves. exporter.config refuses device labels of these
# names (RESERVED_LABELS is built from IF_LABELS and INFO_LABELS); a device built some
# other way with one still has it left out here, as a duplicate label name would make
# the family invalid and lose every SNMP series of the scrape.
_OWN_LABELS = set(BASE_LABELS) | set(IF_LABELS) | set(INFO_LABELS) | {"reason"}


def _extra_labels(device: Any) -> dict[str, str]:
    # exporter.config.Device keeps them as sorted (name, value) pairs; a dict works too.
    return dict(getattr(device, "labels", None) or ())


def device_label_names(devices: Iterable[Any]) -> tuple[str, ...]:
    """device, address, site, type, then every extra label any device has (sorted)."""
    extra: set[str] = set()
    for device in devices:
        extra.update(_extra_labels(device))
    return BASE_LABELS + tuple(sorted(extra - _OWN_LABELS))


def device_label_values(device: Any, names: Sequence[str]) -> list[str]:
    """Values for :func:`device_label_names`; "" for labels this device lacks."""
    labels = _extra_labels(device)
    fixed = {"device": device.name, "address": device.address,
             "site": getattr(device, "site", None) or "",
             "type": getattr(device, "type", None) or ""}
    return [str(fixed[n]) if n in fixed else str(labels.get(n, "")) for n in names]


_COUNTERS = (
    ("in_octets", "wardops_interface_in_octets",
     "Octets received (ifHCInOctets; 32-bit ifInOctets where the agent has no 64-bit ones)."),
    ("out_octets", "wardops_interface_out_octets",
     "Octets sent (ifHCOutOctets; 32-bit ifOutOctets where the agent has no 64-bit ones)."),
    ("in_errors", "wardops_interface_in_errors", "Inbound packets with errors (ifInErrors)."),
    ("out_errors", "wardops_interface_out_errors", "Outbound packets with errors (ifOutErrors)."),
    ("in_discards", "wardops_interface_in_discards", "Inbound packets discarded (ifInDiscards)."),
    ("out_discards", "wardops_interface_out_discards",
     "Outbound packets discarded (ifOutDiscards)."),
)


def collect_metrics(states: Sequence[DeviceState]) -> Iterable[Metric]:
    """Build the wardops_snmp_* and wardops_interface_* families."""
    names = device_label_names(s.device for s in states)
    if_names = names + IF_LABELS
    up = GaugeMetricFamily("wardops_snmp_up", "1 if the last SNMP poll succeeded, 0 if it failed.",
                           labels=names)
    duration = GaugeMetricFamily("wardops_snmp_poll_duration_seconds",
                                 "How long the last SNMP poll took.", labels=names)
    last = GaugeMetricFamily("wardops_snmp_last_poll_timestamp_seconds",
                             "Unix time the last SNMP poll finished: freshness.", labels=names)
    errors = CounterMetricFamily("wardops_snmp_errors", "Failed SNMP polls by reason "
                                 "(device_down: failed while ICMP reported the device down).",
                                 labels=names + ("reason",))
    uptime = GaugeMetricFamily("wardops_snmp_uptime_seconds",
                               "sysUpTime: time since the agent (re)started.", labels=names)
    info = GaugeMetricFamily("wardops_snmp_info", "SNMPv2-MIB system values of the device.",
                             labels=names + INFO_LABELS)
    oper = GaugeMetricFamily("wardops_interface_oper_up", "1 if ifOperStatus is up.",
                             labels=if_names)
    admin = GaugeMetricFamily("wardops_interface_admin_up", "1 if ifAdminStatus is up.",
                              labels=if_names)
    speed = GaugeMetricFamily("wardops_interface_speed_bits_per_second",
                              "Interface speed (ifSpeed, or ifHighSpeed above 4 Gbit/s).",
                              labels=if_names)
    counters = {attr: CounterMetricFamily(name, doc, labels=if_names)
                for attr, name, doc in _COUNTERS}
    scalars: dict[str, GaugeMetricFamily] = {}

    for state in states:
        values = device_label_values(state.device, names)
        errs = dict(state.errors)
        for reason in POLL_ERROR_REASONS:
            errors.add_metric(values + [reason], errs.get(reason, 0))
        result = state.result
        if result is None:
            continue  # not polled yet: nothing known, nothing claimed
        up.add_metric(values, 1.0 if result.up else 0.0)
        duration.add_metric(values, result.duration)
        last.add_metric(values, result.finished_at)
        if not result.up or result.names is None:
            continue
        if result.uptime_ticks is not None:
            uptime.add_metric(values, result.uptime_ticks / 100.0)
        sys = result.names.sys
        info.add_metric(values + [sys.name, sys.descr, sys.object_id], 1.0)
        for ifindex, counter in result.counters.items():
            selected = result.names.interfaces[ifindex]
            labels = values + [str(ifindex), selected.info.name, selected.info.alias, selected.isp]
            if counter.oper_up is not None:
                oper.add_metric(labels, 1.0 if counter.oper_up else 0.0)
            if counter.admin_up is not None:
                admin.add_metric(labels, 1.0 if counter.admin_up else 0.0)
            if selected.info.speed_bps is not None:
                speed.add_metric(labels, selected.info.speed_bps)
            for attr, family in counters.items():
                value = getattr(counter, attr)
                if value is not None:
                    family.add_metric(labels, value)
        for spec in state.settings.scalars:
            if spec.name in result.scalars:
                gauge = scalars.get(spec.name)
                if gauge is None:
                    gauge = scalars[spec.name] = GaugeMetricFamily(
                        f"wardops_snmp_{spec.name}", spec.help, labels=names)
                gauge.add_metric(values, result.scalars[spec.name])

    yield from (up, duration, last, errors, uptime, info, oper, admin, speed)
    yield from counters.values()
    yield from scalars.values()
