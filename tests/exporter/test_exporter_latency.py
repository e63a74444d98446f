"""The shape of latency: reply statistics, the RTT histogram as Prometheus parses it."""

from __future__ import annotations

import math
import statistics

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.collector import HISTOGRAM, DeviceMetrics
from exporter.config import Device
from exporter.latency import (
    DEFAULT_BUCKETS,
    add_to_buckets,
    check_bounds,
    rendered_bounds,
    reply_stats,
)
from exporter.state import DeviceState, ProbeResult, StateStore, record

DEV = Device(name="Gori-Router", address="127.0.0.1", site="Gori", type="router")
BOUNDS = (0.001, 0.01, 0.1, 1.0, 5.0)


def test_reply_stats_are_min_max_mean_and_sample_stddev() -> None:
    rtts = (0.015, 0.020, 0.031)
    stats = reply_stats(rtts)
    assert stats is not None
    assert (stats.minimum, stats.maximum) == (0.015, 0.031)
    assert math.isclose(stats.mean, statistics.mean(rtts))
    assert math.isclose(stats.stddev or 0, statistics.stdev(rtts))  # n - 1, not n
    one = reply_stats((0.02,))
    assert one is not None and one.stddev is None  # no spread from one reply
    assert reply_stats(()) is None


def test_buckets_count_le_inclusive_and_restart_on_new_bounds() -> None:
    counts = add_to_buckets((), BOUNDS, (0.0005, 0.001, 0.0011, 0.5, 1.5))
    # le is "<=": 0.001 belongs to the 0.001 bucket; 1.5 to the 5.0 bucket; +Inf last
    assert counts == (2, 1, 0, 1, 1, 0)
    assert add_to_buckets(counts, BOUNDS, (0.05,)) == (2, 1, 1, 1, 1, 0)
    assert add_to_buckets(counts, BOUNDS[:3], (0.05,)) == (0, 0, 1, 0)  # other bounds


