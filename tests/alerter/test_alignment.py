"""Evaluations just after the exporter's scrapes: the decision (pure, injected times), the
config and the matrix parsing, and the real alerter following a real Prometheus's scrapes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from alerter.alignment import (
    IRREGULAR,
    NO_FIT,
    STOPPED,
    TOO_FEW,
    is_series_selector,
    next_evaluation,
    scrape_period,
    selector_from_targets,
)
from alerter.config import load_config
from alerter.promapi import QueryError, parse_matrix
from tests.alerter.harness import TSDB, FakeExporter, write_config
from tests.alerter.test_alerter_e2e import RULES
from tests.support import Proc, free_port, python_env, wait_for, wait_http


def every(period: float, first: float, n: int, duration: float = 0.01) -> list[tuple[float, float]]:
    """n scrapes (start, duration), ``period`` apart from ``first``."""
    return [(first + i * period, duration) for i in range(n)]


# previous evaluation at `previous`; the plain cadence would evaluate next at `cadence`.
@pytest.mark.parametrize("case, scrapes, previous, cadence, interval, now, at, follows, why", [
    ("never scraped", [], 100.0, 105.0, 5.0, 100.1, 105.0, None, TOO_FEW),
    ("two are not enough", every(5, 90, 2), 100.0, 105.0, 5.0, 100.1, 105.0, None, TOO_FEW),
    # scrapes every 5 s at x.2, landing after 0.01 s; margin 0.5: evaluate at x.71
    ("aligned, same interval", every(5, 75.2, 5), 100.0, 105.0, 5.0, 100.1, 100.71, 100.2, ""),
    # once aligned it stays there: previous 100.71 → 105.71, after the scrape at 105.2
    ("steady", every(5, 80.2, 5), 100.71, 105.71, 5.0, 100.8, 105.71, 105.2, ""),
    # the slowest recent scrape (0.3 s) sets when data has landed
    ("slow scrape", [(80.2, 0.01), (85.2, 0.3), (90.2, 0.01), (95.2, 0.02)], 100.0, 105.0,
     5.0, 100.1, 101.0, 100.2, ""),
    # scrapes every 1 s, evaluation every 5 s: the last scrape landing before the cadence
    ("frequent scrapes", every(1, 95.2, 5), 100.0, 105.0, 5.0, 100.1, 104.71, 104.2, ""),
    # scrapes every 15 s, evaluation every 5 s: one evaluation follows each scrape, the
    # others keep the cadence
    ("rare scrapes, fits", every(15, 40.2, 4), 100.0, 105.0, 5.0, 100.1, 100.71, 100.2, ""),
    ("rare scrapes, between", every(15, 40.2, 4), 100.71, 105.71, 5.0, 100.8, 105.71, None,
     NO_FIT),
    # the scrape phase moved 2 s later: the next evaluation comes early, once, not late
    ("phase moved later", every(5, 82.2, 4), 100.71, 105.71, 5.0, 100.8, 102.71, 102.2, ""),
    # never later than the cadence by more than min(10%, 0.25 s)
    ("small wobble later", every(5, 85.4, 4), 100.71, 105.71, 5.0, 100.8, 105.91, 105.4, ""),
    ("irregular", [(80.0, 0.01), (85.0, 0.01), (86.0, 0.01), (95.0, 0.01)], 100.0, 105.0,
     5.0, 100.1, 105.0, None, IRREGULAR),
    ("stopped", every(5, 70.2, 4), 100.0, 105.0, 5.0, 100.1, 105.0, None, STOPPED),
])
def test_next_evaluation(case: str, scrapes: list[tuple[float, float]], previous: float,
                         cadence: float, interval: float, now: float, at: float,
                         follows: float | None, why: str) -> None:
    plan = next_evaluation(scrapes, previous=previous, cadence=cadence, interval=interval,
                           margin=0.5, now=now)
    assert plan.at == pytest.approx(at), case
    assert (plan.scrape == pytest.approx(follows)) if follows else plan.scrape is None, case
    assert plan.fallback == why, case
    # the rule: never later than the cadence (plus a wobble), never at or before `now`
    assert now < plan.at <= cadence + 0.25, case


def test_scrape_period() -> None:
    assert scrape_period([0.0, 1.0, 2.0, 3.0], now=3.5) == (1.0, "")
    assert scrape_period([0.0, 1.0, 2.5, 3.0], now=3.5) == (None, IRREGULAR)


def test_selectors() -> None:
    assert selector_from_targets('up{job="wardops-exporter"}') == \
        'scrape_duration_seconds{job="wardops-exporter"}'
    assert selector_from_targets("up") == "scrape_duration_seconds"
    assert selector_from_targets("min(up)") == "" and selector_from_targets("") == ""
    assert is_series_selector('scrape_duration_seconds{job=~"wardops.*", env="prod"}')
    assert is_series_selector('{__name__="scrape_duration_seconds"}')
    assert not is_series_selector("max(scrape_duration_seconds)")
    assert not is_series_selector("scrape_duration_seconds[1m]")


def test_config_defaults_and_derivation(tmp_path: Path) -> None:
    config = tmp_path / "alerter.yml"
    config.write_text("data_health: {targets: 'up{job=\"edge\"}'}\n")
    alignment = load_config(config).evaluation_alignment
    assert (alignment.enabled, alignment.margin, alignment.selector) == \
        (True, 0.5, 'scrape_duration_seconds{job="edge"}')
    # the targets check turned off and nothing said about alignment: off, no error
    config.write_text("data_health: {targets: ''}\n")
    assert load_config(config).evaluation_alignment.enabled is False
    config.write_text("evaluation_interval: 1s\nevaluation_alignment: {enabled: false}\n")
    alignment = load_config(config).evaluation_alignment
    assert (alignment.enabled, alignment.margin) == (False, 0.25)  # ≤ a quarter interval


def test_parse_matrix() -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "wardops-exporter", "instance": "a:9469"},
         "values": [[100.2, "0.012"], [105.2, "0.011"]]}]}}).encode()
    [series] = parse_matrix(200, body, "prom")
    assert series.labels["instance"] == "a:9469"
    assert series.points == [(100.2, 0.012), (105.2, 0.011)]
    vector = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}})
    with pytest.raises(QueryError) as info:
        parse_matrix(200, vector.encode(), "prom")
    assert info.value.reason == "bad_query"


def metrics_of(url: str) -> dict[str, float]:
    """name{group=...} → value of the alerter's evaluation series."""
    text = requests.get(url + "/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + (f"[{sample.labels['group']}]" if "group" in sample.labels
                                 else f"[{sample.labels.get('reason', '')}]")
            out[key] = sample.value
    return out


