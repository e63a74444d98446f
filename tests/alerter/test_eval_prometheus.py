"""Evaluation against a real Prometheus scraping a real /metrics target every second.

Each test drives device state on the target, waits until Prometheus has scraped it, runs
evaluation cycles and checks what reached the notification pipeline. ``now`` is passed
explicitly where a test needs time to pass (``for``, ``keep_firing_for``): Prometheus
answers an instant query at a later time from the last sample within its lookback.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.alerter.harness import (
    TSDB,
    FakeExporter,
    RecordingPipeline,
    make_evaluator,
    write_config,
)

DOWN_RULE = """\
    groups:
      - name: devices
        rules:
          - alert: DeviceDown
            expr: wardops_device_up == 0
            for: {hold}
            keep_firing_for: {keep}
            labels: {{severity: critical}}
            annotations:
              summary: '{{{{ $labels.device }}}} at {{{{ $labels.site }}}} is DOWN'
    """


def down_rule(hold: str = "0s", keep: str = "0s") -> str:
    return DOWN_RULE.format(hold=hold, keep=keep)


def states(pipeline: RecordingPipeline) -> dict[str, object]:
    return pipeline.last


def test_fire_and_resolve(prometheus: TSDB, exporter: FakeExporter, tmp_path: Path) -> None:
    atm = exporter.add("Kharagauli-ATM", site="Kharagauli")
    exporter.add("Kharagauli-Router", site="Kharagauli")
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, down_rule()), pipeline)
    prometheus.wait_value('count(wardops_device_up == 1)', 2)

    ev.run_cycle()
    assert states(pipeline) == {}

    exporter.set_up(atm, False)
    prometheus.wait_value('count(wardops_device_up == 0)', 1)
    ev.run_cycle()
    [alert] = pipeline.batches[-1]
    assert (alert.state, alert.labels["device"], alert.labels["severity"]) == \
        ("firing", "Kharagauli-ATM", "critical")
    assert alert.annotations["summary"] == "Kharagauli-ATM at Kharagauli is DOWN"
    assert alert.labels["alertname"] == "DeviceDown" and "__name__" not in alert.labels
    started = alert.starts_at

    ev.run_cycle()
    assert [(a.state, a.starts_at) for a in pipeline.batches[-1]] == [("firing", started)]

    exporter.set_up(atm, True)
    prometheus.wait_value('count(wardops_device_up == 1)', 2)
    ev.run_cycle()
    [resolved] = pipeline.batches[-1]
    assert resolved.state == "resolved" and resolved.ends_at and resolved.starts_at == started
    assert resolved.fingerprint == alert.fingerprint
    ev.run_cycle()
    assert pipeline.batches[-1] == []  # a resolve is handed over once
    assert ev.registry.get_sample_value("wardops_alerter_data_healthy") == 1


def test_for_and_keep_firing_for(prometheus: TSDB, exporter: FakeExporter,
                                 tmp_path: Path) -> None:
    atm = exporter.add("Gori-ATM", site="Gori", up=False)
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, down_rule("30s", "20s")),
                        pipeline)
    prometheus.wait_value('wardops_device_up{device="Gori-ATM"}', 0)
    t0 = time.time()
    ev.run_cycle(t0)
    assert [a.state for a in ev.alerts()] == ["pending"]
    assert pipeline.batches[-1] == []              # pending is not notified
    ev.run_cycle(t0 + 29)
    assert [a.state for a in ev.alerts()] == ["pending"]
    ev.run_cycle(t0 + 30)
    assert states(pipeline) == {"Gori-ATM": "firing"}
    assert pipeline.batches[-1][0].starts_at == t0 + 30
    assert ev.registry.get_sample_value(
        "wardops_alerts", {"alertname": "DeviceDown", "alertstate": "firing", "device": "Gori-ATM",
                           "address": "127.20.0.1", "site": "Gori", "type": "router",
                           "severity": "critical", "job": "wardops-exporter",
                           "instance": f"127.0.0.1:{exporter.port}"}) == 1

    exporter.set_up(atm, True)
    prometheus.wait_value('wardops_device_up{device="Gori-ATM"}', 1)
    t1 = time.time() + 31
    ev.run_cycle(t1)                               # condition gone: kept firing for 20s
    assert states(pipeline) == {"Gori-ATM": "firing"}
    ev.run_cycle(t1 + 19)
    assert states(pipeline) == {"Gori-ATM": "firing"}
    ev.run_cycle(t1 + 35)
    assert states(pipeline) == {"Gori-ATM": "resolved"}


def test_prometheus_stopped_freezes_and_raises_monitoring_degraded(
        prometheus: TSDB, exporter: FakeExporter, tmp_path: Path) -> None:
    atm = exporter.add("Rustavi-ATM", site="Rustavi", up=False)
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, down_rule()), pipeline)
    prometheus.wait_value('wardops_device_up{device="Rustavi-ATM"}', 0)
    ev.run_cycle()
    assert states(pipeline) == {"Rustavi-ATM": "firing"}

    prometheus.stop()
    exporter.set_up(atm, True)     # the device recovers while nobody can see it
    for _ in range(3):
        ev.run_cycle()
        assert states(pipeline) == {"Rustavi-ATM": "firing",
                                    "datasource_unreachable": "firing"}
    degraded = next(a for a in pipeline.batches[-1] if a.name == "MonitoringDegraded")
    assert degraded.labels["severity"] == "critical"
    assert prometheus.url in degraded.annotations["summary"]
    assert "frozen" in degraded.annotations["summary"]
    assert ev.registry.get_sample_value("wardops_alerter_data_healthy") == 0

    prometheus.start()
    prometheus.wait_value('wardops_device_up{device="Rustavi-ATM"}', 1)
    ev.run_cycle()
    assert states(pipeline) == {"Rustavi-ATM": "resolved", "datasource_unreachable": "resolved"}


def test_exporter_target_down_freezes(prometheus: TSDB, exporter: FakeExporter,
                                      tmp_path: Path) -> None:
    exporter.add("Batumi-ATM", site="Batumi", up=False)
    exporter.add("Batumi-Router", site="Batumi")
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, down_rule()), pipeline)
    prometheus.wait_value('wardops_device_up{device="Batumi-ATM"}', 0)
    ev.run_cycle()
    assert states(pipeline) == {"Batumi-ATM": "firing"}

    exporter.close()
    prometheus.wait_value('up{job="wardops-exporter"}', 0)
    # The target's series are now stale in Prometheus: DeviceDown returns nothing.
    assert prometheus.query("wardops_device_up") == []
    ev.run_cycle()
    ev.run_cycle()
    assert states(pipeline) == {"Batumi-ATM": "firing", "exporter_down": "firing"}
    degraded = next(a for a in pipeline.batches[-1] if a.name == "MonitoringDegraded")
    assert degraded.labels["instance"] == f"127.0.0.1:{exporter.port}"
    assert degraded.labels["job"] == "wardops-exporter"


def test_stale_probes_freeze(prometheus: TSDB, exporter: FakeExporter, tmp_path: Path) -> None:
    atm = exporter.add("Zugdidi-ATM", site="Zugdidi", up=False)
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, down_rule(),
                                     "data_health: {stale_after: 60s}\n"), pipeline)
    prometheus.wait_value('wardops_device_up{device="Zugdidi-ATM"}', 0)
    ev.run_cycle()
    assert states(pipeline) == {"Zugdidi-ATM": "firing"}

    # The exporter answers scrapes but its probe loop is stuck: it still reports the
    # device as up from some stale result. That must not resolve anything.
    exporter.freeze_probes()
    exporter.set_up(atm, True)
    prometheus.wait_value('wardops_device_up{device="Zugdidi-ATM"}', 1)
    ev.run_cycle()
    assert states(pipeline) == {"Zugdidi-ATM": "firing", "probes_stale": "firing"}
    degraded = next(a for a in pipeline.batches[-1] if a.name == "MonitoringDegraded")
    assert "has not finished a probe for 1h" in degraded.annotations["summary"]

    exporter.stale_probes = False
    prometheus.wait_value('time() - max(wardops_device_last_probe_timestamp_seconds) < bool 30', 1)
    ev.run_cycle()
    assert states(pipeline) == {"Zugdidi-ATM": "resolved", "probes_stale": "resolved"}


def test_failed_rule_freezes_only_that_rule(prometheus: TSDB, exporter: FakeExporter,
                                            tmp_path: Path) -> None:
    atm = exporter.add("Telavi-ATM", site="Telavi", up=False)
    rules = down_rule().rstrip() + """
          - alert: Broken
            expr: wardops_device_up{device="Telavi-ATM"} == 0
    """
    pipeline = RecordingPipeline()
    config = write_config(tmp_path, prometheus.url, rules)
    ev = make_evaluator(config, pipeline)
    prometheus.wait_value('wardops_device_up{device="Telavi-ATM"}', 0)
    ev.run_cycle()
    assert sorted(a.name for a in pipeline.batches[-1]) == ["Broken", "DeviceDown"]

    # The Broken rule's query starts failing: it parses (so it loads), but Prometheus
    # rejects it while evaluating (label_replace with an invalid regex).
    (tmp_path / "rules" / "test.yml").write_text(
        (tmp_path / "rules" / "test.yml").read_text().replace(
            'wardops_device_up{device="Telavi-ATM"} == 0',
            'label_replace(wardops_device_up, "x", "$1", "device", "(")'))
    from alerter.config import load_config
    ev.reload(load_config(config))
    exporter.set_up(atm, True)
    prometheus.wait_value('wardops_device_up{device="Telavi-ATM"}', 1)
    ev.run_cycle()
    by_name = {a.name: a for a in pipeline.batches[-1]}
    assert by_name["DeviceDown"].state == "resolved"          # healthy rule resolves
    assert by_name["Broken"].state == "firing"                # failed rule stays frozen
    degraded = by_name["MonitoringDegraded"]
    assert (degraded.labels["cause"], degraded.labels["rule"]) == ("rule_failed", "Broken")
    assert "bad_query" in degraded.annotations["summary"]
    assert ev.registry.get_sample_value("wardops_alerter_rule_evaluation_failures_total",
                                        {"group": "devices", "reason": "bad_query"}) == 1


def test_template_error_is_marked_and_counted(prometheus: TSDB, exporter: FakeExporter,
                                              tmp_path: Path) -> None:
    exporter.add("Poti-ATM", site="Poti", up=False)
    rules = """\
        groups:
          - name: devices
            rules:
              - alert: DeviceDown
                expr: wardops_device_up == 0
                annotations:
                  summary: '{{ $labels.device }} down'
                  broken: '{{ humanize $labels.device }}'
        """
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, rules), pipeline)
    prometheus.wait_value('wardops_device_up{device="Poti-ATM"}', 0)
    ev.run_cycle()
    [alert] = pipeline.batches[-1]
    assert alert.annotations["summary"] == "Poti-ATM down"
    assert alert.annotations["broken"] == (  # Prometheus's words and position, exactly
        '<error expanding template: error executing template __alert_DeviceDown: template: '
        '__alert_DeviceDown:1:115: executing "__alert_DeviceDown" at <humanize '
        '$labels.device>: error calling humanize: strconv.ParseFloat: parsing "Poti-ATM": '
        'invalid syntax>')
    assert ev.registry.get_sample_value("wardops_alerter_template_errors_total",
                                        {"alertname": "DeviceDown"}) == 1


def test_victoriametrics_as_data_source(victoriametrics: TSDB, exporter: FakeExporter,
                                        tmp_path: Path) -> None:
    atm = exporter.add("Mtskheta-ATM", site="Mtskheta")
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, victoriametrics.url, down_rule()), pipeline)
    victoriametrics.wait_value('wardops_device_up{device="Mtskheta-ATM"}', 1)
    ev.run_cycle()
    assert states(pipeline) == {}
    exporter.set_up(atm, False)
    victoriametrics.wait_value('wardops_device_up{device="Mtskheta-ATM"}', 0)
    ev.run_cycle()
    assert states(pipeline) == {"Mtskheta-ATM": "firing"}
    exporter.set_up(atm, True)
    victoriametrics.wait_value('wardops_device_up{device="Mtskheta-ATM"}', 1)
    ev.run_cycle()
    assert states(pipeline) == {"Mtskheta-ATM": "resolved"}

    exporter.set_up(atm, False)
    victoriametrics.wait_value('wardops_device_up{device="Mtskheta-ATM"}', 0)
    ev.run_cycle()
    exporter.close()                      # the scrape target goes down: VM says up == 0
    victoriametrics.wait_value('up{job="wardops-exporter"}', 0)
    ev.run_cycle()
    assert states(pipeline) == {"Mtskheta-ATM": "firing", "exporter_down": "firing"}
    victoriametrics.stop()
    ev.run_cycle()
    assert states(pipeline) == {"Mtskheta-ATM": "firing", "exporter_down": "firing",
                                "datasource_unreachable": "firing"}


def test_group_interval_is_honoured(prometheus: TSDB, exporter: FakeExporter,
                                    tmp_path: Path) -> None:
    exporter.add("Kutaisi-ATM", site="Kutaisi", up=False)
    rules = down_rule().replace("- name: devices", "- name: devices\n        interval: 10s")
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, rules), pipeline)
    t0 = time.time()
    assert [g.name for g in ev.due_groups(t0)] == ["devices"]
    ev.run_cycle(t0)
    assert ev.due_groups(t0 + 9.9) == []
    assert [g.name for g in ev.due_groups(t0 + 10)] == ["devices"]


def test_failed_state_write_is_alerted_and_repaired(prometheus: TSDB, exporter: FakeExporter,
                                                    tmp_path: Path) -> None:
    import sqlite3

    from alerter.state import StateStore

    exporter.add("Ozurgeti-ATM", site="Ozurgeti", up=False)
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, down_rule()), pipeline)
    prometheus.wait_value('wardops_device_up{device="Ozurgeti-ATM"}', 0)

    # The disk fails for one cycle (fault injected: a full disk cannot be made here).
    def failing_save(*args: object, **kwargs: object) -> list[int]:
        raise sqlite3.OperationalError("database or disk is full")
    real_save = ev.store.save_cycle
    ev.store.save_cycle = failing_save  # type: ignore[method-assign]
    ev.run_cycle()
    ev.store.save_cycle = real_save  # type: ignore[method-assign]
    assert states(pipeline) == {"Ozurgeti-ATM": "firing"}       # evaluation goes on
    assert ev.registry.get_sample_value("wardops_alerter_state_errors_total",
                                        {"op": "save"}) == 1
    # next cycle: the alarm fires, and the whole state is written again (save_snapshot),
    # since the failed cycle's changes were lost
    ev.run_cycle()
    assert states(pipeline) == {"Ozurgeti-ATM": "firing", "state_write_failed": "firing"}
    ev.run_cycle()
    assert states(pipeline) == {"Ozurgeti-ATM": "firing", "state_write_failed": "resolved"}
    active, outbox = StateStore(tmp_path / "state").load()
    assert [a2.labels["device"] for alerts in active.values() for a2 in alerts.values()] == \
        ["Ozurgeti-ATM"]
    assert outbox == []


def _pretend_down(state_dir: Path, ran_for: float, down_for: float) -> None:
    """Shift the stored state as if the alerter started ``ran_for + down_for`` seconds ago
    and last evaluated ``down_for`` seconds ago (what a real outage leaves on disk)."""
    import sqlite3
    with sqlite3.connect(state_dir / "alerts.sqlite") as db:
        db.execute("UPDATE alerts SET active_at = active_at - ?", (ran_for + down_for,))
        db.execute("UPDATE meta SET value = ? WHERE key = 'last_evaluation'",
                   (repr(time.time() - down_for),))


@pytest.mark.parametrize(("down_for", "state_after_restart"), [
    (1800.0, "firing"),    # 30 min down, tolerance 1h: the `for` progress is kept
    (7200.0, "pending"),   # 2 h down: the history is unknown, `for` restarts now
])
def test_for_outage_tolerance(prometheus: TSDB, exporter: FakeExporter, tmp_path: Path,
                              down_for: float, state_after_restart: str) -> None:
    exporter.add("Zugdidi-ATM", site="Zugdidi", up=False)
    config = write_config(tmp_path, prometheus.url, down_rule(hold="10m"),
                          extra="for_outage_tolerance: 1h\n")
    prometheus.wait_value('count(wardops_device_up == 0)', 1)
    first = make_evaluator(config, RecordingPipeline())
    first.run_cycle()
    assert [a.state for a in first.alerts()] == ["pending"]
    first.close()
    first.store.close()
    _pretend_down(tmp_path / "state", ran_for=1200.0, down_for=down_for)

    restarted_at = time.time()
    pipeline = RecordingPipeline()
    ev = make_evaluator(config, pipeline)
    ev.run_cycle()
    [alert] = ev.alerts()
    assert alert.state == state_after_restart
    if state_after_restart == "pending":
        assert alert.starts_at >= restarted_at            # `for` counts from the restart
        assert pipeline.batches[-1] == []
    else:
        assert [a.labels["device"] for a in pipeline.batches[-1]] == ["Zugdidi-ATM"]


STALE_RULES = """\
    groups:
      - name: devices
        rules:
          - alert: ProbeStale
            expr: time() - wardops_device_last_probe_timestamp_seconds > 4
            labels: {severity: warning}
          - alert: DeviceDown
            expr: wardops_device_up == 0
            labels: {severity: critical}
    """


def test_prometheus_restart_gap_gives_no_probe_stale_storm(
        prometheus: TSDB, exporter: FakeExporter, tmp_path: Path) -> None:
    """Prometheus stopped for longer than the staleness limit, then started again: until it
    has scraped the exporter again it answers with the samples from before the gap, whose
    probe timestamps are old. Nothing may fire from them, MonitoringDegraded stays firing
    until that fresh scrape, and then everything is quiet again."""
    exporter.add("Poti-ATM", site="Poti")
    exporter.add("Poti-Router", site="Poti")
    pipeline = RecordingPipeline()
    ev = make_evaluator(write_config(tmp_path, prometheus.url, STALE_RULES), pipeline)
    prometheus.wait_value('count(wardops_device_up == 1)', 2)
    ev.run_cycle()
    assert states(pipeline) == {}

    prometheus.stop()
    gap_until = time.monotonic() + 6        # longer than ProbeStale's 4 s
    while time.monotonic() < gap_until:
        ev.run_cycle()
        assert states(pipeline) == {"datasource_unreachable": "firing"}
        time.sleep(0.5)
    prometheus.start()
    seen: list[dict[str, object]] = []
    # cycle as fast as possible from the moment it answers, through its first scrapes
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        ev.run_cycle()
        seen.append(states(pipeline))
        time.sleep(0.1)
    fired = [s for s in seen if set(s) - {"datasource_unreachable"}]
    assert fired == [], fired[:3]
    # it waited for a fresh scrape (a scrape lands within 1 s of the start), then trusted
    assert seen[0] == {"datasource_unreachable": "firing"}, seen[:3]
    trusted = seen.index({"datasource_unreachable": "resolved"})
    assert all(s == {} for s in seen[trusted + 1:]), seen[trusted:]
    summaries = [a.annotations["summary"] for batch in pipeline.batches for a in batch
                 if a.name == "MonitoringDegraded" and a.state == "firing"]
    assert "now answering again, but waiting for a scrape of the exporter" in summaries[-1]
