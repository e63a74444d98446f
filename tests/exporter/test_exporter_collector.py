"""The per-device families as Prometheus parses them, for each kind of device state."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporter import icmp
from exporter.collector import DeviceMetrics, ExporterCollector, ExporterStatus
from exporter.config import Device
from exporter.probing import ProbeErrors
from exporter.resolve import RESOLVE_ERROR_REASONS
from exporter.scheduler import SCHEDULER_ERROR_REASONS
from exporter.state import DeviceState, ProbeResult, record

UP_DEV = Device(name='Gldani "1" \\ core', address="127.0.0.1", site="Gldani", type="router",
                labels=(("region", "Tbilisi"),), latitude=41.79, longitude=44.82)
DOWN_DEV = Device(name="Gldani-ATM", address="127.0.0.2", site="Gldani", type="atm")
NEW_DEV = Device(name="Gldani-NVR", address="nvr.example.invalid", site="Gldani", type="nvr")


def samples(text: str) -> dict[tuple[str, str], tuple[float, dict[str, str]]]:
    """{(sample name, device): (value, labels)} of a rendered exposition text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, s.labels["device"])] = (s.value, s.labels)
    return out


def test_series_for_up_down_and_never_probed_devices() -> None:
    metrics = DeviceMetrics([UP_DEV, DOWN_DEV, NEW_DEV])
    up = record(DeviceState(), ProbeResult(10.0, 10.5, 3, 2, 0.004), 1, 1)
    down = record(record(DeviceState(), ProbeResult(10.0, 10.5, 3, 3, 0.001), 1, 1),
                  ProbeResult(40.0, 42.0, 3, 0, None), 1, 1)
    got = samples(metrics.render({UP_DEV.key: up, DOWN_DEV.key: down}))
    name = UP_DEV.name
    assert got[("wardops_device_up", name)][0] == 1
    assert got[("wardops_device_rtt_seconds", name)][0] == 0.004
    assert abs(got[("wardops_device_packet_loss_ratio", name)][0] - 1 / 3) < 1e-9
    assert got[("wardops_device_down_since_timestamp_seconds", name)][0] == 0
    assert got[("wardops_device_last_probe_timestamp_seconds", name)][0] == 10.5
    assert got[("wardops_device_up", name)][1] == {
        "device": name, "address": "127.0.0.1", "site": "Gldani", "type": "router",
        "region": "Tbilisi"}
    assert got[("wardops_device_info", name)][1]["latitude"] == "41.79"
    # down: up 0, outage start, loss 1, no RTT, the transition counted
    assert got[("wardops_device_up", "Gldani-ATM")][0] == 0
    assert got[("wardops_device_down_since_timestamp_seconds", "Gldani-ATM")][0] == 40.0
    assert got[("wardops_device_packet_loss_ratio", "Gldani-ATM")][0] == 1.0
    assert ("wardops_device_rtt_seconds", "Gldani-ATM") not in got
    assert got[("wardops_device_state_changes_total", "Gldani-ATM")][0] == 1
    assert "latitude" not in got[("wardops_device_info", "Gldani-ATM")][1]
    # never probed: neither up nor down, freshness 0, but listed
    for metric in ("wardops_device_up", "wardops_device_rtt_seconds",
                   "wardops_device_packet_loss_ratio",
                   "wardops_device_down_since_timestamp_seconds"):
        assert (metric, "Gldani-NVR") not in got
    assert got[("wardops_device_last_probe_timestamp_seconds", "Gldani-NVR")][0] == 0
    assert got[("wardops_device_info", "Gldani-NVR")][0] == 1


def test_removed_devices_vanish() -> None:
    metrics = DeviceMetrics([UP_DEV, DOWN_DEV])
    metrics.set_devices([DOWN_DEV])
    assert all(device == "Gldani-ATM" for _, device in samples(metrics.render({})))


def test_probe_error_series_start_at_zero_for_every_reported_reason() -> None:
    registry = CollectorRegistry()
    errors = ProbeErrors()
    registry.register(ExporterCollector(scheduler=None, errors=errors, states=list,
                                        status=ExporterStatus(), state_errors={}))
    reasons = (*RESOLVE_ERROR_REASONS, *icmp.PROBE_ERROR_REASONS, *SCHEDULER_ERROR_REASONS)
    assert {"unreachable", "prohibited", "buffer", "address", "dns", "skipped"} <= set(reasons)
    for reason in reasons:
        assert registry.get_sample_value("wardops_probe_errors_total", {"reason": reason}) == 0
    errors.count(DOWN_DEV, "unreachable", "sendto: Invalid argument")
    assert registry.get_sample_value("wardops_probe_errors_total",
                                     {"reason": "unreachable"}) == 1