def test_bounds_served_stop_below_the_timeout() -> None:
    assert rendered_bounds(DEFAULT_BUCKETS, 2.0)[-1] == 1.0
    assert rendered_bounds(DEFAULT_BUCKETS, 2.0)[0] == 0.0005
    assert rendered_bounds(DEFAULT_BUCKETS, 0.3) == (
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
    assert check_bounds(DEFAULT_BUCKETS) is None
    assert check_bounds((0.1, 0.1)) is not None
    assert check_bounds((0.0, 0.1)) is not None
    assert check_bounds(tuple(0.001 * (i + 1) for i in range(31))) is not None


def _histogram(text: str) -> dict[str, float]:
    """{le or "sum"/"count": value} of the one device's histogram in ``text``."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != HISTOGRAM:
            continue
        assert family.type == "histogram"
        for sample in family.samples:
            key = sample.labels.get("le", sample.name.rsplit("_", 1)[-1])
            out[key] = sample.value
    return out


def test_histogram_renders_cumulative_buckets_sum_count_and_cycle_gauges() -> None:
    state = DeviceState()
    for rtts in ((0.0004, 0.012, 0.013), (0.2, 0.011), ()):
        state = record(state, ProbeResult(1.0, 2.0, 3, len(rtts), None, rtts=rtts), 1, 1,
                       DEFAULT_BUCKETS)
    metrics = DeviceMetrics([DEV], rendered_bounds(DEFAULT_BUCKETS, 2.0))
    text = metrics.render({DEV.key: state})
    hist = _histogram(text)
    assert hist["0.0005"] == 1 and hist["0.01"] == 1 and hist["0.02"] == 4
    assert hist["0.2"] == 5 and hist["1.0"] == 5 and hist["+Inf"] == 5
    assert hist["count"] == 5 and math.isclose(hist["sum"], 0.2364)
    assert "2.0" not in hist  # at the timeout: would only repeat +Inf
    assert "wardops_device_echo_requests_total" in text and " 9\n" in text
    # the last probe had no reply: the device is down, no min/max/jitter shown
    assert "wardops_device_rtt_stddev_seconds{" not in text
    up = record(state, ProbeResult(3.0, 4.0, 3, 3, 0.02, rtts=(0.015, 0.02, 0.025)), 1, 1)
    lines = DeviceMetrics([DEV], None).render({DEV.key: up}).splitlines()
    value = {ln.split("{")[0]: float(ln.rsplit(" ", 1)[1]) for ln in lines if "{" in ln}
    assert value["wardops_device_rtt_min_seconds"] == 0.015
    assert value["wardops_device_rtt_max_seconds"] == 0.025
    assert math.isclose(value["wardops_device_rtt_stddev_seconds"], 0.005)
    assert not any(ln.startswith(HISTOGRAM) for ln in lines)  # rtt_buckets: []


def test_unprobed_device_has_no_histogram_and_new_bounds_restart_it() -> None:
    metrics = DeviceMetrics([DEV], BOUNDS)
    assert HISTOGRAM not in metrics.render({}).replace(f"# HELP {HISTOGRAM}", "").replace(
        f"# TYPE {HISTOGRAM}", "")
    store = StateStore()
    store.set_keys([DEV.key], BOUNDS)
    store.record(DEV.key, ProbeResult(1.0, 2.0, 2, 2, 0.005, rtts=(0.004, 0.006)), 1, 1)
    state = store.get(DEV.key)
    assert state is not None and state.buckets == (0, 2, 0, 0, 0, 0)
    store.set_keys([DEV.key], BOUNDS)  # same bounds: kept
    assert store.snapshot()[DEV.key].buckets == (0, 2, 0, 0, 0, 0)
    store.set_keys([DEV.key], BOUNDS[1:])
    assert store.snapshot()[DEV.key].buckets == ()
    assert store.snapshot()[DEV.key].rtt_sum == 0.0


@pytest.mark.parametrize("rtts", [(0.0001,), (0.999, 0.5, 0.002), (4.9,)])
def test_count_and_inf_agree_with_every_reply(rtts: tuple[float, ...]) -> None:
    state = record(DeviceState(), ProbeResult(1.0, 2.0, len(rtts), len(rtts), None,
                                              rtts=rtts), 1, 1, BOUNDS)
    hist = _histogram(DeviceMetrics([DEV], BOUNDS).render({DEV.key: state}))
    assert hist["+Inf"] == hist["count"] == len(rtts)
    assert hist["5.0"] == len(rtts)


def test_labels_that_look_like_format_codes_come_through_in_every_histogram_line() -> None:
    # the histogram is one %-format per device with its labels put in: a label value with
    # % codes (or the \0 the labels stand in for in the template) must not be read as
    # either, on any line
    odd = Device(name="ATM %d 100%%", address="127.0.0.2", site="Gori %s", type="atm",
                 labels=(("note", "50% %r \\0"),))
    state = record(DeviceState(), ProbeResult(1.0, 2.0, 2, 2, 0.005, rtts=(0.004, 0.006)),
                   1, 1, BOUNDS)
    text = DeviceMetrics([odd], BOUNDS).render({odd.key: state})
    samples = [s for family in text_string_to_metric_families(text) if family.name == HISTOGRAM
               for s in family.samples]
    assert len(samples) == len(BOUNDS) + 1 + 2  # the bounds, +Inf, sum, count
    for sample in samples:
        assert sample.labels["device"] == "ATM %d 100%%"
        assert sample.labels["site"] == "Gori %s"
        assert sample.labels["note"] == "50% %r \\0"
    values = {s.labels.get("le", s.name): s.value for s in samples}
    assert values["0.001"] == 0 and values["0.01"] == 2 and values["+Inf"] == 2
    assert math.isclose(values[f"{HISTOGRAM}_sum"], 0.01)
