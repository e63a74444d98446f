"""The dashboards' state panels tell the truth: promtool evaluates their committed queries.

One exporter (15 s probe interval, so stale after 45 s) reports nine devices in five
sites at the evaluation time (5 minutes in); a second exporter reported one more device
until 2 minutes in and is unreachable since:

    S1  A  up, fresh probe                 -> up
    S1  B  down                            -> down
    S2  C  never probed (timestamp 0)      -> unknown, "not probed yet"
    S2  D  probes failing (unreachable)    -> unknown, "probes cannot run: unreachable"
    S3  E  up, but no probe for 200 s      -> unknown, "probes stale (3 intervals)"
    S3  H  on the unreachable exporter     -> unknown, "no data from its exporter"
    S4  I, J  both down                    -> down, down; S4 is fully down (SiteDown)
    S5  K  down, the site's only device    -> down; S5 is not a SiteDown (1 device)

Up, down and unknown must add up to the inventory, every device that is not up must be
listed with its reason, and "Sites fully down" must count what SiteDown fires on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from stackparts import panel_expr

from tests.support import REPO

EXPORTER = 'job="wardops-exporter", instance="e1:9469"'
GONE = 'job="wardops-exporter", instance="e2:9469"'
STEPS = 20  # samples 0..300 s at 15 s
# device -> (exporter, site, up, down_since, last_probe, probe_failing reason)
DEVICES = {
    "A": (EXPORTER, "S1", "1", "0", "0+15x20", ""),
    "B": (EXPORTER, "S1", "0", "100", "0+15x20", ""),
    "C": (EXPORTER, "S2", "", "", "0", ""),
    "D": (EXPORTER, "S2", "", "", "0", "unreachable"),
    "E": (EXPORTER, "S3", "1", "0", "100", ""),
    "H": (GONE, "S3", "1", "0", "0+15x8", ""),
    "I": (EXPORTER, "S4", "0", "100", "0+15x20", ""),
    "J": (EXPORTER, "S4", "0", "100", "0+15x20", ""),
    "K": (EXPORTER, "S5", "0", "100", "0+15x20", ""),
}
NOT_UP = {"B": (0, "no reply (down)"), "C": (-1, "not probed yet"),
          "D": (-1, "probes cannot run: unreachable"), "E": (-1, "probes stale (3 intervals)"),
          "H": (-1, "no data from its exporter"), "I": (0, "no reply (down)"),
          "J": (0, "no reply (down)"), "K": (0, "no reply (down)")}


def _values(spec: str, exporter: str) -> str:
    """A constant or ``a+bxn`` series; the unreachable exporter's end at 2 min (stale)."""
    if exporter == GONE:
        return (spec if "x" in spec else f"{spec}x8") + " stale"
    return spec if "x" in spec else f"{spec}x{STEPS}"


def input_series() -> list[dict[str, str]]:
    """What the two exporters served, as promtool input series."""
    series = [{"series": f"up{{{EXPORTER}}}", "values": f"1x{STEPS}"},
              {"series": f"up{{{GONE}}}", "values": "1x8 0x12"},
              {"series": f"wardops_exporter_probe_interval_seconds{{{EXPORTER}}}",
               "values": f"15x{STEPS}"},
              {"series": f"wardops_exporter_probe_interval_seconds{{{GONE}}}",
               "values": "15x8 stale"}]
    for name, (exporter, site, up, down_since, last_probe, failing) in DEVICES.items():
        labels = f'{exporter}, device="{name}", address="10.0.0.{ord(name)}", site="{site}"'
        series.append({"series": f"wardops_device_info{{{labels}}}",
                       "values": _values("1", exporter)})
        series.append({"series": f"wardops_device_last_probe_timestamp_seconds{{{labels}}}",
                       "values": _values(last_probe, exporter)})
        if up:
            series.append({"series": f"wardops_device_up{{{labels}}}",
                           "values": _values(up, exporter)})
            series.append({"series": f"wardops_device_down_since_timestamp_seconds{{{labels}}}",
                           "values": _values(down_since, exporter)})
        if failing:
            failing_labels = f'{labels}, reason="{failing}"'
            series.append({"series": f"wardops_device_probe_failing{{{failing_labels}}}",
                           "values": _values("1", exporter)})
    return series


def count_test(uid: str, title: str, value: int, values: dict[str, str] | None = None
               ) -> dict[str, Any]:
    return {"expr": panel_expr(uid, title, values), "eval_time": "5m",
            "exp_samples": [{"labels": "{}", "value": value}]}


def not_known_up_test(uid: str, values: dict[str, str] | None = None,
                      sites: tuple[str, ...] | None = None) -> dict[str, Any]:
    rows = []
    for name, (state, reason) in NOT_UP.items():
        site = DEVICES[name][1]
        if sites is None or site in sites:
            rows.append({"labels": f'{{device="{name}", address="10.0.0.{ord(name)}", '
                                   f'site="{site}", reason="{reason}"}}', "value": state})
    return {"expr": panel_expr(uid, "Not known to be up", values), "eval_time": "5m",
            "exp_samples": rows}


def test_state_panels_add_up_and_name_the_reason(tmp_path: Path) -> None:
    fleet, site = "wardops-fleet", "wardops-site"
    s3 = {"site": "S3"}
    tests = [
        count_test(fleet, "In inventory", 9),
        count_test(fleet, "Devices up", 1),
        count_test(fleet, "Devices down", 4),
        count_test(fleet, "Devices unknown", 4),
        count_test(fleet, "Probes failing", 1),
        count_test(fleet, "Stale devices", 1),
        count_test(fleet, "Sites fully down", 1),
        count_test("wardops-health", "Stale devices", 1),
        not_known_up_test(fleet),
        count_test(site, "In inventory", 2, s3),
        count_test(site, "Up", 0, s3),
        count_test(site, "Down", 0, s3),
        count_test(site, "Unknown", 2, s3),
        not_known_up_test(site, s3, ("S3",)),
    ]
    doc = {"rule_files": [], "evaluation_interval": "15s",
           "tests": [{"interval": "15s", "input_series": input_series(),
                      "promql_expr_test": tests}]}
    path = tmp_path / "states_test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sites_fully_down_panel_counts_what_site_down_fires_on() -> None:
    """The panel embeds SiteDown's expression verbatim (2+ devices, all down)."""
    rules = yaml.safe_load((REPO / "rules" / "wardops.yml").read_text())
    site_down = next(r["expr"] for g in rules["groups"] for r in g["rules"]
                     if r.get("alert") == "SiteDown")
    expr = panel_expr("wardops-fleet", "Sites fully down")
    assert " ".join(expr.split()) == " ".join(f"count({site_down.strip()}) or vector(0)".split())
