"""The whole alerter process, end to end: real Prometheus → alerter → real webhook receiver.

No stand-ins: the real CLI, evaluation, state, notification pipeline, API (cheroot) and
an HTTP receiver on loopback. Checks what a person on call would see: one firing
notification, a MonitoringDegraded while Prometheus is gone (and no resolve), no
duplicate after kill -9, and the resolve of an alert that cleared while the alerter was
down, delivered once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.alerter.harness import TSDB, FakeExporter, write_config
from tests.notify.receiver import Receiver
from tests.support import Proc, free_port, python_env, wait_for, wait_http

RULES = """\
    groups:
      - name: devices
        rules:
          - alert: DeviceDown
            expr: wardops_device_up == 0
            labels: {severity: critical}
            annotations:
              summary: '{{ $labels.device }} at {{ $labels.site }} is DOWN'
    """


def notify_config(url: str) -> str:
    return f"""\
        route:
          receiver: hook
          group_by: [alertname, device, cause]
          group_wait: 0s
          group_interval: 1s
          repeat_interval: 1h
        receivers:
          - name: hook
            webhook_configs:
              - url: {url}
                send_resolved: true
        """


def sent(receiver: Receiver) -> list[tuple[str, str, str]]:
    """(status, alertname, device or cause) of every alert in every delivered payload."""
    return [(a["status"], a["labels"]["alertname"],
             a["labels"].get("device") or a["labels"].get("cause", ""))
            for body in receiver.bodies() for a in body["alerts"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.down()


class Running:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: Proc | None = None
        self.url = ""

    def start(self) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc = Proc([sys.executable, "-m", "alerter", "--config", str(self.config),
                          "--web.listen-address", self.url.removeprefix("http://")],
                         log=self.log, env=python_env())
        wait_http(self.url + "/-/ready", timeout=30)

    def stop(self, kill: bool = False) -> None:
        if self.proc is not None:
            if not kill:
                self.proc.signal(signal.SIGTERM)
            self.proc.stop(kill=kill)
            self.proc = None


@pytest.fixture
def alerter(prometheus: TSDB, receiver: Receiver, tmp_path: Path) -> Iterator[Running]:
    config = write_config(tmp_path, prometheus.url, RULES, notify_config(receiver.url))
    running = Running(config, tmp_path / "alerter.log")
    yield running
    running.stop(kill=True)


def test_end_to_end(prometheus: TSDB, exporter: FakeExporter, receiver: Receiver,
                    alerter: Running) -> None:
    atm = exporter.add("Kharagauli-ATM", site="Kharagauli", up=False)
    router = exporter.add("Kharagauli-Router", site="Kharagauli")
    prometheus.wait_value('wardops_device_up{device="Kharagauli-ATM"}', 0)
    alerter.start()
    receiver.wait(1)
    assert sent(receiver) == [("firing", "DeviceDown", "Kharagauli-ATM")]
    [alert] = receiver.bodies()[0]["alerts"]
    assert alert["annotations"]["summary"] == "Kharagauli-ATM at Kharagauli is DOWN"

    # /metrics shows the alert like Prometheus's ALERTS, and the evaluation counters
    def alerts_series() -> str | None:
        text = requests.get(alerter.url + "/metrics", timeout=5).text
        return text if 'wardops_alerts{' in text else None
    text = wait_for(alerts_series, what="wardops_alerts on /metrics")
    assert 'alertname="DeviceDown"' in text and 'alertstate="firing"' in text
    assert "wardops_alerter_rule_group_evaluations_total{group=\"devices\"}" in text

    # Prometheus goes away and the device recovers meanwhile: no resolve, one alarm
    prometheus.stop()
    exporter.set_up(atm, True)
    receiver.wait(2)
    time.sleep(2)
    assert sent(receiver) == [("firing", "DeviceDown", "Kharagauli-ATM"),
                              ("firing", "MonitoringDegraded", "datasource_unreachable")]

    # kill -9 while Prometheus is still gone; another device goes down meanwhile
    alerter.stop(kill=True)
    exporter.set_up(router, False)
    prometheus.start()
    prometheus.wait_value('wardops_device_up{device="Kharagauli-Router"}', 0)
    prometheus.wait_value('wardops_device_up{device="Kharagauli-ATM"}', 1)
    alerter.start()
    receiver.wait(5)
    time.sleep(3)   # several more cycles: nothing is sent twice
    assert sorted(sent(receiver)[2:]) == [
        ("firing", "DeviceDown", "Kharagauli-Router"),
        ("resolved", "DeviceDown", "Kharagauli-ATM"),
        ("resolved", "MonitoringDegraded", "datasource_unreachable")]
    assert len(sent(receiver)) == 5


def test_test_receiver_cli(receiver: Receiver, tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", RULES, notify_config(receiver.url))

    def run(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "alerter", "test-receiver", str(config),
                               name], check=False, capture_output=True, text=True, env=python_env(),
                              timeout=60)

    ok = run("hook")
    assert (ok.returncode, ok.stdout) == \
        (0, "test-receiver: hook: delivered (alertmanager #0: ok)\n")
    [body] = receiver.bodies()
    assert body["alerts"][0]["labels"]["alertname"] == "WardopsTestNotification"

    unknown = run("nobody")
    assert (unknown.returncode, unknown.stderr) == \
        (2, f"test-receiver: {config}: receivers: no receiver named 'nobody'\n")

    receiver.down()
    failed = run("hook")
    assert failed.returncode == 1
    assert failed.stderr.startswith("test-receiver: hook: delivery failed: alertmanager #0: ")
    assert receiver.url not in failed.stderr


def test_unreachable_datasource_is_notified_even_without_rules(receiver: Receiver,
                                                               tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = write_config(tmp_path, dead, "groups: []\n", notify_config(receiver.url))
    running = Running(config, tmp_path / "alerter.log")
    running.start()
    try:
        receiver.wait(1)
        [alert] = receiver.bodies()[0]["alerts"]
        assert (alert["labels"]["alertname"], alert["labels"]["cause"]) == \
            ("MonitoringDegraded", "datasource_unreachable")
        assert dead in alert["annotations"]["summary"]
    finally:
        running.stop()


def test_http_reload(prometheus: TSDB, exporter: FakeExporter, receiver: Receiver,
                     tmp_path: Path) -> None:
    exporter.add("Gori-ATM", site="Gori", up=False)
    config = write_config(tmp_path, prometheus.url, RULES, notify_config(receiver.url)
                          + "api: {bearer_token_file: token}\n")
    (tmp_path / "token").write_text("t0ken\n")
    running = Running(config, tmp_path / "alerter.log")
    prometheus.wait_value('wardops_device_up{device="Gori-ATM"}', 0)
    running.start()
    auth = {"Authorization": "Bearer t0ken"}
    try:
        receiver.wait(1)
        good = config.read_text()
        config.write_text(good.replace("evaluation_interval: 1s", "evaluation_interval: soon"))
        resp = requests.post(running.url + "/-/reload", headers=auth, timeout=10)
        assert resp.status_code == 400
        assert resp.json()["error"] == (
            f"reload failed, running config kept: {config}: evaluation_interval: invalid "
            "duration 'soon' (use e.g. 500ms, 30s, 5m, 1h30m)")
        metrics = requests.get(running.url + "/metrics", timeout=10).text
        assert "wardops_alerter_config_last_reload_successful 0.0" in metrics

        config.write_text(good)
        rule_file = tmp_path / "rules" / "test.yml"
        rule_file.write_text(rule_file.read_text().replace("critical", "warning"))
        resp = requests.post(running.url + "/-/reload", headers=auth, timeout=10)
        assert resp.status_code == 200, resp.text
        # the relabelled alert is a new alert; the old one resolves (same group: one payload)
        wait_for(lambda: len(sent(receiver)) >= 3, what="new and resolved alert")
        assert sorted((a["status"], a["labels"]["severity"])
                      for b in receiver.bodies() for a in b["alerts"]) == \
            [("firing", "critical"), ("firing", "warning"), ("resolved", "critical")]
        metrics = requests.get(running.url + "/metrics", timeout=10).text
        assert "wardops_alerter_config_last_reload_successful 1.0" in metrics
    finally:
        running.stop()


@pytest.mark.parametrize("kill", [True, False], ids=["kill -9", "SIGTERM"])
def test_resolve_waiting_for_its_group_survives_a_restart(
        prometheus: TSDB, exporter: FakeExporter, receiver: Receiver, tmp_path: Path,
        kill: bool) -> None:
    """The resolve was decided and handed to the pipeline, but waits in its group for the
    next flush (group_interval 1h here): the alerter stops in that window. The old alerter
    had already dropped it from its outbox, and the receiver kept a firing DeviceDown for
    a device that was up. Now it is delivered after the restart, once."""
    atm = exporter.add("Zugdidi-ATM", site="Zugdidi", up=False)
    slow_groups = notify_config(receiver.url).replace("group_interval: 1s",
                                                      "group_interval: 1h")
    config = write_config(tmp_path, prometheus.url, RULES, slow_groups)
    running = Running(config, tmp_path / "alerter.log")
    prometheus.wait_value('wardops_device_up{device="Zugdidi-ATM"}', 0)
    running.start()
    try:
        receiver.wait(1)
        exporter.set_up(atm, True)

        def resolved_in_alerter() -> bool:
            alerts = requests.get(running.url + "/api/v1/alerts", timeout=5).json()
            return not alerts["data"]["alerts"]
        wait_for(resolved_in_alerter, what="DeviceDown resolved by the evaluator")
        time.sleep(2)  # several cycles: the resolve has been handed over
        assert sent(receiver) == [("firing", "DeviceDown", "Zugdidi-ATM")], \
            "the resolve waits for the group's next flush"
        running.stop(kill=kill)
        running.start()
        receiver.wait(2)
        time.sleep(3)
        assert sent(receiver) == [("firing", "DeviceDown", "Zugdidi-ATM"),
                                  ("resolved", "DeviceDown", "Zugdidi-ATM")]
    finally:
        running.stop(kill=True)


def test_full_state_disk_still_notifies_and_says_why(
        prometheus: TSDB, exporter: FakeExporter, receiver: Receiver, tmp_path: Path) -> None:
    """The state directory fills up (a real tmpfs, full to the last byte): the old alerter
    delivered nothing at all, not even MonitoringDegraded. Now the outage and the storage
    problem are both delivered (from memory), counted, and /-/healthy says why; with
    space back it recovers and the resolve arrives."""
    from tests.support.diskfull import OnSmallDisk
    atm = exporter.add("Poti-ATM", site="Poti")
    state = tmp_path / "state"  # write_config's state_dir
    config = write_config(tmp_path, prometheus.url, RULES, notify_config(receiver.url))
    url = f"http://127.0.0.1:{free_port()}"
    prometheus.wait_value('wardops_device_up{device="Poti-ATM"}', 1)
    alerter = OnSmallDisk(state, [sys.executable, "-m", "alerter", "--config", str(config),
                                  "--web.listen-address", url.removeprefix("http://")],
                          log=tmp_path / "alerter.log")
    try:
        wait_http(url + "/-/ready", timeout=30)
        alerter.fill()
        exporter.set_up(atm, False)
        wait_for(lambda: {("firing", "DeviceDown", "Poti-ATM"),
                          ("firing", "MonitoringDegraded", "state_write_failed")}
                 <= set(sent(receiver)), timeout=30,
                 what=f"DeviceDown and MonitoringDegraded despite the full disk "
                      f"(got {sent(receiver)})")
        health = requests.get(url + "/-/healthy", timeout=5)
        assert health.status_code == 503, "reported for 30 s after the last failed write"
        assert "cannot be written" in health.text and "full" in health.text
        metrics = requests.get(url + "/metrics", timeout=5).text
        assert 'wardops_alerter_notify_storage_errors_total{op="queue"} 0.0' not in metrics
        assert 'wardops_alerter_notify_storage_errors_total{op="queue"}' in metrics

        alerter.free()
        exporter.set_up(atm, True)
        wait_for(lambda: ("resolved", "DeviceDown", "Poti-ATM") in sent(receiver),
                 timeout=30, what=f"the resolve once space is back (got {sent(receiver)})")
        wait_for(lambda: requests.get(url + "/-/healthy", timeout=5).status_code == 200,
                 timeout=60, what="/-/healthy 200 again (30 s without a failed write)")
        firing = [s for s in sent(receiver) if s == ("firing", "DeviceDown", "Poti-ATM")]
        assert len(firing) == 1, sent(receiver)
    finally:
        alerter.stop()
