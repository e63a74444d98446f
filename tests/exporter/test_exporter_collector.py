"""The per-device families as Prometheus parses them, for each kind of device state."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from exporter import icmp
from exporter.collector import DeviceMetrics, ExporterCollector, ExporterStatus
from exporter.config import Device
from exporter.probing import ProbeErrors
from exporter.resolve import RESOLVE_ERROR_REASONS
from exporter.scheduler import SCHEDULER_ERROR_REASONS
from exporter.state import DeviceState, ProbeResult, record
from tests.support import fuzz_examples
from wardops_common.text import text_problem

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


def test_device_whose_probes_fail_to_run_is_unknown_with_its_reason() -> None:
    metrics = DeviceMetrics([UP_DEV, DOWN_DEV])
    blackholed = DeviceState()
    for result in (ProbeResult(10.0, 10.5, 3, 3, 0.001),
                   ProbeResult(40.0, 40.0, 0, 0, None, error="unreachable"),
                   ProbeResult(70.0, 70.0, 0, 0, None, error="unreachable")):
        blackholed = record(blackholed, result, 1, 1)
    # a down device whose probes fail to run stays down
    down = record(record(record(DeviceState(), ProbeResult(10.0, 10.5, 3, 0, None), 1, 1),
                         ProbeResult(40.0, 40.0, 0, 0, None, error="prohibited"), 1, 1),
                  ProbeResult(70.0, 70.0, 0, 0, None, error="prohibited"), 1, 1)
    got = samples(metrics.render({UP_DEV.key: blackholed, DOWN_DEV.key: down}))
    name = UP_DEV.name
    for metric in ("wardops_device_up", "wardops_device_rtt_seconds",
                   "wardops_device_packet_loss_ratio",
                   "wardops_device_down_since_timestamp_seconds"):
        assert (metric, name) not in got
    assert got[("wardops_device_last_probe_timestamp_seconds", name)][0] == 10.5
    value, labels = got[("wardops_device_probe_failing", name)]
    assert (value, labels["reason"], labels["region"]) == (1, "unreachable", "Tbilisi")
    assert got[("wardops_device_up", "Gldani-ATM")][0] == 0
    assert got[("wardops_device_down_since_timestamp_seconds", "Gldani-ATM")][0] == 10.0
    assert got[("wardops_device_probe_failing", "Gldani-ATM")][1]["reason"] == "prohibited"


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


# --- fuzzing: any name the inventory accepts goes through the exposition unchanged --------

_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24).filter(
    lambda s: text_problem(s) is None or set(s) & set('\\"\n'))


@settings(max_examples=fuzz_examples(300), deadline=None)
@given(st.lists(st.tuples(_names, _names, _names), min_size=1, max_size=6,
                unique_by=lambda t: t[0]))
def test_any_accepted_name_round_trips_through_the_exposition(
        rows: list[tuple[str, str, str]]) -> None:
    """Device, site and label values with quotes, backslashes, newlines and any script:
    prometheus-client's parser reads back exactly what the inventory said."""
    devices = [Device(name=name, address=f"127.0.9.{i + 1}", site=site, type="router",
                      labels=(("owner", owner),)) for i, (name, site, owner) in enumerate(rows)]
    up = record(DeviceState(), ProbeResult(10.0, 10.5, 1, 1, 0.002), 1, 1)
    text = DeviceMetrics(devices).render({d.key: up for d in devices})
    text.encode("utf-8")  # the body is always encodable
    got = samples(text)
    for device in devices:
        _, labels = got[("wardops_device_info", device.name)]
        assert (labels["site"], labels["owner"]) == (device.site, dict(device.labels)["owner"])


def test_an_exposition_with_hostile_names_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is installed by scripts/bootstrap"
    devices = [Device(name='R "1" \\ core\nx', address="127.0.9.1", site="თბილისი",
                      type="router", labels=(("owner", "a\\b \"c\""),)),
               Device(name="ბანკომატი-1", address="127.0.9.2", site="Batumi", type="atm")]
    up = record(DeviceState(), ProbeResult(10.0, 10.5, 1, 1, 0.002), 1, 1)
    body = tmp_path / "metrics.txt"
    body.write_text(DeviceMetrics(devices).render({d.key: up for d in devices}))
    proc = subprocess.run([promtool, "check", "metrics"], stdin=body.open("rb"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
