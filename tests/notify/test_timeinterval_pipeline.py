"""Time intervals in the running pipeline, with an injected clock: a window holds a whole
group back at every flush (counted by reason), what still fires when it ends is notified
once then, and a resolve that happened inside the window is told when it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from alerter.model import Alert
from tests.notify.conftest import PipelineFactory, hook_config
from tests.notify.receiver import Receiver

# Monday 2026-01-05 10:00 UTC; the "maintenance" window is 10:00-10:30 on Mondays
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def set(self, now: float) -> None:
        with self._lock:
            self.now = now


def config(url: str) -> dict[str, object]:
    cfg = hook_config(url, group_wait="0s", group_interval="1s", send_resolved=True)
    route = cfg["route"]
    assert isinstance(route, dict)
    route["routes"] = [{"matchers": ['site="Kharagauli"'],
                        "mute_time_intervals": ["maintenance"]}]
    cfg["time_intervals"] = [{"name": "maintenance", "time_intervals": [{
        "weekdays": ["monday"], "times": [{"start_time": "10:00", "end_time": "10:30"}]}]}]
    return cfg


def alert(device: str, state: str = "firing", ends_at: float | None = None) -> Alert:
    return Alert(labels={"alertname": "DeviceDown", "site": "Kharagauli", "device": device},
                 annotations={}, state=state, starts_at=T0 - 60, ends_at=ends_at,
                 generator_url="http://prometheus.test/graph")


def suppressed(p: object, reason: str) -> float:
    value = p.registry.get_sample_value(  # type: ignore[attr-defined]
        "wardops_alerter_notifications_suppressed_total", {"reason": reason})
    return float(value or 0)


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_window_holds_group_back_and_tells_what_fires_when_it_ends(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    clock = Clock(T0 + 60)
    p = pipeline_factory(config(receiver.url), clock=clock)
    p.process([alert("ATM"), alert("Switch")])
    wait_until(lambda: suppressed(p, "mute_time_interval") == 2, "the first flush, held back")
    clock.set(T0 + 62)  # the next group_interval: held back again, counted again
    wait_until(lambda: suppressed(p, "mute_time_interval") == 4, "the second flush")
    assert p.mute_status(alert("ATM"))["muted"] == ["maintenance"]
    # the switch comes back inside the window: nobody is told yet
    p.process([alert("Switch", "resolved", ends_at=T0 + 63)])
    clock.set(T0 + 64)
    wait_until(lambda: suppressed(p, "mute_time_interval") == 6, "the third flush")
    assert receiver.requests == []

    clock.set(T0 + 30 * 60)  # 10:30: the window ends (its end time is exclusive)
    body = receiver.wait(1)[0].json()
    # what still fires, and (send_resolved) the switch that went down and came back inside
    # the window, as a group notifies an alert that fired and resolved between two flushes
    assert [(a["labels"]["device"], a["status"]) for a in body["alerts"]] == \
        [("ATM", "firing"), ("Switch", "resolved")]
    assert p.mute_status(alert("ATM"))["muted"] == []
    for step in (2, 4):  # later flushes: nothing new
        clock.set(T0 + 30 * 60 + step)
        time.sleep(1.2)
    assert len(receiver.requests) == 1


def test_resolve_inside_window_is_told_when_it_ends(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    """The receiver was told the ATM fires (before the window); it resolves inside the
    window; the resolve goes out when the window ends (Alertmanager drops it: a receiver
    left believing the ATM is down is a false red, and wardops tells)."""
    clock = Clock(T0 - 120)  # 09:58, before the window
    p = pipeline_factory(config(receiver.url), clock=clock)
    p.process([alert("ATM")])
    assert receiver.wait(1)[0].json()["status"] == "firing"
    clock.set(T0 + 60)
    p.process([alert("ATM", "resolved", ends_at=T0 + 50)])
    wait_until(lambda: suppressed(p, "mute_time_interval") == 1, "a flush inside the window")
    clock.set(T0 + 62)
    wait_until(lambda: suppressed(p, "mute_time_interval") == 2, "the next one")
    assert len(receiver.requests) == 1
    clock.set(T0 + 31 * 60)
    body = receiver.wait(2)[1].json()
    assert body["status"] == "resolved"
    assert [a["labels"]["device"] for a in body["alerts"]] == ["ATM"]
