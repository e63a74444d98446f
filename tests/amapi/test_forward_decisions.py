"""Forwarding decisions (pure, table-tested), its config, and the Forwarder's resend
schedule under an injected clock against a real loopback HTTP receiver."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from alerter.model import Alert
from alerter.notify.alertmanager.forward import (
    RESOLVED_RETENTION,
    STATE_FILE,
    Forwarder,
    Sent,
    firing_ends_at,
    needs_sending,
    next_backoff,
    postable,
    targets_of,
)
from alerter.notify.config import parse_notify_config
from tests.notify.receiver import Receiver
from tests.support import wait_for

TESTDATA = Path(__file__).resolve().parents[1] / "testdata" / "amapi"
INVALID = sorted(TESTDATA.glob("invalid-forward-*.yml"))

# (last sent, resolved now, now, resend delay) -> send?
NEEDS_SENDING = [
    (None, False, 100.0, 60.0, True),                 # never sent: at once
    (None, True, 100.0, 60.0, True),                  # a resolve never sent: at once
    (Sent(90.0, False), False, 100.0, 60.0, False),   # firing, sent 10 s ago: wait
    (Sent(40.0, False), False, 100.0, 60.0, True),    # firing, resend delay passed
    (Sent(41.0, False), False, 100.0, 60.0, False),   # one second short of it
    (Sent(99.0, False), True, 100.0, 60.0, True),     # just resolved: at once
    (Sent(99.0, True), False, 100.0, 60.0, True),     # fired again after a resolve
    (Sent(70.0, True), True, 100.0, 60.0, False),     # resolved, re-sent recently
    (Sent(40.0, True), True, 100.0, 60.0, True),      # resolved, re-send due
]


@pytest.mark.parametrize("last,resolved,now,delay,expected", NEEDS_SENDING)
def test_needs_sending(last: Sent | None, resolved: bool, now: float, delay: float,
                       expected: bool) -> None:
    assert needs_sending(last, resolved, now, delay) is expected


@pytest.mark.parametrize("interval,delay,expected", [
    (15.0, 60.0, 240.0),   # Prometheus defaults: 4 × resend delay
    (120.0, 60.0, 480.0),  # slow evaluation: 4 × interval
    (1.0, 1.0, 4.0),
])
def test_firing_ends_at(interval: float, delay: float, expected: float) -> None:
    assert firing_ends_at(1000.0, interval, delay) == 1000.0 + expected


@pytest.mark.parametrize("failures,expected", [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0),
                                               (6, 30.0), (40, 30.0)])
def test_next_backoff(failures: int, expected: float) -> None:
    assert next_backoff(failures) == expected


def test_postable_firing_and_resolved() -> None:
    firing = Alert({"alertname": "DeviceDown", "device": "Gori-SW1"}, {"summary": "down"},
                   "firing", starts_at=1_700_000_000.0, generator_url="http://a/rules")
    assert postable(firing, 1_700_000_100.0, 15.0, 60.0) == {
        "labels": {"alertname": "DeviceDown", "device": "Gori-SW1"},
        "annotations": {"summary": "down"},
        "startsAt": "2023-11-14T22:13:20Z",
        "endsAt": "2023-11-14T22:19:00Z",  # now + 240 s
        "generatorURL": "http://a/rules"}
    resolved = Alert(firing.labels, firing.annotations, "resolved", starts_at=firing.starts_at,
                     ends_at=1_700_000_050.0)
    assert postable(resolved, 1_700_000_100.0, 15.0, 60.0)["endsAt"] == "2023-11-14T22:14:10Z"


def expected_error(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# error: "), f"{path.name} must start with '# error: <message>'"
    return first.removeprefix("# error: ")


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_forward_config_is_rejected_with_exact_message(path: Path) -> None:
    with pytest.raises(ValueError) as err:
        parse_notify_config(yaml.safe_load(path.read_text()), base_dir=TESTDATA)
    assert str(err.value) == expected_error(path)


def test_forward_config_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AM_PASSWORD", "pa55")
    (tmp_path / "am2-url").write_text("http://127.0.0.1:9094/am/\n")
    config = parse_notify_config(yaml.safe_load("""
route: {receiver: am}
receivers:
  - name: am
    alertmanager_configs:
      - url: http://127.0.0.1:9093
        basic_auth: {username: wardops, password_env: AM_PASSWORD}
      - url_file: am2-url
        bearer_token: t0k
        timeout: 3s
        resend_delay: 30s
