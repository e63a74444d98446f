"""The metric tables of docs/exporter.md and docs/snmp.md are the reference users read: they must list every metric
family /metrics serves, with its type, and nothing it does not serve."""

from __future__ import annotations

import re

import requests

from tests.exporter.conftest import Lab
from tests.support import REPO, wait_http

EXAMPLE = REPO / "examples" / "devices.yml"
# The pages whose tables document the exporter's /metrics.
PAGES = ("exporter.md", "snmp.md")


def documented_metrics() -> dict[str, str]:
    """{metric name: type cell} from the metric tables of those pages.

    The first cell of a row holds one or more backticked names, labels in braces
    (`wardops_exporter_devices{state}`); a name starting with "_" abbreviates the row's
    first one (`wardops_interface_in_octets_total` / `_out_octets_total`); placeholders
    (`wardops_snmp_<name>`) are not names.
    """
    found: dict[str, str] = {}
    for page in PAGES:
        body = (REPO / "docs" / page).read_text()
        for line in body.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 3 or not cells[0].startswith("`"):
                continue
            names = [n.split("{")[0] for n in re.findall(r"`([^`]+)`", cells[0])]
            if not names or not re.match(r"(wardops|process)_", names[0]):
                continue
            first = names[0].split("_")
            for name in names:
                if name.startswith("_"):
                    words = name[1:].split("_")
                    name = "_".join(first[:-len(words)] + words)
                if "<" not in name:
                    found[name] = cells[1]
    return found


def test_readme_tables_list_every_served_metric_with_its_type(lab: Lab) -> None:
    text = ""
    # both examples: the dual-ISP one serves the per-path families too
    for example in (EXAMPLE, EXAMPLE.with_name("dual-isp.yml")):
        lab.write_config(example.read_text().replace("interval: 10s", "interval: 2s"))
        (lab.dir / "dual-isp-branches.csv").write_bytes(
            example.with_name("dual-isp-branches.csv").read_bytes())
        exporter = lab.start()
        wait_http(exporter.url + "/-/ready", timeout=20)
        text += requests.get(exporter.url + "/metrics", timeout=5).text
        exporter.stop()
    served = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    created = sorted({line.split("{")[0] for line in text.splitlines()
                      if line.split("{")[0].split(" ")[0].endswith("_created")})
    assert not created, f"client_python's *_created series are served: {created}"
    assert "wardops_device_up" in served and "wardops_icmp_requests_total" in served
    documented = documented_metrics()
    missing = {f"{name} ({kind})" for name, kind in served.items() if name not in documented}
    assert not missing, f"served but not in the docs' metric tables: {sorted(missing)}"
    wrong = {f"{name}: the docs say {documented[name]!r}, /metrics says {kind}"
             for name, kind in served.items() if not documented[name].startswith(kind)}
    assert not wrong, sorted(wrong)
    stale = set(documented) - set(served)
    assert not stale, f"in the docs but not served: {sorted(stale)}"
