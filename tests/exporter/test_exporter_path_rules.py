"""The path rules (rules/paths.yml): their promtool unit tests pass, and wardops's own
template engine renders their summaries as Prometheus does in those tests."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from alerter.rules import load_rule_files
from tests.support import REPO


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool is not installed")
def test_promtool_unit_tests_of_the_path_rules() -> None:
    proc = subprocess.run(["promtool", "test", "rules",
                           str(REPO / "rules" / "tests" / "paths_test.yml")],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


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
