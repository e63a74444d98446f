"""The real Prometheus and the wardops alerter on one rule file, side by side, for the
differential tests: Prometheus evaluates the rules itself; the alerter evaluates the same
rules by querying that Prometheus."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support import Proc, free_port, wait_http


@contextmanager
def prometheus_and_alerter(tmp_path: Path, rules: Path, *,
                           prometheus_global: Mapping[str, Any] | None = None,
                           prometheus_config: Mapping[str, Any] | None = None,
                           prometheus_args: Sequence[str] = (),
                           alerter_config: Mapping[str, Any] | None = None,
                           datasource: Mapping[str, Any] | None = None,
                           ) -> Iterator[tuple[str, str]]:
    """Start both (1 s evaluation) and yield (Prometheus URL, alerter URL).
    ``datasource``: more keys of the alerter's ``prometheus`` section."""
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"evaluation_interval": "1s", **(prometheus_global or {})},
        "rule_files": [str(rules)], **(prometheus_config or {})}))
    prom_port, alerter_port = free_port(), free_port()
    procs = [Proc(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                   f"--storage.tsdb.path={tmp_path / 'prom'}",
                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn",
                   *prometheus_args], log=tmp_path / "prometheus.log")]
    try:
        prom = f"http://127.0.0.1:{prom_port}"
        wait_http(prom + "/-/ready", timeout=30)
        config = tmp_path / "alerter.yml"
        config.write_text(yaml.safe_dump({
            "prometheus": {"url": prom, "timeout": "2s", **(datasource or {})},
            "evaluation_interval": "1s",
            "rule_files": [str(rules)], "state_dir": str(tmp_path / "state"),
            "data_health": {"targets": "", "probe_timestamp": ""},
            **(alerter_config or {})}))
        procs.append(Proc.python("alerter", "--config", str(config), "--web.listen-address",
                                 f"127.0.0.1:{alerter_port}", log=tmp_path / "alerter.log"))
        yield prom, f"http://127.0.0.1:{alerter_port}"
    finally:
        for proc in reversed(procs):
            proc.stop()


def alert_listing(url: str) -> dict[str, dict[str, Any]]:
    """``/api/v1/alerts`` by alert name (empty while the server does not answer)."""
    try:
        alerts = requests.get(url + "/api/v1/alerts", timeout=2).json()["data"]["alerts"]
    except (requests.RequestException, ValueError, KeyError):
        return {}
    return {a["labels"]["alertname"]: a for a in alerts
            if a["labels"]["alertname"] != "MonitoringDegraded"}