"""), base_dir=tmp_path)
    first, second = (targets_of(config)[("am", i)] for i in (0, 1))
    assert first.alerts_url == "http://127.0.0.1:9093/api/v2/alerts"
    assert first.http.authorization is not None
    assert first.http.authorization.value == "Basic " + base64.b64encode(b"wardops:pa55").decode()
    assert "pa55" not in repr(first)  # secrets never printed
    assert (first.timeout, first.resend_delay) == (10.0, 60.0)
    assert second.alerts_url == "http://127.0.0.1:9094/am/api/v2/alerts"
    assert second.http.authorization is not None and second.http.authorization.value == "Bearer t0k"
    assert (second.timeout, second.resend_delay) == (3.0, 30.0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def am_receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.down()


def forwarder(receiver: Receiver, state_dir: Path, clock: Clock,
              registry: CollectorRegistry | None = None) -> Forwarder:
    config = parse_notify_config({
        "route": {"receiver": "webhooks", "routes": [
            {"matchers": ['severity="critical"'], "receiver": "am"}]},
        "receivers": [{"name": "webhooks"},
                      {"name": "am", "alertmanager_configs": [
                          {"url": f"http://127.0.0.1:{receiver.port}", "bearer_token": "t"}]}],
    })
    fwd = Forwarder(config, state_dir, eval_interval=15.0, clock=clock, registry=registry)
    fwd.start()
    return fwd


def posted(receiver: Receiver, index: int) -> list[tuple[str, str]]:
    """(device, endsAt) of the alerts in request ``index``."""
    return [(a["labels"]["device"], a["endsAt"]) for a in receiver.requests[index].json()]


def since(receiver: Receiver, first: int) -> list[tuple[str, str]]:
    """(device, endsAt) of every alert posted in request ``first`` and later, sorted."""
    return sorted(p for i in range(first, len(receiver.requests)) for p in posted(receiver, i))


def alert(device: str, state: str = "firing", ends_at: float | None = None,
          severity: str = "critical") -> Alert:
    return Alert({"alertname": "DeviceDown", "device": device, "severity": severity},
                 {}, state, starts_at=1_700_000_000.0, ends_at=ends_at)


def test_forwarder_follows_prometheus_resend_schedule(am_receiver: Receiver,
                                                      tmp_path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    fwd = forwarder(am_receiver, tmp_path, clock)
    try:
        a, b = alert("A"), alert("B")
        fwd.process([a, alert("W", severity="warning")])  # W routes to webhooks only
        am_receiver.wait(1)
        assert posted(am_receiver, 0) == [("A", "2023-11-14T22:17:20Z")]  # +240 s
        assert am_receiver.requests[0].path == "/api/v2/alerts"
        assert am_receiver.requests[0].headers["Authorization"] == "Bearer t"

        clock.now += 30  # A is not due yet; B is new
        fwd.process([a, b])
        am_receiver.wait(2)
        assert posted(am_receiver, 1) == [("B", "2023-11-14T22:17:50Z")]

        clock.now += 31  # 61 s after A's send: A again, B not yet
        fwd.process([a, b])
        am_receiver.wait(3)
        assert posted(am_receiver, 2) == [("A", "2023-11-14T22:18:21Z")]

        clock.now += 1  # A resolves: sent at once with its real endsAt
        fwd.process([alert("A", "resolved", ends_at=clock.now), b])
        am_receiver.wait(4)
        assert posted(am_receiver, 3) == [("A", "2023-11-14T22:14:22Z")]
    finally:
        fwd.stop()

    # a restart keeps the resolved alert pending re-send (state_dir) and sends it again
    clock.now += 60
    again = forwarder(am_receiver, tmp_path, clock)
    try:
        again.process([b])
        wait_for(lambda: len(since(am_receiver, 4)) >= 2, what="resends after restart")
        assert since(am_receiver, 4) == [("A", "2023-11-14T22:14:22Z"),
                                         ("B", "2023-11-14T22:19:22Z")]
        sent = len(am_receiver.requests)
        clock.now += RESOLVED_RETENTION  # the resolve is forgotten after 15 minutes
        again.process([b])
        wait_for(lambda: since(am_receiver, sent), what="B's resend")
        assert [d for d, _ in since(am_receiver, sent)] == ["B"]
    finally:
        again.stop()


def test_forwarder_retries_5xx_with_backoff_and_leaves_4xx_to_the_next_resend(
        am_receiver: Receiver, tmp_path: Path) -> None:
    clock, registry = Clock(1_700_000_000.0), CollectorRegistry()
    fwd = forwarder(am_receiver, tmp_path, clock, registry)

    def errors(reason: str) -> float | None:
        return registry.get_sample_value("wardops_alerter_forward_errors_total",
                                         {"receiver": "am", "integration": "0",
                                          "reason": reason})
    try:
        am_receiver.fail_next(1, 503)
        fwd.process([alert("A")])
        wait_for(lambda: errors("http_5xx") == 1, what="the 503 counted")
        assert am_receiver.requests == []
        clock.now += 1.5  # past the first backoff (1 s): retried without a new cycle
        am_receiver.wait(1)
        assert posted(am_receiver, 0) == [("A", "2023-11-14T22:17:21.5Z")]  # fresh endsAt

        am_receiver.fail_next(1, 400)
        clock.now += 60
        fwd.process([alert("A")])
        wait_for(lambda: errors("http_4xx") == 1, what="the 400 counted")
        # a refused batch is not hammered: the next post carries only the new alert B
        fwd.process([alert("A"), alert("B")])
        am_receiver.wait(2)
        assert [d for d, _ in posted(am_receiver, 1)] == ["B"]
        clock.now += 60  # the next resend carries A again
        fwd.process([alert("A"), alert("B")])
        wait_for(lambda: since(am_receiver, 2), what="A's resend")
        assert [d for d, _ in since(am_receiver, 2)] == ["A", "B"]
    finally:
        fwd.stop()


def test_reload_starts_and_stops_forwarding(am_receiver: Receiver, tmp_path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    without = parse_notify_config({"route": {"receiver": "webhooks"},
                                   "receivers": [{"name": "webhooks"}]})
    fwd = Forwarder(without, tmp_path, eval_interval=15.0, clock=clock)
    fwd.start()
    try:
        with_am = forwarder(am_receiver, tmp_path / "other", clock)
        with_am.stop()  # only its validated config is wanted here
        fwd.process([alert("A")])
        fwd.reload(with_am.config, 15.0)
        fwd.process([alert("A")])
        am_receiver.wait(1)
        assert posted(am_receiver, 0) == [("A", "2023-11-14T22:17:20Z")]
        fwd.reload(without, 15.0)  # the Alertmanager is dropped: nothing more goes out
        clock.now += 120
        fwd.process([alert("A"), alert("B")])
        fwd.reload(with_am.config, 15.0)  # and back: both, since the sent log went with it
        fwd.process([alert("A"), alert("B")])
        wait_for(lambda: len(since(am_receiver, 1)) >= 2, what="posts after the second reload")
        assert [d for d, _ in since(am_receiver, 1)] == ["A", "B"]
    finally:
        fwd.stop()


def test_state_file_of_another_shape_skips_bad_entries_and_keeps_the_rest(
        am_receiver: Receiver, tmp_path: Path) -> None:
    """An older/newer version's am_forward.json: bad entries counted and skipped, no crash."""
    good = alert("Gori-ATM", "resolved", ends_at=1_700_000_100.0)
    good_entry = {"labels": good.labels, "annotations": {}, "state": "resolved",
                  "starts_at": good.starts_at, "ends_at": good.ends_at, "generator_url": "",
                  "value": 0.0, "fingerprint": good.fingerprint}
    entries = [
        {**good_entry, "labels": {**good.labels, "device": "Poti-ATM"}, "fingerprint": "",
         "silenced_by": ["x"]},                         # a field this version does not know
        {"labels": {"alertname": "DeviceDown"}},      # fields missing
        ["not", "a", "mapping"],
        {**good_entry, "labels": "not a mapping", "fingerprint": ""},
        good_entry,
    ]
    (tmp_path / STATE_FILE).write_text(json.dumps({"resolved": entries}))
    registry = CollectorRegistry()
    fwd = forwarder(am_receiver, tmp_path, Clock(1_700_000_110.0), registry)
    try:
        wait_for(lambda: am_receiver.requests, what="the kept resolved alert re-sent")
        assert posted(am_receiver, 0) == [("Gori-ATM", "2023-11-14T22:15:00Z")]
    finally:
        fwd.stop()
    assert registry.get_sample_value("wardops_alerter_forward_state_errors_total",
                                     {"op": "load"}) == 4
