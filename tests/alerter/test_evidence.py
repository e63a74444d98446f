"""Absence is not recovery: ``step``'s HELD transition and the ResolveGate's decisions,
table-tested with a scripted data source (the real-Prometheus cases are in
tests/stack/test_truth_under_faults.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from alerter.alignment import last_in_round
from alerter.config import DEFAULT_RESOLVE_EVIDENCE, AlerterConfig, DataHealth, DataSource
from alerter.evaluation import AlertState, Transition, step
from alerter.evidence import ResolveGate
from alerter.health import Cause
from alerter.model import fingerprint
from alerter.notify.config import NotifyConfig
from alerter.promapi import QueryError, Sample
from alerter.rules import Rule, expr_lookback
from alerter.shards import ShardFreeze

DOWN = {"alertname": "DeviceDown", "device": "atm", "address": "127.0.0.9", "site": "Gori"}
FP = fingerprint(DOWN)


def firing(labels: dict[str, str] = DOWN) -> AlertState:
    return AlertState(rule_key="r", fingerprint=fingerprint(labels), labels=labels,
                      annotations={}, state="firing", active_at=0, fired_at=10,
                      keep_firing_since=None, value=0.0)


def rule(name: str, expr: str) -> Rule:
    return Rule(name=name, expr=expr, hold=0, keep_firing_for=0, labels={}, annotations={},
                group="g", file="f.yml", key=f"f.yml:g:{name}:1", lookback=expr_lookback(expr))


def config() -> AlerterConfig:
    return AlerterConfig(path=Path("a.yml"), datasource=DataSource(), evaluation_interval=1,
                         rule_files=(), rule_paths=(), groups=(), state_dir=Path("."),
                         external_url="http://x", external_labels={}, data_health=DataHealth(),
                         notify=NotifyConfig())


def source(answers: dict[str, list[dict[str, str]] | None]):  # type: ignore[no-untyped-def]
    """A data source answering each query by its first matching fragment (None: fails)."""
    asked: list[str] = []

    def query(expr: str, at: float) -> list[Sample]:
        asked.append(expr)
        for fragment, rows in answers.items():
            if fragment in expr:
                if rows is None:
                    raise QueryError("unreachable", "connection refused")
                return [Sample(labels=r, value=1.0) for r in rows]
        raise AssertionError(f"unexpected query {expr!r}")
    query.asked = asked  # type: ignore[attr-defined]
    return query


ATM = {"device": "atm", "address": "127.0.0.9", "site": "Gori"}
OTHER = {"device": "nvr", "address": "127.0.0.8", "site": "Gori"}
DEVICE_DOWN = rule("DeviceDown", "last_over_time(wardops_device_up[10m]) == 0")

# (case, data source answers, expected: may the vanished DeviceDown resolve?)
EVIDENCE_CASES = [
    ("seen up: resolves", {"wardops_device_up == 1": [ATM], "wardops_device_info": [ATM]}, True),
    ("unknown (no up series), still in the inventory: held",
     {"wardops_device_up == 1": [OTHER], "wardops_device_info": [ATM, OTHER]}, False),
    ("left the inventory: resolves",
     {"wardops_device_up == 1": [], "wardops_device_info": [OTHER]}, True),
    ("inventory empty (exporter not scraped) is missing data, not an empty fleet: held",
     {"wardops_device_up == 1": [], "wardops_device_info": []}, False),
    ("evidence query fails, inventory has it: held",
     {"wardops_device_up == 1": None, "wardops_device_info": [ATM]}, False),
    ("both queries fail: held", {"wardops_device_up": None, "wardops_device_info": None}, False),
]


@pytest.mark.parametrize("case,answers,expected", EVIDENCE_CASES,
                         ids=[c[0] for c in EVIDENCE_CASES])
def test_evidence_decides_device_down(case: str, answers: dict, expected: bool) -> None:
    gate = ResolveGate(source(answers), config(), now=1000)
    out = step({FP: firing()}, {}, rule_key="r", hold=0, keep_firing_for=0, now=1000,
               may_resolve=gate.for_rule(DEVICE_DOWN))
    assert out.transitions[FP] is (Transition.RESOLVED if expected else Transition.HELD)
    assert (FP in out.active) is not expected
    assert gate.held_without_evidence == (0 if expected else 1)


def test_a_superseded_alert_resolves_without_evidence() -> None:
    """The rule returns the same device with other labels (relabelled rule, device moved
    to another site): the old identity resolves, the outage stays reported."""
    moved = {**DOWN, "site": "Kutaisi"}
    query = source({})  # asks nothing
    gate = ResolveGate(query, config(), now=1000)
    out = step({FP: firing()}, {}, rule_key="r", hold=0, keep_firing_for=0, now=1000,
               may_resolve=gate.for_rule(DEVICE_DOWN, [moved]))
    assert out.transitions[FP] is Transition.RESOLVED
    assert query.asked == []  # type: ignore[attr-defined]


def test_site_down_resolves_when_any_device_of_the_site_is_up() -> None:
    site_down = {"alertname": "SiteDown", "site": "Gori"}
    held = ResolveGate(source({"wardops_device_up == 1": [{**OTHER, "site": "Tbilisi"}],
                               "wardops_device_info": [ATM, OTHER]}), config(), now=1000)
    seen = ResolveGate(source({"wardops_device_up == 1": [OTHER],
                               "wardops_device_info": [ATM, OTHER]}), config(), now=1000)
    rule_ = rule("SiteDown", "count by (site) (last_over_time(wardops_device_up[10m]) == 0)")
    assert held.for_rule(rule_)(firing(site_down)) is False
    assert seen.for_rule(rule_)(firing(site_down)) is True


FLAPPING = rule("DeviceFlapping", "increase(wardops_device_state_changes_total[5m]) >= 3")


@pytest.mark.parametrize("case,answer,expected", [
    ("every exporter target was scraped 5m ago: resolves", [], True),
    ("a target has no sample 5m ago (TSDB wiped, new store): held",
     [{"job": "wardops-exporter", "instance": "a:9469"}], False),
    ("the history query fails: held", None, False),
])
def test_history_decides_other_rules(case: str, answer: list | None, expected: bool) -> None:
    query = source({"offset 300s": answer})
    gate = ResolveGate(query, config(), now=1000)
    flapping = {"alertname": "DeviceFlapping", "device": "atm"}
    assert gate.for_rule(FLAPPING)(firing(flapping)) is expected
    assert gate.for_rule(FLAPPING)(firing(flapping)) is expected
    assert len(query.asked) == 1, "one history query per lookback per cycle"  # type: ignore[attr-defined]
    assert query.asked[0] == ('(up{job="wardops-exporter"}) unless on (job, instance) '  # type: ignore[attr-defined]
                              '(up{job="wardops-exporter"} offset 300s)')
    assert bool(gate.history_summary()) is not expected
    if not expected:
        assert "DeviceFlapping" in gate.history_summary()
        assert "5m" in gate.history_summary()


def test_instant_rules_and_disabled_checks_need_no_history() -> None:
    gate = ResolveGate(source({}), config(), now=1000)
    assert gate.for_rule(rule("Up", "wardops_device_up == 0"))(firing()) is True
    off = replace(config(), data_health=DataHealth(targets=""))
    assert ResolveGate(source({}), off, now=1000).for_rule(FLAPPING)(firing()) is True


def test_resolve_evidence_can_be_turned_off() -> None:
    off = replace(config(), resolve_evidence=())
    query = source({"offset 600s": []})
    assert ResolveGate(query, off, now=1000).for_rule(DEVICE_DOWN)(firing()) is True
    assert [e.alertname for e in DEFAULT_RESOLVE_EVIDENCE] == ["DeviceDown", "SiteDown"]


@pytest.mark.parametrize("expr,seconds", [
    ("up == 0", 0),
    ("last_over_time(x[10m]) == 0 unless changes(y[2m]) > 0", 600),
    ("avg_over_time(x[4m59s999ms] offset 5m)", 599.999),
    ("max_over_time(rate(x[1m])[30m:1m])", 1800),
    ('x{path="[5m]"}', 300),  # a bracket in a label value over-estimates: the safe side
])
def test_expr_lookback(expr: str, seconds: float) -> None:
    assert expr_lookback(expr) == pytest.approx(seconds)


# ---------------------------------------------------------------- one shard's trouble

SHARD_A = {"job": "wardops-exporter", "instance": "a:9469"}
SHARD_B = {"job": "wardops-exporter", "instance": "b:9469"}
PROBES = [{**SHARD_A, "device": "atm", "address": "127.0.0.9", "site": "Gori"},
          {**SHARD_B, "device": "nvr", "address": "127.0.0.8", "site": "Gori"},
          {**SHARD_B, "device": "sw", "address": "127.0.0.7", "site": "Kutaisi"}]


def test_no_per_target_cause_freezes_nothing_and_asks_nothing() -> None:
    query = source({})
    assert ShardFreeze.build(query, [Cause("rule_failed", "x", {"rule": "r"})], DataHealth(),
                             1000) is None
    assert query.asked == []  # type: ignore[attr-defined]


# (case, labels of an alert, frozen while B is down?, new alerts blocked while B awaits?)
SHARD_CASES = [
    ("device on the healthy shard", {"device": "atm", "address": "127.0.0.9"}, False, False),
    ("device on the failed shard", {"device": "nvr", "address": "127.0.0.8"}, True, True),
    ("a site served partly by the failed shard", {"site": "Gori"}, True, True),
    ("an alert about the healthy exporter itself", SHARD_A, False, False),
    ("an alert about the failed exporter itself", SHARD_B, True, True),
    ("a device nobody reported: cannot tell, so frozen", {"device": "x", "address": "y"},
     True, True),
    ("no device, site or instance: cannot tell, so frozen", {"alertname": "Fleet"}, True, True),
]


@pytest.mark.parametrize("case,labels,frozen,blocked", SHARD_CASES,
                         ids=[c[0] for c in SHARD_CASES])
def test_shard_freeze(case: str, labels: dict, frozen: bool, blocked: bool) -> None:
    down = Cause("exporter_down", "down", SHARD_B)
    freeze = ShardFreeze.build(source({"last_over_time": PROBES}), [down], DataHealth(), 1000)
    assert freeze is not None and freeze.freezes(labels) is frozen
    assert freeze.blocks_new(labels) is False, "while it is down, present alerts still fire"
    awaiting = ShardFreeze.build(source({"last_over_time": PROBES}),
                                 [replace(down, awaiting_scrape=True)], DataHealth(), 1000)
    assert awaiting is not None and awaiting.blocks_new(labels) is blocked


def test_ownership_unreadable_freezes_every_alert() -> None:
    down = Cause("exporter_down", "down", SHARD_B)
    freeze = ShardFreeze.build(source({"last_over_time": None}), [down], DataHealth(), 1000)
    assert freeze is not None
    assert freeze.freezes({"device": "atm", "address": "127.0.0.9"})


def test_evaluation_follows_the_shard_scraped_last_in_each_round() -> None:
    early = [(100.0 + 15 * i, 0.1) for i in range(6)]   # scraped at :00, :15, ...
    late = [(110.0 + 15 * i, 0.3) for i in range(6)]    # scraped 10 s later each round
    assert last_in_round([early, late], 190) is late
    assert last_in_round([late, early], 190) is late
    stopped = [(0.0 + 15 * i, 0.1) for i in range(6)]   # stopped long ago: ignored
    assert last_in_round([early, stopped], 190) is early
