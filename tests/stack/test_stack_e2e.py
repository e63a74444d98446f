"""End to end, for real: exporter → Prometheus → alerter → webhook, and the dashboards.

Inside the test's network namespace: the exporter probes ten loopback "devices" in four
sites every second (tests/stack/testdata/e2e-devices.yml), a real Prometheus scrapes it
and the alerter every second with the repository's prometheus.yml and recording rules,
the alerter evaluates the default rules (rules/*.yml) every second and notifies the demo
webhook sink, which records every request. nftables drops make devices time out.

The tests share one stack and run in file order; each uses its own site, so their
notifications do not mix.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from stackparts import (
    Prometheus,
    WebhookSink,
    dashboards,
    fast_recording_rules,
    label_values_query,
    panel_expr,
    panel_queries,
    prometheus_config,
    substitute,
    variable_queries,
)

from tests.snmp.agent import COMMUNITY, Snmpd, ip
from tests.support import REPO, Proc, free_port, python_env, wait_for, wait_http
from tests.support.nft import Firewall

INVENTORY = REPO / "tests" / "stack" / "testdata" / "e2e-devices.yml"
ADDRESSES = {d["name"]: d["address"] for d in yaml.safe_load(INVENTORY.read_text())["devices"]}
SNMP_DEVICE, SNMP_PORT = "Delta-Router", 1161  # as in the inventory
# veth pairs whose first ends are the router's ISP uplinks (aliases set over SNMP).
UPLINKS = {"e2e-magti": "Magti_Internet", "e2e-silknet": "Silknet_Internet"}
SITES = {name: name.split("-")[0] for name in ADDRESSES}
RECORDED = [rule["record"] for path in sorted((REPO / "rules" / "recording").glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]
# How long to keep watching after a notification, to catch a duplicate or a stray one:
# several evaluation (1 s) and group (1 s) intervals.
SETTLE = 5.0
DETECT = 30.0  # generous bound for a notification to arrive (the benchmark measures it)

# Panels that may have no data in this stack, and why. Every other panel must return data.
MAY_BE_EMPTY = {
    ("wardops-health", "Stale devices (list)"): "every device is probed every second",
    ("wardops-health", "Probes failing (list)"): "checked in the exporter-restart test",
    ("wardops-device", "Jitter"): "the chosen devices give no spread of replies (one is "
                                  "down); measured in tests/exporter/test_exporter_latency_lab.py",
}


class Stack:
    """The running stack and what the tests ask of it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.firewall = Firewall()
        self.snmpd = self.start_snmpd()
        self.sink = WebhookSink(workdir / "sink")
        self.exporter_port = free_port()
        self.alerter_port = free_port()
        self.exporter = self.start_exporter()
        rules = fast_recording_rules(workdir / "recording")
        self.prom = Prometheus(workdir / "prometheus", prometheus_config(
            scrape_interval="1s", exporter=f"127.0.0.1:{self.exporter_port}",
            alerter=f"127.0.0.1:{self.alerter_port}", rule_dir=rules))
        # The alerter starts once Prometheus has the exporter's data; before that it would
        # rightly raise MonitoringDegraded ("no series match up{job=...}").
        wait_for(lambda: self.prom.query('up{job="wardops-exporter"} == 1'), timeout=30,
                 what="Prometheus scraping the exporter")
        config = workdir / "alerter.yml"
        config.write_text(yaml.safe_dump(self.alerter_config(), sort_keys=False))
        self.alerter = Proc.python("alerter", "--config", str(config), "--web.listen-address",
                                   f"127.0.0.1:{self.alerter_port}",
                                   log=workdir / "alerter.log")
        wait_http(f"http://127.0.0.1:{self.alerter_port}/-/ready", timeout=30)

    def start_snmpd(self) -> Snmpd:
        """snmpd for Delta-Router, with its two ISP uplinks."""
        for name in UPLINKS:
            ip("link", "add", name, "type", "veth", "peer", "name", f"{name}-p")
            ip("link", "set", name, "up")
            ip("link", "set", f"{name}-p", "up")
        agent = Snmpd(self.workdir, address=ADDRESSES[SNMP_DEVICE], port=SNMP_PORT).start()
        for name, alias in UPLINKS.items():
            agent.set_alias(agent.ifindex(name), alias)
        return agent

    def start_exporter(self) -> Proc:
        proc = Proc.python("exporter", "--config", str(INVENTORY), "--web.listen-address",
                           f"127.0.0.1:{self.exporter_port}", "--state-file",
                           str(self.workdir / "exporter-state.json"),
                           log=self.workdir / "exporter.log",
                           env=python_env(WARDOPS_E2E_SNMP_COMMUNITY=COMMUNITY))
        wait_http(f"http://127.0.0.1:{self.exporter_port}/-/ready", timeout=30)
        return proc

    def alerter_config(self) -> dict:
        return {
            "prometheus": {"url": self.prom.url, "timeout": "2s"},
            "evaluation_interval": "1s",
            "rule_files": [str(REPO / "rules" / "*.yml")],
            "state_dir": str(self.workdir / "alerter-state"),
            "external_url": f"http://127.0.0.1:{self.alerter_port}",
            # group_wait longer than a probe interval: the devices of a site that goes
            # down stop answering within one interval, and SiteDown must be there to
            # inhibit their DeviceDown before the first notification goes out.
            "route": {"receiver": "sink", "group_by": ["alertname", "site"],
                      "group_wait": "3s", "group_interval": "1s", "repeat_interval": "1h"},
            "inhibit_rules": [{"source_matchers": ['alertname="SiteDown"'],
                               "target_matchers": ['alertname="DeviceDown"'],
                               "equal": ["site"]}],
            "receivers": [{"name": "sink", "webhook_configs": [
                {"url": f"{self.sink.url}/e2e", "send_resolved": True}]}],
        }

    def stop(self) -> None:
        for part in (self.alerter, self.prom, self.exporter, self.sink, self.snmpd):
            part.stop()
        self.firewall.close()
        for name in UPLINKS:
            subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)

    # ------------------------------------------------------------ what the tests ask

    def device_state(self, device: str) -> float | None:
        """wardops_device_up of ``device`` in Prometheus (None when absent)."""
        result = self.prom.query(f'wardops_device_up{{device="{device}"}}')
        return float(result[0]["value"][1]) if result else None

    def wait_device_state(self, device: str, value: float) -> None:
        wait_for(lambda: self.device_state(device) == value, timeout=DETECT,
                 what=f"{device} up=={value:g} in Prometheus")

    def notified(self, alertname: str, status: str | None = None, **labels: str
                 ) -> list[float]:
        """Receive times of the notifications carrying this alert (in this status)."""
        return self.sink.notified(alertname, status, **labels)

    def wait_notified(self, alertname: str, status: str, **labels: str) -> None:
        wait_for(lambda: self.notified(alertname, status, **labels), timeout=DETECT,
                 what=f"{status} {alertname} {labels} at the webhook "
                      f"(got so far: {self.summary()})")

    def summary(self) -> list[str]:
        """Every alert received, one short string each, for failure messages."""
        return self.sink.summary()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The module-wide stack must never start outside the private namespace: it drops
    # packets with nftables and probes 127.40.x.y.
    if os.environ.get("WARDOPS_NETNS") != "1":
        pytest.skip("needs a private network namespace: run via scripts/test")
    running = Stack(tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        running.stop()


def test_every_dashboard_panel_query_runs_and_shows_data(netns: None, stack: Stack) -> None:
    """(d) Every panel's query (variables filled) runs; the panels meant to show data do.

    Delta-PayBox is down, Delta-Router is up and answers SNMP, its Silknet uplink lost its
    carrier: each panel must show data for at least one of them (a down device has no
    RTT, an up one no "down for"), and the uplink panels show that one uplink down.
    """
    down = "Delta-PayBox"
    # Its round-trip time while it was up is part of what the device dashboard shows.
    wait_for(lambda: stack.prom.query(f'wardops_device_rtt_seconds{{device="{down}"}}'),
             timeout=DETECT, what=f"{down} RTT in Prometheus")
    wait_for(lambda: stack.prom.query(f'wardops_interface_oper_up{{device="{SNMP_DEVICE}",'
                                      ' isp="Magti"} == 1'),
             timeout=DETECT, what="the router's Magti uplink up over SNMP")
    stack.firewall.drop(ADDRESSES[down])
    ip("link", "set", "e2e-silknet-p", "down")  # the ISP's side goes away
    stack.wait_device_state(down, 0)
    wait_for(lambda: stack.prom.query('wardops_interface_oper_up{isp="Silknet"} == 0'),
             timeout=DETECT, what="the router's Silknet uplink down over SNMP")
    per_isp = {s["metric"]["isp"]: float(s["value"][1]) for s in stack.prom.query(
        panel_expr("wardops-fleet", "Uplinks down per ISP"))}
    no_uplink = stack.prom.query(panel_expr("wardops-fleet", "Sites with no uplink up"))
    ip("link", "set", "e2e-silknet-p", "up")
    assert per_isp == {"Magti": 0, "Silknet": 1}
    assert [float(s["value"][1]) for s in no_uplink] == [0], "Delta's Magti uplink is up"
    not_up = {s["metric"]["device"]: (float(s["value"][1]), s["metric"]["reason"])
              for s in stack.prom.query(panel_expr("wardops-fleet", "Not known to be up"))}
    assert not_up == {down: (0, "no reply (down)")}
    # Every recorded series appears once a few 5 s blocks are in (fast_recording_rules).
    for record in RECORDED:
        wait_for(lambda: stack.prom.query(record), timeout=30, what=f"{record} recorded")
    choices = [{"site": "Delta", "device": name, "address": ADDRESSES[name], "isp": "Magti"}
               for name in (down, SNMP_DEVICE)]
    for values in choices:
        for uid, name, query in variable_queries():
            if name == "isp":  # this stack probes no ISP paths; the paths dashboards are
                continue       # tried in tests/exporter/test_exporter_paths_dashboards.py
            selector, label = label_values_query(query)
            found = {s["metric"].get(label)
                     for s in stack.prom.query(substitute(selector, values))}
            assert values[name] in found, f"{uid}: variable {name} does not offer {values[name]}"
    now = time.time()
    empty, errors = [], []
    for q in panel_queries():
        results = []
        for values in choices:
            expr = substitute(q.expr, values)
            try:
                results.append(stack.prom.query(expr) if q.instant
                               else stack.prom.query_range(expr, now - 60, now, 1))
            except AssertionError as exc:
                errors.append(f"{q.dashboard} / {q.panel}: {exc}")
        if not any(results) and (q.dashboard, q.panel) not in MAY_BE_EMPTY \
                and "wardops_path_" not in q.expr:  # no paths here (see above)
            empty.append(f"{q.dashboard} / {q.panel} / {q.ref}: {q.expr}")
    stack.firewall.restore(ADDRESSES[down])
    assert not errors, "\n".join(errors)
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert set(dashboards()) == {"wardops-fleet", "wardops-site", "wardops-device",
                                 "wardops-availability", "wardops-health"}
    stack.wait_device_state(down, 1)


def test_device_down_notifies_once_and_resolves_once(netns: None, stack: Stack) -> None:
    """(a) One device down: one firing notification; back up: one resolved."""
    device = "Alpha-ATM"
    stack.firewall.drop(ADDRESSES[device])
    stack.wait_notified("DeviceDown", "firing", device=device)
    time.sleep(SETTLE)
    stack.firewall.restore(ADDRESSES[device])
    stack.wait_notified("DeviceDown", "resolved", device=device)
    time.sleep(SETTLE)
    assert len(stack.notified("DeviceDown", "firing", device=device)) == 1, stack.summary()
    assert len(stack.notified("DeviceDown", "resolved", device=device)) == 1, stack.summary()
    assert not stack.notified("SiteDown", site="Alpha"), stack.summary()


def test_site_down_notifies_site_down_only(netns: None, stack: Stack) -> None:
    """(b) A whole site down: one SiteDown, no DeviceDown for its devices."""
    site = "Beta"
    members = [ADDRESSES[n] for n, s in SITES.items() if s == site]
    stack.firewall.drop(*members)
    stack.wait_notified("SiteDown", "firing", site=site)
    time.sleep(SETTLE)
    assert len(stack.notified("SiteDown", "firing", site=site)) == 1, stack.summary()
    assert not stack.notified("DeviceDown", site=site), stack.summary()
    stack.firewall.restore(*members)
    stack.wait_notified("SiteDown", "resolved", site=site)
    time.sleep(SETTLE)
    assert len(stack.notified("SiteDown", "resolved", site=site)) == 1, stack.summary()


def test_exporter_killed_during_an_outage_raises_monitoring_alert_and_no_resolve(
        netns: None, stack: Stack) -> None:
    """(c) Exporter gone mid-outage: ExporterDown/MonitoringDegraded, and no resolve."""
    device = "Gamma-NVR"
    stack.firewall.drop(ADDRESSES[device])
    stack.wait_notified("DeviceDown", "firing", device=device)
    stack.exporter.stop(kill=True)
    wait_for(lambda: stack.notified("ExporterDown", "firing")
             or stack.notified("MonitoringDegraded", "firing"), timeout=DETECT,
             what=f"ExporterDown or MonitoringDegraded (got: {stack.summary()})")
    time.sleep(SETTLE)
    # Prometheus marked the device's series stale at the first failed scrape: a
    # monitor that read missing data as "no longer down" would have resolved by now.
    assert not stack.prom.query(f'wardops_device_up{{device="{device}"}}')
    assert not stack.notified("DeviceDown", "resolved", device=device), stack.summary()
    # Back with the outage still on: the alert stays firing, announced once.
    stack.exporter = stack.start_exporter()
    stack.wait_device_state(device, 0)
    time.sleep(SETTLE)
    assert len(stack.notified("DeviceDown", "firing", device=device)) == 1, stack.summary()
    assert not stack.notified("DeviceDown", "resolved", device=device), stack.summary()


def test_down_device_without_data_after_exporter_restart_stays_down(
        netns: None, stack: Stack) -> None:
    """(e) Missing data never resolves, in Prometheus's data as the rules read it: the
    exporter comes back without its state file and cannot probe the down device (its
    route is withdrawn: a blackhole), so the device has no wardops_device_up series at
    all; DeviceDown stays firing, unresolved, until the device is reported up."""
    device = "Alpha-NVR"
    address = ADDRESSES[device]
    stack.firewall.drop(address)
    stack.wait_notified("DeviceDown", "firing", device=device)
    stack.exporter.stop()
    (stack.workdir / "exporter-state.json").unlink()
    route = ["blackhole", address, "table", "local"]
    ip("route", "add", *route)
    try:
        stack.exporter = stack.start_exporter()
        wait_for(lambda: stack.prom.query(
            f'wardops_device_probe_failing{{device="{device}", reason="unreachable"}}'),
            timeout=DETECT, what=f"{device}'s probes failing in Prometheus")
        assert not stack.prom.query(f'wardops_device_up{{device="{device}"}}')
        assert stack.prom.query('up{job="wardops-exporter"} == 1')
        # The dashboards show it as DeviceDown does: down (held), and why there is no data.
        not_up = {s["metric"]["device"]: (float(s["value"][1]), s["metric"]["reason"])
                  for s in stack.prom.query(panel_expr("wardops-fleet", "Not known to be up"))}
        assert not_up[device] == (0, "probes cannot run: unreachable"), not_up
        failing = stack.prom.query(panel_expr("wardops-health", "Probes failing (list)"))
        assert [s["metric"]["device"] for s in failing] == [device]
        time.sleep(SETTLE)
        assert not stack.notified("DeviceDown", "resolved", device=device), stack.summary()
        firing = [a for a in requests.get(f"http://127.0.0.1:{stack.alerter_port}/api/v1/alerts",
                                          timeout=5).json()["data"]["alerts"]
                  if a["labels"].get("device") == device and a["state"] == "firing"]
        assert "DeviceDown" in [a["labels"]["alertname"] for a in firing], firing
    finally:
        ip("route", "del", *route)
    stack.firewall.restore(address)
    stack.wait_notified("DeviceDown", "resolved", device=device)
    time.sleep(SETTLE)
    assert len(stack.notified("DeviceDown", "firing", device=device)) == 1, stack.summary()
    assert len(stack.notified("DeviceDown", "resolved", device=device)) == 1, stack.summary()
