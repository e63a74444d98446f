"""The default rules: promtool accepts them and their unit tests pass; wardops renders
their templates the way Prometheus does (same summaries as in the promtool tests)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from alerter.rules import load_rule_files
from tests.support import REPO

RULES = sorted((REPO / "rules").glob("*.yml"))
promtool = pytest.mark.skipif(not shutil.which("promtool"),
                              reason="promtool is not installed (scripts/bootstrap installs it)")


@promtool
def test_promtool_check_rules() -> None:
    proc = subprocess.run(["promtool", "check", "rules", *map(str, RULES)],
                          check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Checking " + str(REPO / "rules" / "wardops.yml") + "\n  SUCCESS: 17 rules found" \
        in proc.stdout


@promtool
def test_promtool_unit_tests() -> None:
    proc = subprocess.run(["promtool", "test", "rules",
                           str(REPO / "rules" / "tests" / "wardops_test.yml")],
                          check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_wardops_renders_summaries_like_prometheus() -> None:
    rules = {r.name: r for g in load_rule_files(RULES, 15) for r in g.rules}
    atm = {"device": "Kharagauli-ATM", "address": "10.199.78.163", "site": "Kharagauli",
           "type": "atm"}
    down = rules["DeviceDown"].annotation_templates["summary"]
    assert down.render(atm, 1764344462.0) == \
        "Kharagauli-ATM (10.199.78.163) at Kharagauli is DOWN since 15:41:02 UTC (2025-11-28)"
    # the promtool test expects exactly this for its input (time 30s after the epoch)
    assert down.render(atm, 30.0) == \
        "Kharagauli-ATM (10.199.78.163) at Kharagauli is DOWN since 00:00:30 UTC (1970-01-01)"
    stale = rules["ProbeStale"].annotation_templates["summary"]
    assert stale.render({"device": "Telavi-Router", "address": "10.4.0.1", "site": "Telavi"},
                        120.0) == ("No fresh probe of Telavi-Router (10.4.0.1) at Telavi for "
                                   "2m 0s: its state is unknown")
    failing = rules["ProbeFailing"].annotation_templates["summary"]
    assert failing.render({"device": "Gori-NVR", "address": "nvr.gori.example", "site": "Gori",
                           "reason": "dns"}, 1.0) == (
        "Probes of Gori-NVR (nvr.gori.example) at Gori cannot run: dns")
    site = rules["SiteDown"].annotation_templates["summary"]
    assert site.render({"site": "Gori"}, 2.0) == "Site Gori is DOWN: all 2 devices do not answer"
    # the monitor's own failures, as in the promtool test
    save = rules["ExporterStateFileFailing"].annotation_templates["summary"]
    assert save.render({"instance": "e1:9469", "operation": "save"}, 2.0) == (
        "wardops exporter e1:9469 cannot save its state file (2 failures in 5 minutes)")
    failed = rules["AlerterNotificationsFailed"].annotation_templates["summary"]
    assert failed.render({"receiver": "oncall"}, 1.0) == (
        "wardops alerter gave up delivering 1 notification(s) to receiver oncall in 15 "
        "minutes: people were not told")
    stuck = rules["AlerterNotificationsStuck"].annotation_templates["summary"]
    assert stuck.render({"receiver": "chat"}, 420.0) == (
        "Notifications to receiver chat are late: the oldest undelivered one has waited 7m 0s")
    # a device's maintenance window and a site's, as in the promtool test
    window = rules["MaintenanceWindow"].annotation_templates["summary"]
    assert window.render({"device": "Gori-ATM", "address": "10.1.0.2", "site": "Gori",
                          "window": "ups-replacement"}, 1.0) == (
        "Gori-ATM (10.1.0.2) at Gori is in maintenance (ups-replacement): its alerts are muted")
    assert window.render({"site": "Poti", "window": "branch-rewiring"}, 1.0) == (
        "Poti is in maintenance (branch-rewiring): its alerts are muted")
