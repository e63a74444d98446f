"""Pure decisions, table-tested: alert transitions, data-health causes, API answers."""

from __future__ import annotations

import json

import pytest

from alerter.evaluation import (AlertState, Candidate, Transition, orphaned,
                                restore_after_downtime, step)
from alerter.health import classify_freshness, classify_targets
from alerter.model import fingerprint
from alerter.promapi import QueryError, Sample, parse_response

T = Transition
LABELS = {"alertname": "DeviceDown", "device": "atm"}
FP = fingerprint(LABELS)


def alert(state: str, active_at: float = 0.0, fired_at: float | None = None,
          keep_since: float | None = None) -> AlertState:
    return AlertState(rule_key="r", fingerprint=FP, labels=LABELS, annotations={}, state=state,
                      active_at=active_at, fired_at=fired_at, keep_firing_since=keep_since,
                      value=0.0)


PRESENT = {FP: Candidate(FP, LABELS, {"summary": "x"}, 0.0)}
ABSENT: dict[str, Candidate] = {}
FAILED = None

# (case, previous state or None, query result, hold, keep_firing_for, now, frozen,
#  expected transition, expected state afterwards or None if no longer active)
CASES = [
    ("new with for=0 fires at once", None, PRESENT, 0, 0, 100, False, T.NEW_FIRING, "firing"),
    ("new with for>0 is pending", None, PRESENT, 60, 0, 100, False, T.NEW_PENDING, "pending"),
    ("pending before for elapses", alert("pending", 100), PRESENT, 60, 0, 159, False,
     T.STILL_PENDING, "pending"),
    ("pending fires when for elapses exactly", alert("pending", 100), PRESENT, 60, 0, 160, False,
     T.FIRED, "firing"),
    ("pending that clears is forgotten", alert("pending", 100), ABSENT, 60, 0, 130, False,
     T.PENDING_CLEARED, None),
    ("firing stays firing", alert("firing", 0, 10), PRESENT, 0, 0, 200, False,
     T.STILL_FIRING, "firing"),
    ("firing resolves when gone", alert("firing", 0, 10), ABSENT, 0, 0, 200, False,
     T.RESOLVED, None),
    ("keep_firing_for starts when gone", alert("firing", 0, 10), ABSENT, 0, 60, 200, False,
     T.KEPT_FIRING, "firing"),
    ("keep_firing_for still running", alert("firing", 0, 10, 200), ABSENT, 0, 60, 259, False,
     T.KEPT_FIRING, "firing"),
    ("keep_firing_for over", alert("firing", 0, 10, 200), ABSENT, 0, 60, 260, False,
     T.RESOLVED, None),
    ("condition back during keep_firing_for", alert("firing", 0, 10, 200), PRESENT, 0, 60, 230,
     False, T.STILL_FIRING, "firing"),
    # Missing data never resolves:
    ("failed query freezes firing", alert("firing", 0, 10), FAILED, 0, 0, 200, False,
     T.FROZEN, "firing"),
    ("failed query freezes pending (no promotion)", alert("pending", 100), FAILED, 60, 0, 500,
     False, T.FROZEN, "pending"),
    ("untrusted data: absent firing is not resolved", alert("firing", 0, 10), ABSENT, 0, 0, 200,
     True, T.FROZEN, "firing"),
    ("untrusted data: absent pending is kept", alert("pending", 100), ABSENT, 60, 0, 130, True,
     T.FROZEN, "pending"),
    ("untrusted data: keep_firing_for does not run out", alert("firing", 0, 10, 200), ABSENT,
     0, 60, 900, True, T.FROZEN, "firing"),
    ("untrusted data: a present alert still fires", None, PRESENT, 0, 0, 100, True,
     T.NEW_FIRING, "firing"),
]


@pytest.mark.parametrize("case,previous,result,hold,keep,now,frozen,transition,after",
                         CASES, ids=[c[0] for c in CASES])
def test_step(case: str, previous: AlertState | None, result: dict | None, hold: float,
              keep: float, now: float, frozen: bool, transition: Transition,
              after: str | None) -> None:
    prev = {FP: previous} if previous else {}
    out = step(prev, result, rule_key="r", hold=hold, keep_firing_for=keep, now=now,
               frozen=frozen)
    assert out.transitions[FP] is transition
    assert (out.active[FP].state if FP in out.active else None) == after
    if transition is T.RESOLVED:
        [resolved] = out.resolved
        assert (resolved.state, resolved.resolved_at, resolved.fired_at) == ("resolved", now, 10)
    else:
        assert out.resolved == []


