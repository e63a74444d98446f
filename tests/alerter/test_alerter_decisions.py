"""Pure decisions, table-tested: alert transitions, data-health causes, API answers."""

from __future__ import annotations

import json

import pytest

from alerter.evaluation import (
    AlertState,
    Candidate,
    Transition,
    orphaned,
    restore_after_downtime,
    step,
)
from alerter.health import Cause, Outage, classify_freshness, classify_targets, hold_until_scraped
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
    # a missing exporter freezes everything; one target down freezes only its devices
    for cause in classify_targets(samples, "up"):
        assert cause.freezes_all is (cause.cause == "exporter_missing")
        assert (cause.target is None) is (cause.cause == "exporter_missing")


@pytest.mark.parametrize("age,stale", [(10.0, False), (180.0, False), (180.5, True)])
def test_classify_freshness(age: float, stale: bool) -> None:
    causes = classify_freshness([Sample(UP, age)], stale_after=180)
    assert [c.labels for c in causes] == ([UP] if stale else [])


A = ("wardops-exporter", "a:9469")
B = ("wardops-exporter", "b:9469")
UNREACHABLE = Cause("datasource_unreachable", "Cannot query http://p:9090 (unreachable: x); "
                    "alerts are frozen")
A_DOWN = Cause("exporter_down", "Exporter a:9469 (job wardops-exporter) is down (up == 0): its "
               "devices are not being seen; alerts are frozen", dict(zip(("job", "instance"), A)))
STALE = Cause("probes_stale", "stale", dict(zip(("job", "instance"), A)))


# (case, outage remembered from before (last seen at 100) or None, causes now,
#  newest scrape per target or None (unreadable), expected (cause, awaiting_scrape) list)
@pytest.mark.parametrize("case,before,now_causes,scraped,expected", [
    ("outage goes on", UNREACHABLE, [UNREACHABLE], None,
     [("datasource_unreachable", False)]),
    ("answers again, only samples from before the outage", UNREACHABLE, [], {A: 95.0, B: 99.0},
     [("datasource_unreachable", True)]),
    ("answers again, one target scraped since, the other not", UNREACHABLE, [],
     {A: 101.0, B: 99.0}, [("datasource_unreachable", True)]),
    ("answers again, every target scraped since: trusted", UNREACHABLE, [],
     {A: 101.0, B: 100.5}, []),
    ("scrape times unreadable: keep waiting", UNREACHABLE, [], None,
     [("datasource_unreachable", True)]),
    ("exporter up again, scraped since the outage: trusted", A_DOWN, [], {A: 101.0, B: 50.0},
     []),
    ("exporter up again, its last scrape older than the outage", A_DOWN, [],
     {A: 100.0, B: 200.0}, [("exporter_down", True)]),
    ("exporter removed from the scrape config: nothing to wait for", A_DOWN, [], {B: 50.0}, []),
    ("stale probes are not remembered: they end with fresh probes", None, [STALE], {A: 10.0},
     [("probes_stale", False)]),
    ("no outage before: nothing held", None, [], {A: 10.0}, []),
])
def test_hold_until_scraped(case: str, before: Cause | None, now_causes: list[Cause],
                            scraped: dict[tuple[str, str], float] | None,
                            expected: list[tuple[str, bool]]) -> None:
    outages = {before.key: Outage(before, 100.0)} if before else {}
    causes, kept = hold_until_scraped(outages, now_causes, scraped, now=101.0)
    assert [(c.cause, c.awaiting_scrape) for c in causes] == expected, case
    # a whole-source outage skips every query; one target's only freezes its own devices
    assert all(c.skips_queries is (c.target is None) for c in causes if c.awaiting_scrape)
    # the held cause keeps the identity of the outage's MonitoringDegraded alert
    assert [c.key for c in causes] == [before.key] * len(expected) if before else True
    # an ongoing outage is remembered as last seen now; a held one keeps its time
    assert {k: o.last_seen for k, o in kept.items()} == {
        c.key: (101.0 if c in now_causes else 100.0) for c in causes
        if c.cause != "probes_stale"}


def test_held_cause_says_what_it_waits_for() -> None:
    [cause], _ = hold_until_scraped({A_DOWN.key: Outage(A_DOWN, 0.0)}, [], {A: 0.0}, 5.0)
    assert cause.summary == (
        "Exporter a:9469 (job wardops-exporter) is down (up == 0): its devices are not being "
        "seen until 00:00:00 UTC; now answering again, but waiting for a scrape of the exporter "
        "newer than that before trusting the data: alerts are frozen (nothing resolves or "
        "newly fires)")


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
