"""The SNMP poller inside the real exporter: inventory with snmp_defaults, /metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.snmp.agent import COMMUNITY, Snmpd
from tests.support import Proc, free_port, python_env, wait_for, wait_http

INVENTORY = """
probe: {{interval: 2s, timeout: 500ms, count: 1}}
snmp_defaults:
  router:
    version: 2c
    port: {port}
    community_env: WARDOPS_E2E_COMMUNITY
    interval: 2s
    timeout: 500ms
    retries: 0
    uplinks:
      - {{alias: '^Magti_Internet$', isp: Magti}}
      - {{alias: '^Silknet_Internet$', isp: Silknet}}
    exclude_interfaces: '\\.\\d+$'
    scalars:
      - {{name: load_1m_percent, oid: 1.3.6.1.4.1.2021.10.1.5.1, help: "1-min load x 100"}}
sites:
  Kharagauli: {{labels: {{region: Imereti}}}}
devices:
  - {{name: kharagauli-r1, address: 127.0.0.1, site: Kharagauli, type: router}}
  - {{name: kharagauli-r2, address: 127.0.0.1, site: Kharagauli, type: router,
     snmp: {{community_env: WARDOPS_E2E_WRONG}}}}
  - {{name: kharagauli-atm, address: 127.0.0.2, site: Kharagauli, type: atm}}
"""


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


def test_exporter_serves_snmp_metrics(router_agent: Snmpd, tmp_path: Path) -> None:
    inventory = tmp_path / "devices.yml"
    inventory.write_text(INVENTORY.format(port=router_agent.port))
    port = free_port()
    env = python_env(WARDOPS_E2E_COMMUNITY=COMMUNITY, WARDOPS_E2E_WRONG="wrong-community-xyz")
    proc = Proc([sys.executable, "-m", "exporter", "--config", str(inventory),
                 "--web.listen-address", f"127.0.0.1:{port}", "--state-file", ""],
                log=tmp_path / "exporter.log", env=env)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_http(url)

        def polled() -> str | None:
            text = requests.get(url, timeout=5).text
            ups = {labels["device"]: v for labels, v in samples(text, "wardops_snmp_up")}
            return text if set(ups) == {"kharagauli-r1", "kharagauli-r2"} else None
        text = wait_for(polled, timeout=30, what="both routers polled")
        ups = {labels["device"]: (labels, v) for labels, v in samples(text, "wardops_snmp_up")}
        labels, value = ups["kharagauli-r1"]
        assert value == 1
        assert labels == {"device": "kharagauli-r1", "address": "127.0.0.1", "site": "Kharagauli",
                          "type": "router", "region": "Imereti"}
        assert ups["kharagauli-r2"][1] == 0  # wrong community: silent agent
        errors = {(l["device"], l["reason"]): v
                  for l, v in samples(text, "wardops_snmp_errors_total")}
        assert errors[("kharagauli-r2", "timeout")] >= 1
        oper = {l["ifname"]: l for l, _ in samples(text, "wardops_interface_oper_up")
                if l["device"] == "kharagauli-r1"}
        assert oper["wan1"]["isp"] == "Magti" and oper["wan2"]["isp"] == "Silknet"
        assert "wan1.100" not in oper
        assert [v for l, v in samples(text, "wardops_snmp_load_1m_percent")]
        assert "kharagauli-atm" not in {l["device"] for l, _ in samples(text, "wardops_snmp_up")}
        # ICMP series of the same device sit beside the SNMP ones
        assert [v for l, v in samples(text, "wardops_device_up") if l["device"] == "kharagauli-r1"]
        assert COMMUNITY not in text and "wrong-community-xyz" not in text
        assert COMMUNITY not in requests.get(f"http://127.0.0.1:{port}/", timeout=5).text
        assert COMMUNITY not in proc.output()
    finally:
        proc.stop()


def test_exporter_refuses_a_literal_community(tmp_path: Path) -> None:
    inventory = tmp_path / "devices.yml"
    inventory.write_text("devices:\n  - {name: r1, address: 127.0.0.1, type: router,"
                         " snmp: {community: public}}\n")
    done = subprocess.run([sys.executable, "-m", "exporter", "check-config", str(inventory)],
                          capture_output=True, text=True, env=python_env(), timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"wardops-exporter: {inventory}: devices[0] (r1): snmp.community: "
                           "literal secrets are not accepted; use community_env or "
                           "community_file\n")


def test_exporter_reload_applies_snmp_changes(router_agent: Snmpd, tmp_path: Path) -> None:
    inventory = tmp_path / "devices.yml"
    inventory.write_text(INVENTORY.format(port=router_agent.port))
    port = free_port()
    env = python_env(WARDOPS_E2E_COMMUNITY=COMMUNITY, WARDOPS_E2E_WRONG="wrong-community-xyz")
    proc = Proc([sys.executable, "-m", "exporter", "--config", str(inventory),
                 "--web.listen-address", f"127.0.0.1:{port}", "--state-file", "",
                 "--web.enable-lifecycle"],
                log=tmp_path / "exporter.log", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/metrics")

        def isp_of_wan2() -> str | None:
            text = requests.get(f"{base}/metrics", timeout=5).text
            for labels, _ in samples(text, "wardops_interface_oper_up"):
                if labels["device"] == "kharagauli-r1" and labels["ifname"] == "wan2":
                    return labels["isp"]
            return None
        assert wait_for(isp_of_wan2, timeout=30, what="wan2 polled") == "Silknet"
        # A bad SNMP setting on reload is refused; the running inventory keeps polling.
        inventory.write_text(INVENTORY.format(port=router_agent.port).replace(
            "community_env: WARDOPS_E2E_WRONG", "community: public"))
        resp = requests.post(f"{base}/-/reload", timeout=30)
        assert resp.status_code != 200 and "literal secrets are not accepted" in resp.text
        text = requests.get(f"{base}/metrics", timeout=5).text
        assert [v for _, v in samples(text, "wardops_exporter_config_last_reload_successful")] == [0]
        # A good one: the uplink rule now names the provider differently.
        inventory.write_text(INVENTORY.format(port=router_agent.port).replace(
            "isp: Silknet", "isp: Silknet-Fiber"))
        assert requests.post(f"{base}/-/reload", timeout=30).status_code == 200
        assert isp_of_wan2() is not None  # the kept device keeps its results meanwhile
        wait_for(lambda: isp_of_wan2() == "Silknet-Fiber", timeout=30, what="new isp label")
    finally:
        proc.stop()