def test_times_carried_through() -> None:
    fired = step({FP: alert("pending", 100)}, PRESENT, rule_key="r", hold=60,
                 keep_firing_for=0, now=170)
    assert (fired.active[FP].active_at, fired.active[FP].fired_at) == (100, 170)
    assert fired.dirty == [FP]
    steady = step(fired.active, PRESENT, rule_key="r", hold=60, keep_firing_for=0, now=180)
    assert steady.active[FP].fired_at == 170 and steady.dirty == []  # nothing to save


# (case, stored alert, last evaluation before the restart, now, tolerance, active_at after)
RESTORE_CASES = [
    ("pending, short outage: for progress kept", alert("pending", 100), 500, 600, 3600, 100),
    ("pending, outage exactly the tolerance: kept", alert("pending", 100), 500, 4100, 3600, 100),
    ("pending, outage over the tolerance: for restarts", alert("pending", 100), 500, 4101,
     3600, 4101),
    ("pending, tolerance 0: any outage restarts", alert("pending", 100), 500, 501, 0, 501),
    ("firing is never touched", alert("firing", 100, fired_at=200), 500, 99999, 3600, 100),
    ("no recorded last evaluation (older state): kept", alert("pending", 100), None, 99999,
     3600, 100),
]


@pytest.mark.parametrize("case,stored,last,now,tolerance,active_at", RESTORE_CASES,
                         ids=[c[0] for c in RESTORE_CASES])
def test_restore_after_downtime(case: str, stored: AlertState, last: float | None, now: float,
                                tolerance: float, active_at: float) -> None:
    restored = restore_after_downtime(stored, last, now, tolerance)
    assert restored.active_at == active_at
    assert (restored.state, restored.fired_at) == (stored.state, stored.fired_at)


def test_orphaned_rule_resolves_firing_only() -> None:
    firing = alert("firing", 0, 10)
    other = AlertState("r", "p", {"a": "b"}, {}, "pending", 0, None, None, 0.0)
    [resolved] = orphaned({FP: firing, "p": other}, now=50)
    assert (resolved.fingerprint, resolved.state, resolved.resolved_at) == (FP, "resolved", 50)


UP = {"job": "wardops-exporter", "instance": "127.0.0.1:9469"}


@pytest.mark.parametrize("samples,causes", [
    ([Sample(UP, 1.0)], []),
    ([], ["exporter_missing"]),
    ([Sample(UP, 0.0)], ["exporter_down"]),
    ([Sample(UP, 1.0), Sample({**UP, "instance": "b:9469"}, 0.0)], ["exporter_down"]),
])
def test_classify_targets(samples: list[Sample], causes: list[str]) -> None:
    assert [c.cause for c in classify_targets(samples, 'up{job="x"}')] == causes
    assert all(c.freezes_all for c in classify_targets(samples, "up"))


@pytest.mark.parametrize("age,stale", [(10.0, False), (180.0, False), (180.5, True)])
def test_classify_freshness(age: float, stale: bool) -> None:
    causes = classify_freshness([Sample(UP, age)], stale_after=180)
    assert [c.labels for c in causes] == ([UP] if stale else [])


def _body(doc: object) -> bytes:
    return json.dumps(doc).encode()


VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"__name__": "wardops_device_up", "device": "a"}, "value": [1, "0"]}]}}


@pytest.mark.parametrize("status,body,expected", [
    (200, _body(VECTOR), [Sample({"device": "a"}, 0.0)]),
    (200, _body({"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}),
     [Sample({}, 2.0)]),
    (200, _body({"status": "success", "data": {"resultType": "matrix", "result": []}}),
     "bad_query"),
    (400, _body({"status": "error", "errorType": "bad_data", "error": "parse error"}),
     "bad_query"),
    (422, _body({"status": "error", "errorType": "execution", "error": "too many samples"}),
     "bad_query"),
    (503, b"Service Unavailable", "server_error"),
    (429, b"", "server_error"),
    (200, b"<html>proxy login</html>", "bad_response"),
    (404, b"not found", "bad_response"),
    (200, _body({"status": "success", "data": {"resultType": "vector", "result": [{}]}}),
     "bad_response"),
])
def test_parse_response(status: int, body: bytes, expected: object) -> None:
    if isinstance(expected, str):
        with pytest.raises(QueryError) as info:
            parse_response(status, body, "http://p")
        assert info.value.reason == expected
    else:
        assert parse_response(status, body, "http://p") == expected