def test_the_alerter_evaluates_just_after_each_scrape(prometheus: TSDB, exporter: FakeExporter,
                                                      tmp_path: Path) -> None:
    """The running alerter, against a real Prometheus scraping every second: each aligned
    evaluation's timestamp (as the alerter exposes it) comes after the scrape it names has
    landed and before the next scrape starts, and that scrape is one Prometheus really ran."""
    exporter.add("Kharagauli-ATM")
    prometheus.wait_value('count(wardops_device_up == 1)', 1)
    config = write_config(tmp_path, prometheus.url, RULES,
                          "evaluation_alignment: {margin: 300ms}\n")
    url = f"http://127.0.0.1:{free_port()}"
    proc = Proc([sys.executable, "-m", "alerter", "--config", str(config),
                 "--web.listen-address", url.removeprefix("http://")],
                log=tmp_path / "alerter.log", env=python_env())
    try:
        wait_http(url + "/-/ready", timeout=30)
        evaluations: dict[float, float] = {}  # evaluation time → scrape start it followed

        def enough() -> bool:
            seen = metrics_of(url)
            at = seen["wardops_alerter_rule_group_last_evaluation_timestamp_seconds[devices]"]
            follows = seen[
                "wardops_alerter_rule_group_last_evaluation_scrape_timestamp_seconds[devices]"]
            if follows:
                evaluations[at] = follows
            return len(evaluations) >= 4
        wait_for(enough, timeout=40, interval=0.3, what="4 aligned evaluations")
        seen = metrics_of(url)
        assert seen["wardops_alerter_evaluation_aligned[]"] == 1
        assert seen["wardops_alerter_evaluations_unaligned_total[unreachable]"] == 0
        time.sleep(1.5)  # the scrape after the last evaluation is in Prometheus too
        [series] = requests.get(prometheus.url + "/api/v1/query", params={
            "query": 'scrape_duration_seconds{job="wardops-exporter"}[2m]'},
            timeout=5).json()["data"]["result"]
        scrapes = [(float(ts), float(d)) for ts, d in series["values"]]
    finally:
        proc.stop()
    for at, follows in evaluations.items():
        # the alerter names the scrape it predicted (last seen + k periods); Prometheus ran
        # it within its scheduling jitter (milliseconds), far less than a tenth of a period
        matches = [i for i, (start, _) in enumerate(scrapes) if abs(start - follows) < 0.1]
        assert len(matches) == 1, (follows, [start for start, _ in scrapes[-10:]])
        start, duration = scrapes[matches[0]]
        index = matches[0]
        assert at > start + duration, "evaluated before the scrape had landed"
        assert at < scrapes[index + 1][0], "a newer scrape had started: not the freshest data"
