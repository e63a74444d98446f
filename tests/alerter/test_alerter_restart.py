"""Restarts, graceful and kill -9, of the real alerter process against real Prometheus.

What reaches the notification pipeline is recorded by ``recording_alerter.py`` (the real
CLI and app with a recording pipeline). After a restart a firing alert keeps its
fingerprint and startsAt (it is not new), a pending alert keeps its ``for`` progress, and
an alert whose condition cleared while the alerter was down is resolved exactly once.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.alerter.harness import TSDB, FakeExporter, write_config
from tests.support import Proc, free_port, python_env, wait_for, wait_http

RULES = """\
    groups:
      - name: devices
        rules:
          - alert: DeviceDown
            expr: wardops_device_up{site="Tbilisi"} == 0
          - alert: SlowDown
            expr: wardops_device_up{site="Slow"} == 0
            for: 10s
    """
RECORDER = Path(__file__).with_name("recording_alerter.py")


class Alerter:
    def __init__(self, config: Path, record: Path, log: Path) -> None:
        self.config, self.record, self.log = config, record, log
        self.proc: Proc | None = None

    def start(self) -> float:
        started = time.time()
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc = Proc([sys.executable, str(RECORDER), "--config", str(self.config),
                          "--web.listen-address", self.url.removeprefix("http://")],
                         log=self.log, env=python_env(WARDOPS_RECORD=str(self.record)))
        return started

    def stop(self, kill: bool = False) -> None:
        assert self.proc is not None
        if not kill:
            self.proc.signal(signal.SIGTERM)
            self.proc.popen.wait(20)
        code = self.proc.stop(kill=kill)
        assert code == (-9 if kill else 0), self.proc.output()
        self.proc = None

    def batches(self, pid: int | None = None) -> list[list[dict]]:
        if not self.record.exists():
            return []
        lines = [json.loads(line) for line in self.record.read_text().splitlines()]
        return [line["alerts"] for line in lines if pid is None or line["pid"] == pid]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.popen.pid

    def wait_state(self, want: dict[str, str], timeout: float = 30) -> dict[str, dict]:
        """Wait for a batch of the current process whose devices have exactly these states."""
        def check() -> dict[str, dict] | None:
            for batch in self.batches(self.pid):
                got = {a["device"]: a for a in batch}
                if {d: a["state"] for d, a in got.items()} == want:
                    return got
            return None
        return wait_for(check, timeout=timeout, what=f"batch {want}; log: {self.log}")


@pytest.fixture
def alerter(prometheus: TSDB, tmp_path: Path) -> Iterator[Alerter]:
    proc = Alerter(write_config(tmp_path, prometheus.url, RULES), tmp_path / "record.jsonl",
                   tmp_path / "alerter.log")
    yield proc
    if proc.proc is not None:
        proc.proc.stop(kill=True)


def test_restart_and_kill9(prometheus: TSDB, exporter: FakeExporter, alerter: Alerter) -> None:
    a = exporter.add("A-ATM", site="Tbilisi", up=False)
    exporter.add("B-ATM", site="Tbilisi", up=False)
    c = exporter.add("C-ATM", site="Tbilisi")
    prometheus.wait_value('count(wardops_device_up{site="Tbilisi"} == 0)', 2)
    alerter.start()
    first = alerter.wait_state({"A-ATM": "firing", "B-ATM": "firing"})

    # kill -9, then the world changes while the alerter is dead
    alerter.stop(kill=True)
    exporter.set_up(a, True)
    exporter.set_up(c, False)
    prometheus.wait_value('wardops_device_up{device="A-ATM"}', 1)
    prometheus.wait_value('wardops_device_up{device="C-ATM"}', 0)
    alerter.start()
    after = alerter.wait_state({"A-ATM": "resolved", "B-ATM": "firing", "C-ATM": "firing"})
    assert after["B-ATM"]["starts_at"] == first["B-ATM"]["starts_at"]   # not re-announced
    assert after["B-ATM"]["fp"] == first["B-ATM"]["fp"]
    assert after["A-ATM"]["starts_at"] == first["A-ATM"]["starts_at"]
    assert after["A-ATM"]["ends_at"] > first["A-ATM"]["starts_at"]
    assert after["C-ATM"]["starts_at"] > first["B-ATM"]["starts_at"]
    time.sleep(2.5)  # a few more cycles: the resolve is handed over once
    states = [a2["state"] for b in alerter.batches(alerter.pid) for a2 in b
              if a2["device"] == "A-ATM"]
    assert states == ["resolved"]

    # graceful restart: still nothing new, and nothing lost
    alerter.stop()
    exporter.set_up(c, True)
    prometheus.wait_value('wardops_device_up{device="C-ATM"}', 1)
    alerter.start()
    again = alerter.wait_state({"B-ATM": "firing", "C-ATM": "resolved"})
    assert again["B-ATM"]["starts_at"] == first["B-ATM"]["starts_at"]
    alerter.stop()


def test_pending_keeps_for_progress_across_kill9(prometheus: TSDB, exporter: FakeExporter,
                                                 alerter: Alerter) -> None:
    exporter.add("Slow-ATM", site="Slow", up=False)
    prometheus.wait_value('count(wardops_device_up{site="Slow"} == 0)', 1)
    first_start = alerter.start()
    wait_for(lambda: alerter.batches(), what="first evaluation")   # pending now
    time.sleep(5)
    alerter.stop(kill=True)
    restart = alerter.start()
    fired = alerter.wait_state({"Slow-ATM": "firing"}, timeout=40)["Slow-ATM"]
    # `for: 10s` counted from the first sighting before the crash, not from the restart
    assert first_start + 10 <= fired["starts_at"] < restart + 9
    alerter.stop()


def test_sighup_reload_keeps_running_config_when_bad(prometheus: TSDB, exporter: FakeExporter,
                                                     alerter: Alerter) -> None:
    exporter.add("A-ATM", site="Tbilisi", up=False)
    exporter.add("Slow-ATM", site="Slow", up=False)
    prometheus.wait_value('count(wardops_device_up == 0)', 2)
    alerter.start()
    alerter.wait_state({"A-ATM": "firing"})
    wait_http(alerter.url + "/-/healthy")   # the API is served (cheroot) alongside
    rule_file = alerter.config.parent / "rules" / "test.yml"
    good = rule_file.read_text()

    rule_file.write_text(good.replace("for: 10s", "for: soon"))
    alerter.proc.signal(signal.SIGHUP)  # type: ignore[union-attr]
    wait_for(lambda: "reload failed" in alerter.log.read_text(), what="reload failure logged")
    assert "for: invalid duration 'soon'" in alerter.log.read_text()
    assert alerter.proc.alive()  # type: ignore[union-attr]
    mark = len(alerter.batches(alerter.pid))
    wait_for(lambda: len(alerter.batches(alerter.pid)) > mark + 2, what="evaluation goes on")
    assert {a["device"]: a["state"] for a in alerter.batches(alerter.pid)[-1]} == \
        {"A-ATM": "firing"}

    # hostile files (an alias bomb as the config, a rule file nested 100,000 deep) and an
    # empty config (a save caught half-way, which would resolve every alert as "rule
    # removed"): each refused at once, logged in one line, the alerter running on
    good_config = alerter.config.read_text()
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    for target, text, says in ((alerter.config, bomb, "aliases expand to more than"),
                               (rule_file, "groups: " + "[" * 100_000, "nesting depth"),
                               (alerter.config, "", "the new config has no rules")):
        target.write_text(text)
        failed = alerter.log.read_text().count("reload failed")
        alerter.proc.signal(signal.SIGHUP)  # type: ignore[union-attr]
        wait_for(lambda: alerter.log.read_text().count("reload failed") > failed, timeout=10,
                 what=f"the reload refused ({says})")
        assert says in alerter.log.read_text().splitlines()[-1]
        assert alerter.proc.alive()  # type: ignore[union-attr]
        alerter.config.write_text(good_config)
        rule_file.write_text(good)
    metrics = requests.get(alerter.url + "/metrics", timeout=5).text
    assert "wardops_alerter_config_last_reload_successful 0.0" in metrics
    mark = len(alerter.batches(alerter.pid))
    wait_for(lambda: len(alerter.batches(alerter.pid)) > mark + 2, what="evaluation goes on")
    assert {a["device"]: a["state"] for a in alerter.batches(alerter.pid)[-1]} == \
        {"A-ATM": "firing"}

    # a good file: SlowDown now fires at once, DeviceDown was removed and resolves
    rule_file.write_text(good.replace("for: 10s", "for: 0s").replace(
        "- alert: DeviceDown", "- alert: Renamed"))
    alerter.proc.signal(signal.SIGHUP)  # type: ignore[union-attr]
    got = alerter.wait_state({"A-ATM": "firing", "Slow-ATM": "firing"})
    assert got["A-ATM"]["name"] == "Renamed"
    resolved = [a for b in alerter.batches(alerter.pid) for a in b
                if a["name"] == "DeviceDown" and a["state"] == "resolved"]
    assert [a["device"] for a in resolved] == ["A-ATM"]
