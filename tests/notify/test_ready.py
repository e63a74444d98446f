"""``/-/ready`` is the orchestrator's contract: 200 once the API serves and an evaluation
cycle has run, whether or not the data source answered. Data health is a different
question, answered by ``MonitoringDegraded`` and ``wardops_alerter_data_healthy``: a
readiness that followed Prometheus would let a load balancer hide the very API that shows
the alerter cannot see."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import requests

from tests.support import REPO, Proc, free_port, python_env, wait_for, wait_http


def test_ready_with_prometheus_down_and_degraded_visible(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    shutil.copy(REPO / "rules" / "wardops.yml", tmp_path / "rules" / "wardops.yml")
    prometheus = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    config = tmp_path / "alerter.yml"
    config.write_text(textwrap.dedent(f"""\
        prometheus: {{url: "{prometheus}", timeout: 1s}}
        evaluation_interval: 1s
        rule_files: [rules/*.yml]
        state_dir: state
        route: {{receiver: nobody}}
        receivers: [{{name: nobody}}]
        """))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for run in ("first start", "restart"):  # the QA case: a restart with Prometheus down
        alerter = Proc.python("alerter", "--config", str(config), "--web.listen-address",
                              f"127.0.0.1:{port}", log=tmp_path / "alerter.log",
                              env=python_env())
        try:
            assert wait_http(base + "/-/ready", timeout=30).text == "Ready\n", run
            metrics = requests.get(base + "/metrics", timeout=5).text
            assert "wardops_alerter_data_healthy 0.0" in metrics, run

            def degraded() -> list[dict[str, object]]:
                alerts = requests.get(base + "/api/v1/alerts", timeout=5,
                                      params={"filter": 'alertname="MonitoringDegraded"'})
                return [a for a in alerts.json()["data"]["alerts"] if a["state"] == "firing"]
            assert wait_for(degraded, timeout=30, what="MonitoringDegraded"), run
            # still ready: readiness does not flap with the data source
            assert requests.get(base + "/-/ready", timeout=5).status_code == 200, run
        finally:
            alerter.stop()
