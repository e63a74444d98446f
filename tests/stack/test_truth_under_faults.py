"""Truth under faults, for real: unknown never resolves, lost history neither resolves nor
re-fires.

Inside the test's network namespace: an exporter probes five loopback devices every
second, a real Prometheus scrapes it every second, the alerter evaluates the default
rules (rules/wardops.yml) with their windows shortened (10m → 20s, 5m → 30s, 2m → 10s,
so the tests wait seconds where production waits minutes) and notifies the demo sink.

- Exporter restarted without its state file while a device and a whole site are down
  and cannot be probed (blackhole routes): wardops_device_up is absent (unknown). On
  the old alerter DeviceDown and SiteDown resolved once the rules' last_over_time window
  had passed; here they stay firing, also across a kill -9 of the alerter, until the
  devices are seen up.
- Prometheus restarted with an empty TSDB while a device keeps flapping: on the old
  alerter the receiver got "resolved DeviceFlapping", "firing DeviceDown", "resolved
  DeviceDown", "firing DeviceFlapping". Here DeviceFlapping is held (MonitoringDegraded
  cause=history_lost says why), DeviceDown stays inhibited by it, and it resolves once,
  after the flapping stops.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from stackparts import Prometheus, WebhookSink, prometheus_config
from tests.snmp.agent import ip
from tests.support import REPO, Proc, free_port, wait_for, wait_http
from tests.support.nft import Firewall

DEVICES = {"Kazbegi-Router": "127.41.1.1", "Kazbegi-ATM": "127.41.1.2",
           "Mestia-Router": "127.41.2.1", "Mestia-ATM": "127.41.2.2",
           "Ozurgeti-Router": "127.41.3.1"}
SITES = {name: name.split("-")[0] for name in DEVICES}
WINDOWS = {"[10m]": "[20s]", "[5m]": "[30s]", "[2m]": "[10s]"}
DETECT = 30.0


def fast_alerting_rules(dest: Path) -> Path:
    """rules/wardops.yml with its windows shortened; names, labels and logic unchanged."""
    dest.mkdir(parents=True, exist_ok=True)
    text = (REPO / "rules" / "wardops.yml").read_text()
    for long, short in WINDOWS.items():
        text = text.replace(long, short)
    (dest / "wardops.yml").write_text(text)
    return dest


class Stack:
    """Exporter, Prometheus, alerter and sink, each restartable the way the tests need."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.firewall = Firewall()
        self.sink = WebhookSink(workdir / "sink")
        self.inventory = workdir / "devices.yml"
        self.inventory.write_text(yaml.safe_dump({
            "probe": {"interval": "1s", "timeout": "500ms", "count": 1,
                      "down_after": 1, "up_after": 1},
            "sites": {site: {"labels": {"region": "Mountains"}} for site in set(SITES.values())},
            "devices": [{"name": n, "address": a, "site": SITES[n], "type": n.split("-")[1].lower()}
                        for n, a in DEVICES.items()]}))
        self.exporter_port = free_port()
        self.alerter_port = free_port()
        self.exporter = self.start_exporter()
        self.prom_dir = workdir / "prometheus"
        empty = workdir / "no-recording-rules"
        empty.mkdir()
        self.prom_config = prometheus_config(scrape_interval="1s",
                                             exporter=f"127.0.0.1:{self.exporter_port}",
                                             alerter=f"127.0.0.1:{self.alerter_port}",
                                             rule_dir=empty)
        self.prom = Prometheus(self.prom_dir, self.prom_config)
        wait_for(lambda: self.prom.query('up{job="wardops-exporter"} == 1'), timeout=30,
                 what="Prometheus scraping the exporter")
        self.alerter_config = workdir / "alerter.yml"
        self.alerter_config.write_text(yaml.safe_dump({
            "prometheus": {"url": self.prom.url, "timeout": "2s"},
            "evaluation_interval": "1s",
            "rule_files": [str(fast_alerting_rules(workdir / "rules") / "*.yml")],
            "state_dir": str(workdir / "alerter-state"),
            "external_url": f"http://127.0.0.1:{self.alerter_port}",
            "route": {"receiver": "sink", "group_by": ["alertname", "site", "device"],
                      "group_wait": "2s", "group_interval": "1s", "repeat_interval": "1h"},
            "inhibit_rules": [
                {"source_matchers": ['alertname="SiteDown"'],
                 "target_matchers": ['alertname=~"DeviceDown|DeviceFlapping"'],
                 "equal": ["site"]},
                {"source_matchers": ['alertname="DeviceFlapping"'],
                 "target_matchers": ['alertname="DeviceDown"'],
                 "equal": ["device", "address"]}],
            "receivers": [{"name": "sink", "webhook_configs": [
                {"url": f"{self.sink.url}/truth", "send_resolved": True}]}],
        }, sort_keys=False))
        self.alerter = self.start_alerter()

    def start_exporter(self) -> Proc:
        proc = Proc.python("exporter", "--config", str(self.inventory), "--web.listen-address",
                           f"127.0.0.1:{self.exporter_port}", "--state-file",
                           str(self.workdir / "exporter-state.json"),
                           log=self.workdir / "exporter.log")
        wait_http(f"http://127.0.0.1:{self.exporter_port}/-/ready", timeout=30)
        return proc

    def start_alerter(self) -> Proc:
        proc = Proc.python("alerter", "--config", str(self.alerter_config),
                           "--web.listen-address", f"127.0.0.1:{self.alerter_port}",
                           log=self.workdir / "alerter.log")
        wait_http(f"http://127.0.0.1:{self.alerter_port}/-/ready", timeout=30)
        return proc

    def restart_prometheus_empty(self) -> None:
        """Prometheus comes back on the same port with no history at all."""
        self.prom.stop()
        shutil.rmtree(self.prom_dir / "data")
        self.prom = Prometheus(self.prom_dir, self.prom_config, port=self.prom.port)

    def stop(self) -> None:
        for part in (self.alerter, self.prom, self.exporter, self.sink):
            part.stop()
        self.firewall.close()

    # ------------------------------------------------------------ what the tests ask

    def notified(self, alertname: str, status: str | None = None, **labels: str) -> list[float]:
        return self.sink.notified(alertname, status, **labels)

    def wait_notified(self, alertname: str, status: str, **labels: str) -> None:
        wait_for(lambda: self.notified(alertname, status, **labels), timeout=DETECT,
                 what=f"{status} {alertname} {labels} at the sink (got: {self.summary()})")

    def summary(self) -> list[str]:
        return self.sink.summary()

    def active(self, alertname: str) -> list[dict[str, str]]:
        """Labels of the alerter's firing alerts of ``alertname`` (its API)."""
        alerts = requests.get(f"http://127.0.0.1:{self.alerter_port}/api/v1/alerts",
                              timeout=5).json()["data"]["alerts"]
        return [a["labels"] for a in alerts
                if a["labels"]["alertname"] == alertname and a["state"] == "firing"]

    def held(self, reason: str) -> float:
        text = requests.get(f"http://127.0.0.1:{self.alerter_port}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(f'wardops_alerter_alerts_held{{reason="{reason}"}}'):
                return float(line.split()[-1])
        raise AssertionError("wardops_alerter_alerts_held is not served")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.environ.get("WARDOPS_NETNS") != "1":
        pytest.skip("needs a private network namespace: run via scripts/test")
    running = Stack(tmp_path_factory.mktemp("truth"))
    try:
        yield running
    finally:
        running.stop()


def test_unknown_never_resolves_device_down_or_site_down(netns: None, stack: Stack) -> None:
    device, site = "Ozurgeti-Router", "Mestia"
    members = [n for n, s in SITES.items() if s == site]
    dark = [DEVICES[device], *(DEVICES[n] for n in members)]
    stack.firewall.drop(*dark)
    stack.wait_notified("DeviceDown", "firing", device=device)
    stack.wait_notified("SiteDown", "firing", site=site)

    # The exporter forgets everything, and can no longer probe them: unknown, not up.
    stack.exporter.stop()
    (stack.workdir / "exporter-state.json").unlink()
    routes = [["blackhole", address, "table", "local"] for address in dark]
    for route in routes:
        ip("route", "add", *route)
    try:
        stack.exporter = stack.start_exporter()
        wait_for(lambda: stack.prom.query(
            f'wardops_device_probe_failing{{device="{device}", reason="unreachable"}}'),
            timeout=DETECT, what=f"{device}'s probes failing in Prometheus")
        assert not stack.prom.query(f'wardops_device_up{{device="{device}"}}')
        # Well past the rules' 20 s last_over_time window (the old alerter resolved here),
        # with a kill -9 of the alerter in the middle: the alerts stay firing.
        time.sleep(15)
        stack.alerter.stop(kill=True)
        stack.alerter = stack.start_alerter()
        time.sleep(20)
        assert not stack.prom.query(
            f'last_over_time(wardops_device_up{{device="{device}"}}[20s])'), \
            "the window has passed: only the alerter's hold keeps the alert"
        assert not stack.notified("DeviceDown", "resolved", device=device), stack.summary()
        assert not stack.notified("SiteDown", "resolved", site=site), stack.summary()
        assert sorted(a["device"] for a in stack.active("DeviceDown")) == \
            sorted([device, *members])
        assert [a["site"] for a in stack.active("SiteDown")] == [site]
        assert stack.held("no_evidence") == len(members) + 2
    finally:
        for route in routes:
            ip("route", "del", *route)
    # Seen up again: each resolves, once.
    stack.firewall.restore(*dark)
    stack.wait_notified("DeviceDown", "resolved", device=device)
    stack.wait_notified("SiteDown", "resolved", site=site)
    time.sleep(3)
    assert len(stack.notified("DeviceDown", "firing", device=device)) == 1, stack.summary()
    assert len(stack.notified("DeviceDown", "resolved", device=device)) == 1, stack.summary()
    assert len(stack.notified("SiteDown", "resolved", site=site)) == 1, stack.summary()
    assert not stack.notified("DeviceDown", site=site), "SiteDown inhibits its devices"


class Flapper:
    """Takes a device down and up every ``period`` seconds until stopped."""

    def __init__(self, firewall: Firewall, address: str, period: float) -> None:
        self.firewall, self.address, self.period = firewall, address, period
        self._stop = threading.Event()
        self._down = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            if self._down:
                self.firewall.restore(self.address)
            else:
                self.firewall.drop(self.address)
            self._down = not self._down

    def stop(self) -> None:
        """Stop flapping with the device up."""
        self._stop.set()
        self._thread.join()
        if self._down:
            self.firewall.restore(self.address)


def test_lost_history_neither_resolves_nor_refires(netns: None, stack: Stack) -> None:
    device = "Kazbegi-ATM"
    flapper = Flapper(stack.firewall, DEVICES[device], period=3.0)
    try:
        stack.wait_notified("DeviceFlapping", "firing", device=device)
        before = len(stack.notified("DeviceDown", device=device))
        stack.restart_prometheus_empty()
        wait_for(lambda: stack.prom.query('up{job="wardops-exporter"} == 1'), timeout=30,
                 what="the new Prometheus scraping the exporter")
        # The alerter says it cannot see the history it would need to resolve.
        wait_for(lambda: [a for a in stack.active("MonitoringDegraded")
                          if a.get("cause") == "history_lost"],
                 timeout=DETECT, what="MonitoringDegraded cause=history_lost")
        time.sleep(35)  # past the 30 s lookback: the history is whole again
        assert not stack.notified("DeviceFlapping", "resolved", device=device), stack.summary()
        assert len(stack.notified("DeviceFlapping", "firing", device=device)) == 1, \
            stack.summary()
        assert len(stack.notified("DeviceDown", device=device)) == before, stack.summary()
    finally:
        flapper.stop()
    # Steady again: DeviceFlapping resolves once its window has no changes.
    stack.wait_notified("DeviceFlapping", "resolved", device=device)
    wait_for(lambda: not [a for a in stack.active("MonitoringDegraded")
                          if a.get("cause") == "history_lost"],
             timeout=DETECT, what="MonitoringDegraded history_lost over")
    time.sleep(3)
    assert len(stack.notified("DeviceFlapping", "resolved", device=device)) == 1, stack.summary()
