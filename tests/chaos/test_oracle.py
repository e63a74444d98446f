"""The chaos oracle's own table tests: it must catch each kind of lie, and accept the truth."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from oracle import Event, Truth, applied_events, violations


def iso(ts: float | None) -> str:
    return "0001-01-01T00:00:00Z" if ts is None else \
        datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def record(at: float, status: str, device: str, *, seq: int | None = None, key: str = "",
           ends: float | None = None, name: str = "DeviceDown", group: str = "g",
           **extra: str) -> dict:
    headers = {"Idempotency-Key": key or f"k{at}{status}{device}"}
    if seq is not None:
        headers["X-Wardops-Sequence"] = str(seq)
    labels = {"alertname": name, ("cause" if name == "MonitoringDegraded" else "device"): device,
              **extra}
    return {"received_at": at, "path": "/faults", "headers": headers,
            "payload": {"groupKey": f"{group}{device}", "status": status, "alerts": [
                {"status": status, "labels": labels, "endsAt": iso(ends)}]}}


TRUTH = Truth(outages={"atm": [(100.0, 150.0)], "nvr": []}, gaps=[], end=200.0)


def check(records: list[dict], truth: Truth = TRUTH) -> list[str]:
    events, _, _ = applied_events(json.loads(json.dumps(records)))
    return [v.split(":")[0] for v in violations(truth, events)]


CASES = [
    ("the truth: fired, then resolved after it came back",
     [record(105, "firing", "atm", seq=1), record(153, "resolved", "atm", seq=2, ends=151)], []),
    ("a resolve decided while it was still down",
     [record(105, "firing", "atm", seq=1), record(131, "resolved", "atm", seq=2, ends=130),
      record(153, "firing", "atm", seq=3)],
     ["false resolve", "lost resolve"]),
    ("never notified at all", [], ["lost firing"]),
    ("the resolve never came", [record(105, "firing", "atm", seq=1)], ["lost resolve"]),
    ("fired twice (a new Idempotency-Key after a restart)",
     [record(105, "firing", "atm", seq=1), record(120, "firing", "atm", seq=2),
      record(153, "resolved", "atm", seq=3, ends=151)], ["duplicate"]),
    ("a retry of the same notification is dropped by its key",
     [record(105, "firing", "atm", seq=1, key="same"), record(106, "firing", "atm", seq=1,
                                                              key="same"),
      record(153, "resolved", "atm", seq=2, ends=151)], []),
    ("a late retry of the firing arrives after the resolve: stale, ignored",
     [record(105, "firing", "atm", seq=1, key="a"), record(153, "resolved", "atm", seq=2,
                                                           ends=151),
      record(154, "firing", "atm", seq=1, key="a2")], []),
    ("without sequences the late firing would have been believed",
     [record(105, "firing", "atm"), record(153, "resolved", "atm", ends=151),
      record(154, "firing", "atm")], ["lost resolve"]),
]


@pytest.mark.parametrize("case,records,expected", CASES, ids=[c[0] for c in CASES])
def test_oracle_verdicts(case: str, records: list[dict], expected: list[str]) -> None:
    assert check(records) == expected


def test_an_outage_hidden_in_a_data_gap_needs_no_notification() -> None:
    hidden = Truth(outages={"atm": [(100.0, 110.0)]}, gaps=[(95.0, 112.0)], end=200.0)
    degraded = [record(100, "firing", "datasource_unreachable", name="MonitoringDegraded",
                       seq=1),
                record(115, "resolved", "datasource_unreachable", name="MonitoringDegraded",
                       seq=2, ends=114)]
    assert check(degraded, hidden) == []


def test_a_data_gap_without_monitoring_degraded_is_a_violation() -> None:
    gap = Truth(outages={}, gaps=[(100.0, 130.0)], end=200.0)
    assert check([], gap) == ["degraded missing"]


def test_stale_and_duplicate_counts() -> None:
    records = [record(1, "firing", "atm", seq=5, key="x"), record(2, "firing", "atm", seq=5,
                                                                  key="x"),
               record(3, "firing", "atm", seq=4, key="y")]
    events, stale, dups = applied_events(records)
    assert (len(events), stale, dups) == (1, 1, 1)
    assert events == [Event(1.0, "firing", "DeviceDown", "atm", None)]


def test_alerts_of_one_notification_that_differ_by_a_label_are_not_duplicates() -> None:
    """MonitoringDegraded cause=rule_failed comes once per failing rule, in one group."""
    two = record(1, "firing", "rule_failed", name="MonitoringDegraded", seq=1, rule="A")
    two["payload"]["alerts"].append(
        record(1, "firing", "rule_failed", name="MonitoringDegraded", rule="B")
        ["payload"]["alerts"][0])
    assert check([two], Truth(outages={}, gaps=[], end=10.0)) == []


def test_a_reminder_after_repeat_interval_is_not_a_duplicate() -> None:
    """The hour-long soak met the always-firing Watchdog's promised reminder (3,602 s
    after its first notification, repeat_interval 1h); sooner it is a duplicate."""
    truth = Truth(outages={}, gaps=[], end=9000.0)
    reminder = [record(10, "firing", "w", name="Watchdog", seq=1),
                record(3612, "firing", "w", name="Watchdog", seq=2)]
    events, _, _ = applied_events(json.loads(json.dumps(reminder)))
    assert violations(truth, events, repeat_interval=3600) == []
    too_soon = [record(10, "firing", "w", name="Watchdog", seq=1),
                record(1800, "firing", "w", name="Watchdog", seq=2)]
    events, _, _ = applied_events(json.loads(json.dumps(too_soon)))
    assert [v.split(":")[0] for v in violations(truth, events, repeat_interval=3600)] == \
        ["duplicate"]
