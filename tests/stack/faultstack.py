"""A small real stack for fault tests: exporter shard(s), Prometheus, the alerter with
the default rules (windows shortened: stackparts.fast_alerting_rules) and the demo sink,
each restartable the way the tests need (kill -9, restart without state, Prometheus
restarted with an empty TSDB)."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import requests
import yaml
from stackparts import Prometheus, WebhookSink, fast_alerting_rules, prometheus_config

from tests.support import Proc, free_port, python_env, wait_for, wait_http
from tests.support.diskfull import SmallDisk
from tests.support.flakyreceiver import FlakyReceiver
from tests.support.nft import Firewall

DETECT = 30.0


class Stack:
    """Exporter shard(s), Prometheus, alerter and sink, each restartable."""

    def __init__(self, workdir: Path, devices: dict[str, str], shards: int = 1,
                 group_interval: str = "1s", small_disk: bool = False,
                 entries: dict[str, dict[str, object]] | None = None,
                 routes: list[dict[str, object]] | None = None,
                 inhibit_rules: list[dict[str, object]] | None = None,
                 rule_files: tuple[str, ...] = ("wardops.yml",),
                 exporter_env: dict[str, str] | None = None) -> None:
        """``devices``: name → loopback address; the name's part before "-" is its site,
        the part after it its type. ``group_interval``: how long a group's later changes
        (a resolve) wait for its next flush — the window in which a stop used to lose
        them. ``entries``: more inventory keys of some devices (e.g. ``parent``);
        ``routes``, ``inhibit_rules``: more of the alerter's (receiver ``none`` drops);
        ``rule_files``: which of rules/*.yml the alerter evaluates; ``exporter_env``: more
        environment of the exporter (e.g. an SNMP community)."""
        self.workdir = workdir
        self.devices = devices
        self.sites = {name: name.split("-")[0] for name in devices}
        self.firewall = Firewall()
        self.sink = WebhookSink(workdir / "sink")
        # the alerter posts through a proxy that can answer 429/500 or slowly on demand
        self.receiver = FlakyReceiver(self.sink.url)
        self.inventory = workdir / "devices.yml"
        self.entries = entries or {}
        self.exporter_env = exporter_env or {}
        self.write_inventory()
        self.shards = shards
        self.exporter_ports = [free_port() for _ in range(shards)]
        self.alerter_port = free_port()
        self.exporters = [self.start_exporter(k) for k in range(1, shards + 1)]
        self.prom_dir = workdir / "prometheus"
        empty = workdir / "no-recording-rules"
        empty.mkdir()
        self.prom_config = prometheus_config(scrape_interval="1s", exporter="x",
                                             alerter=f"127.0.0.1:{self.alerter_port}",
                                             rule_dir=empty)
        for job in self.prom_config["scrape_configs"]:
            if job["job_name"] == "wardops-exporter":
                job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"
                                                      for port in self.exporter_ports]}]
        self.prom = Prometheus(self.prom_dir, self.prom_config)
        wait_for(lambda: len(self.prom.query('up{job="wardops-exporter"} == 1')) == shards,
                 timeout=30, what="Prometheus scraping the exporter(s)")
        self.alerter_config = workdir / "alerter.yml"
        self.alerter_config.write_text(yaml.safe_dump({
            "prometheus": {"url": self.prom.url, "timeout": "2s"},
            "evaluation_interval": "1s",
            "rule_files": [str(fast_alerting_rules(workdir / "rules", rule_files) / "*.yml")],
            "state_dir": str(workdir / "alerter-state"),
            "external_url": f"http://127.0.0.1:{self.alerter_port}",
            "route": {"receiver": "sink", "group_by": ["alertname", "site", "device", "cause",
                                                       "instance"],
                      "group_wait": "2s", "group_interval": group_interval,
                      "repeat_interval": "1h", "routes": routes or []},
            "inhibit_rules": [
                {"source_matchers": ['alertname="SiteDown"'],
                 "target_matchers": ['alertname=~"DeviceDown|DeviceFlapping"'],
                 "equal": ["site"]},
                {"source_matchers": ['alertname="DeviceFlapping"'],
                 "target_matchers": ['alertname="DeviceDown"'],
                 "equal": ["device", "address"]}, *(inhibit_rules or [])],
            "receivers": [{"name": "none"}, {"name": "sink", "webhook_configs": [
                {"url": f"{self.receiver.url}/faults", "send_resolved": True,
                 "timeout": "3s"}]}],
        }, sort_keys=False))
        # the alerter's state on a small tmpfs the chaos test fills (a full disk, for real)
        self.disk = SmallDisk(workdir / "alerter-state", workdir / "disk.log") \
            if small_disk else None
        self.alerter = self.start_alerter()

    def write_inventory(self, sites: dict[str, dict[str, object]] | None = None) -> None:
        """Write the inventory: the devices with their ``entries``; ``sites``: more keys
        of some sites (e.g. ``maintenance``)."""
        self.inventory.write_text(yaml.safe_dump({
            "probe": {"interval": "1s", "timeout": "500ms", "count": 1,
                      "down_after": 1, "up_after": 1},
            "sites": {site: {"labels": {"region": "Mountains"}, **(sites or {}).get(site, {})}
                      for site in sorted(set(self.sites.values()))},
            "devices": [{"name": n, "address": a, "site": self.sites[n],
                         "type": n.split("-")[1].lower(), **self.entries.get(n, {})}
                        for n, a in self.devices.items()]}))

    @property
    def exporter(self) -> Proc:
        """The first (or only) exporter."""
        return self.exporters[0]

    @exporter.setter
    def exporter(self, proc: Proc) -> None:
        self.exporters[0] = proc

    def start_exporter(self, shard: int = 1) -> Proc:
        """Start shard ``shard`` (1-based) with its own state file."""
        port = self.exporter_ports[shard - 1]
        args = ["--shard", f"{shard}/{self.shards}"] if self.shards > 1 else []
        proc = Proc.python("exporter", "--config", str(self.inventory), "--web.listen-address",
                           f"127.0.0.1:{port}", "--state-file",
                           str(self.state_file(shard)), *args,
                           log=self.workdir / f"exporter-{shard}.log",
                           env=python_env(**self.exporter_env))
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        return proc

    def state_file(self, shard: int = 1) -> Path:
        return self.workdir / ("exporter-state.json" if shard == 1
                               else f"exporter-state-{shard}.json")

    def start_alerter(self) -> Proc:
        args = [sys.executable, "-m", "alerter", "--config", str(self.alerter_config),
                "--web.listen-address", f"127.0.0.1:{self.alerter_port}"]
        proc = Proc(self.disk.command(args) if self.disk else args,
                    log=self.workdir / "alerter.log", env=python_env())
        wait_http(f"http://127.0.0.1:{self.alerter_port}/-/ready", timeout=30)
        return proc

    def restart_prometheus_empty(self) -> None:
        """Prometheus comes back on the same port with no history at all."""
        self.prom.stop()
        shutil.rmtree(self.prom_dir / "data")
        self.prom = Prometheus(self.prom_dir, self.prom_config, port=self.prom.port)

    def stop(self) -> None:
        for part in (self.alerter, self.prom, *self.exporters, self.sink):
            part.stop()
        self.receiver.stop()
        if self.disk is not None:
            self.disk.stop()
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
