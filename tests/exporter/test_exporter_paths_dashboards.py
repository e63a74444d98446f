"""The dashboards' path panels and the path rules' expressions on real data: the exporter on examples/dual-isp.yml probing
for real in the netns, a real Prometheus scraping it, one ISP path of three branches
dropped by nftables; the shipped dashboards' queries then say what happened."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import yaml

from tests.exporter.conftest import Lab
from tests.stack.stackparts import Prometheus
from tests.support import REPO, wait_for, wait_http

EXAMPLE = REPO / "examples" / "dual-isp.yml"


def panel_expr(dashboard: str, title: str, ref: str = "A") -> str:
    doc = json.loads((REPO / "grafana" / "dashboards" / dashboard).read_text())
    for panel in doc["panels"]:
        if panel["title"] == title:
            return str(next(t["expr"] for t in panel["targets"] if t["refId"] == ref))
    raise AssertionError(f"{dashboard}: no panel {title!r}")


def rule_expr(file: str, alert: str) -> str:
    doc = yaml.safe_load((REPO / "rules" / file).read_text())
    return str(next(rule["expr"] for group in doc["groups"] for rule in group["rules"]
                    if rule.get("alert") == alert))


def fill(expr: str, **values: str) -> str:
    expr = expr.replace("$__rate_interval", "15s")
    for name, value in values.items():
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return expr


def by_label(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def test_branches_on_one_isp_smokeping_panels_and_path_rules(lab: Lab, tmp_path: Path) -> None:
    config = EXAMPLE.read_text().replace("interval: 10s", "interval: 1s").replace(
        "timeout: 1s", "timeout: 300ms").replace("down_after: 2", "down_after: 1")
    lab.write_config(config)
    (lab.dir / "dual-isp-branches.csv").write_bytes(
        EXAMPLE.with_name("dual-isp-branches.csv").read_bytes())
    # Gori and Zugdidi lose Magti, Poti loses Silknet; Telavi keeps both
    lab.firewall.drop("127.0.4.11", "127.0.6.11", "127.0.5.12")
    exporter = lab.start()
    wait_http(exporter.url + "/-/ready", timeout=20)
    prom = Prometheus(tmp_path / "prom", {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "wardops-exporter", "static_configs": [
            {"targets": [exporter.url.removeprefix("http://")]}]}]})
    try:
        one_isp = panel_expr("fleet-overview.json", "Branches on one ISP now, by ISP")

        def counted() -> dict[str, float] | None:
            got = by_label(prom.query(one_isp), "isp")
            return got if got == {"Magti": 1.0, "Silknet": 2.0} else None

        wait_for(counted, timeout=30, interval=0.5, what="branches on one ISP by ISP")
        # the site's smokeping per ISP: Gori over Silknet answers, over Magti loses all
        median = fill(panel_expr("site.json", "Latency over ${isp}", "C"), site="Gori",
                      isp="Silknet")
        loss = panel_expr("site.json", "Latency over ${isp}", "F")

        def smoke() -> tuple[float, float, float] | None:
            med = prom.query(median)
            up_loss = prom.query(fill(loss, site="Gori", isp="Silknet"))
            down_loss = prom.query(fill(loss, site="Gori", isp="Magti"))
            if not (med and up_loss and down_loss):
                return None
            return (float(med[0]["value"][1]), float(up_loss[0]["value"][1]),
                    float(down_loss[0]["value"][1]))

        med_value, up_loss_value, down_loss_value = wait_for(
            smoke, timeout=30, interval=0.5, what="smokeping queries")
        assert 0 < med_value < 0.3 and not math.isnan(med_value)
        assert (up_loss_value, down_loss_value) == (0.0, 1.0)
        down = by_label(prom.query(panel_expr("fleet-overview.json", "ISP paths down")),
                        "device")
        assert set(down) == {"Gori-Router", "Zugdidi-Router", "Poti-Router"}
        assert all(since <= time.time() for since in down.values())
        # the default rules' expressions on the same data: IspPathDown for the three
        # (no SNMP here: snmp_uplink unknown), DeviceDown for none
        path_down = {(r["metric"]["device"], r["metric"]["isp"], r["metric"]["snmp_uplink"])
                     for r in prom.query(rule_expr("paths.yml", "IspPathDown"))}
        assert path_down == {("Gori-Router", "Magti", "unknown"),
                             ("Zugdidi-Router", "Magti", "unknown"),
                             ("Poti-Router", "Silknet", "unknown")}
        assert prom.query(rule_expr("wardops.yml", "DeviceDown")) == []
        # both of Telavi's paths dropped: DeviceDown, and no IspPathDown for it
        lab.firewall.drop("127.0.7.11", "127.0.7.12")
        wait_for(lambda: {r["metric"]["device"] for r in prom.query(
            rule_expr("wardops.yml", "DeviceDown"))} == {"Telavi-Router"} or None,
            timeout=30, interval=0.5, what="DeviceDown for Telavi-Router")
        assert "Telavi-Router" not in {r["metric"]["device"] for r in prom.query(
            rule_expr("paths.yml", "IspPathDown"))}
    finally:
        prom.stop()
