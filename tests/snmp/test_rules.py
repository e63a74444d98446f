"""rules/snmp.yml: promtool accepts it, its unit tests pass, and IspUplinkDown fires,
holds while SNMP fails, and resolves in a real Prometheus scraping the poller while a
real link goes down and up."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, start_http_server

from exporter.snmp.poller import SnmpPoller
from tests.snmp.agent import Snmpd, ip
from tests.snmp.conftest import Device, settings
from tests.support import REPO, Proc, free_port, wait_for, wait_http

RULES = REPO / "rules" / "snmp.yml"
HERE = Path(__file__).parent


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.fail("promtool missing: scripts/bootstrap installs Debian's prometheus")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def test_promtool_check_rules() -> None:
    out = promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 5 rules found" in out.stdout


def test_promtool_unit_tests() -> None:
    out = promtool("test", "rules", str(HERE / "rules_test.yml"))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def poller_endpoint(router_agent: Snmpd) -> Iterator[str]:
    """The SNMP poller running on its own schedule (1 s) in a thread, served over HTTP."""
    device = Device("kharagauli-r1", router_agent.address, snmp=settings(
        port=router_agent.port, interval="1s",
        uplinks=[{"alias": "^Magti_Internet$", "isp": "Magti"},
                 {"alias": "^Silknet_Internet$", "isp": "Silknet"}],
        exclude_interfaces=r"\.\d+$"))
    poller = SnmpPoller([device])
    registry = CollectorRegistry()
    registry.register(poller)
    loop = asyncio.new_event_loop()
    task = loop.create_task(poller.run())

    def run() -> None:
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass  # stopped by the fixture
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    loop.call_soon_threadsafe(task.cancel)
    thread.join(10)
    loop.close()


def test_isp_uplink_down_fires_and_resolves_in_prometheus(
        poller_endpoint: str, router_agent: Snmpd, tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus missing: scripts/bootstrap installs it")
    # The real rules, with IspUplinkDown's 1m "for" cut to 2s to keep the test short
    # (the 1m is covered by the promtool unit test).
    rules = re.sub(r"(alert: IspUplinkDown\n(?:.*\n)*?\s+for: )1m", r"\g<1>2s", RULES.read_text())
    assert "for: 2s" in rules
    (tmp_path / "snmp.yml").write_text(rules)
    (tmp_path / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [snmp.yml]
scrape_configs:
  - job_name: wardops
    static_configs: [{{targets: ['{poller_endpoint}']}}]
""")
    port = free_port()
    prom = Proc(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"], log=tmp_path / "prometheus.log")
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)

        def uplink_alerts(state: str) -> list[dict]:
            alerts = requests.get(f"{api}/alerts", timeout=5).json()["data"]["alerts"]
            return [a for a in alerts
                    if a["labels"]["alertname"] == "IspUplinkDown" and a["state"] == state]

        def query(expr: str) -> list[dict]:
            return requests.get(f"{api}/query", params={"query": expr},
                                timeout=5).json()["data"]["result"]

        def uplink_series() -> bool:
            return bool(query('wardops_interface_oper_up{isp="Silknet"} == 1'))

        wait_for(uplink_series, timeout=30, what="Silknet uplink up in Prometheus")
        assert uplink_alerts("firing") == [] and uplink_alerts("pending") == []
        ip("link", "set", "wan2p", "down")
        try:
            firing = wait_for(lambda: uplink_alerts("firing"), timeout=60, interval=0.5,
                              what="IspUplinkDown firing")
            labels = firing[0]["labels"]
            assert (labels["isp"], labels["ifname"], labels["device"]) == (
                "Silknet", "wan2", "kharagauli-r1")
            assert firing[0]["annotations"]["summary"] == (
                "Silknet uplink down on kharagauli-r1 at Kharagauli")
            assert len(firing) == 1  # one uplink lost, one alert
            # SNMP stops answering (snmpd paused): the poller withdraws the interface
            # series, and the alert must hold, not resolve, while nothing is known.
            router_agent.proc.signal(signal.SIGSTOP)
            try:
                wait_for(lambda: query('wardops_snmp_up{device="kharagauli-r1"} == 0')
                         and not query('wardops_interface_oper_up{isp="Silknet"}'),
                         timeout=30, interval=0.5, what="SNMP failing in Prometheus")
                time.sleep(3)  # several evaluations (1 s) without interface data
                assert len(uplink_alerts("firing")) == 1
            finally:
                router_agent.proc.signal(signal.SIGCONT)
        finally:
            ip("link", "set", "wan2p", "up")
        wait_for(lambda: not uplink_alerts("firing") and not uplink_alerts("pending"),
                 timeout=60, interval=0.5, what="IspUplinkDown resolved")
    finally:
        prom.stop()
