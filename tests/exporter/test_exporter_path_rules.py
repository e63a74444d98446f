"""The path rules (rules/paths.yml): their promtool unit tests pass, and wardops's own
template engine renders their summaries as Prometheus does in those tests."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from alerter.rules import load_rule_files
from tests.support import REPO

TESTS = REPO / "rules" / "tests" / "paths_test.yml"


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_promtool_unit_tests_of_the_path_rules_cover_every_rule() -> None:
    rules = yaml.safe_load((REPO / "rules" / "paths.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = {case["alertname"] for test in yaml.safe_load(TESTS.read_text())["tests"]
              for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert names <= tested, f"rules without a firing promtool case: {names - tested}"
    result = subprocess.run(["promtool", "test", "rules", str(TESTS)], check=False,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, "SUCCESS" in result.stdout) == (0, True), result.stdout


def test_wardops_renders_the_path_summaries_like_prometheus() -> None:
    rules = {r.name: r for g in load_rule_files([REPO / "rules" / "paths.yml"], 15)
             for r in g.rules}
    down = rules["IspPathDown"].annotation_templates["summary"]
    gori = {"device": "Gori-Router", "site": "Gori", "isp": "Magti"}
    start = "Gori-Router at Gori runs without Magti: that path is DOWN, the device answers " \
            "over another ISP"
    assert down.render({**gori, "snmp_uplink": "up"}, 15.0) == (
        start + ". SNMP shows the Magti uplink interface UP: the link is up but the ISP "
        "carries no traffic")
    assert down.render({**gori, "snmp_uplink": "down"}, 15.0) == (
        start + "; SNMP shows the Magti uplink interface down too")
    assert down.render({**gori, "snmp_uplink": "unknown"}, 15.0) == start
    degraded = rules["IspDegraded"].annotation_templates["summary"]
    assert degraded.render({**gori, "signal": "latency"}, 0.125) == (
        "Magti path of Gori-Router at Gori is DEGRADED: median round trip 125ms over 10 "
        "minutes, far above its usual level")
    assert degraded.render({**gori, "signal": "loss"}, 0.5) == (
        "Magti path of Gori-Router at Gori is DEGRADED: 50% of pings lost over 10 minutes, "
        "far above its usual level")
