"""Parts of the stack tests and the latency benchmark: Prometheus, the webhook sink,
and the dashboards' queries.

Everything here starts real programs on loopback (Debian's Prometheus, the demo sink)
and is used by tests/stack and bench/e2e_latency_bench.py.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support import REPO, Proc, free_port, wait_http

DASHBOARD_DIR = REPO / "grafana" / "dashboards"
RECORDING_RULES = REPO / "rules" / "recording"
SINK = REPO / "examples" / "webhook_sink.py"


# ---------------------------------------------------------------- Prometheus

class Prometheus:
    """A Debian Prometheus on 127.0.0.1 with its data under ``workdir``."""

    def __init__(self, workdir: Path, config: dict[str, Any], *, port: int | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc = Proc(["prometheus", f"--config.file={self.config_path}",
                          f"--storage.tsdb.path={workdir / 'data'}",
                          f"--web.listen-address=127.0.0.1:{self.port}",
                          "--log.level=warn", *extra_args], log=workdir / "prometheus.log")
        try:
            wait_http(f"{self.url}/-/ready", timeout=30)
        except AssertionError:
            self.proc.stop()
            raise AssertionError(f"Prometheus did not start:\n{self.proc.output()[-2000:]}")

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query; raises with Prometheus's message if it is rejected."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        resp = requests.post(f"{self.url}/api/v1/query", data=params, timeout=10)
        body = resp.json()
        if body.get("status") != "success":
            raise QueryError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def query_range(self, expr: str, start: float, end: float, step: float
                    ) -> list[dict[str, Any]]:
        """Range query; raises with Prometheus's message if it is rejected."""
        resp = requests.post(f"{self.url}/api/v1/query_range", timeout=10,
                             data={"query": expr, "start": start, "end": end, "step": step})
        body = resp.json()
        if body.get("status") != "success":
            raise QueryError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]["result"]

    def stop(self) -> None:
        """Stop the server."""
        self.proc.stop()


class QueryError(AssertionError):
    """Prometheus rejected a query."""


def prometheus_config(*, scrape_interval: str, exporter: str | None = None,
                      alerter: str | None = None, rule_dir: Path | None = None
                      ) -> dict[str, Any]:
    """The repository's prometheus.yml with other targets, intervals and rule folder."""
    config = yaml.safe_load((REPO / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = scrape_interval
    config["global"]["evaluation_interval"] = scrape_interval
    targets = {"wardops-exporter": exporter, "wardops-alerter": alerter}
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name in targets:
            if targets[name] is None:
                continue
            job["static_configs"] = [{"targets": [targets[name]]}]
        if name == "prometheus":
            continue
        job["scrape_interval"] = scrape_interval
        job.pop("scrape_timeout", None)
        jobs.append(job)
    config["scrape_configs"] = jobs
    config["rule_files"] = [str((rule_dir or RECORDING_RULES) / "*.yml")]
    return config


def fast_recording_rules(dest: Path, block: str = "5s", short: str = "1s",
                         long: str = "2s") -> Path:
    """The recording rules with their group intervals shortened, in ``dest``.

    The rules are the committed ones; only the schedule changes (blocks every ``block``
    with the blocks' own window to match, rollups every ``short``/``long``), so a test
    sees availability figures within seconds instead of five minutes.
    """
    dest.mkdir(parents=True, exist_ok=True)
    block_ms = _duration_ms(block)
    for src in sorted(RECORDING_RULES.glob("*.yml")):
        text = src.read_text()
        text = text.replace("[4m59s999ms]", f"[{block_ms - 1}ms]")
        text = text.replace("offset 5m", f"offset {block_ms}ms")
        text = re.sub(r"interval: 5m", f"interval: {block}", text)
        text = re.sub(r"interval: 1m", f"interval: {short}", text)
        text = re.sub(r"interval: 4m", f"interval: {long}", text)
        (dest / src.name).write_text(text)
    return dest


#: the alerting rules' windows, shortened for tests (fast_alerting_rules)
FAST_WINDOWS = {"[10m]": "[20s]", "[5m]": "[30s]", "[2m]": "[10s]"}


#: the path rules' `for` (IspPathDown waits 1m), shortened for tests
FAST_FOR = {"for: 1m": "for: 3s"}


def fast_alerting_rules(dest: Path, files: tuple[str, ...] = ("wardops.yml",)) -> Path:
    """rules/``files`` with their windows shortened (FAST_WINDOWS; paths.yml's `for` too,
    FAST_FOR), in ``dest``; names, labels and logic unchanged, so tests wait seconds where
    production waits minutes."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in files:
        text = (REPO / "rules" / name).read_text()
        for long, short in {**FAST_WINDOWS, **(FAST_FOR if name == "paths.yml" else {})
                            }.items():
            text = text.replace(long, short)
        (dest / name).write_text(text)
    return dest


def _duration_ms(text: str) -> int:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not match:
        raise ValueError(f"duration: {text!r}")
    return int(match.group(1)) * units[match.group(2)]


# ---------------------------------------------------------------- webhook sink

class WebhookSink:
    """examples/webhook_sink.py as a process, recording every request to a JSONL file."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.jsonl = workdir / "notifications.jsonl"
        self.jsonl.touch()
        self.proc = Proc([sys.executable, str(SINK), "--listen", f"127.0.0.1:{self.port}",
                          "--jsonl", str(self.jsonl)], log=workdir / "sink.log")
        wait_http(f"{self.url}/-/healthy", timeout=15)

    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far, oldest first."""
        lines = self.jsonl.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def alerts(self) -> list[tuple[float, str, dict[str, str]]]:
        """(received_at, status, labels) of every alert in every notification."""
        return [(req["received_at"], alert.get("status", req["payload"].get("status")),
                 alert.get("labels", {}))
                for req in self.requests() for alert in req["payload"].get("alerts", [])]

    def notified(self, alertname: str, status: str | None = None, **labels: str
                 ) -> list[float]:
        """Receive times of the notifications carrying this alert (in this status)."""
        return [at for at, st, lab in self.alerts()
                if lab.get("alertname") == alertname and (status is None or st == status)
                and all(lab.get(k) == v for k, v in labels.items())]

    def summary(self) -> list[str]:
        """Every alert received, one short string each, for failure messages."""
        return [f"{st} {lab.get('alertname')} {lab.get('cause', '')}{lab.get('site', '')} "
                f"{lab.get('device', '')}" for _, st, lab in self.alerts()]

    def stop(self) -> None:
        """Stop the sink."""
        self.proc.stop()


# ---------------------------------------------------------------- dashboards

@dataclass(frozen=True)
class PanelQuery:
    """One query of one dashboard panel."""

    dashboard: str  # uid
    panel: str  # title
    ref: str
    expr: str
    instant: bool


def dashboards() -> dict[str, dict[str, Any]]:
    """uid → dashboard JSON of every committed dashboard."""
    out = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        out[doc["uid"]] = doc
    return out


def panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, including those nested in collapsed rows."""
    for panel in doc.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_queries() -> list[PanelQuery]:
    """Every query of every panel of every dashboard."""
    return [PanelQuery(uid, panel["title"], t["refId"], t["expr"], bool(t.get("instant")))
            for uid, doc in dashboards().items() for panel in panels(doc)
            for t in panel.get("targets", [])]


def annotation_queries() -> list[PanelQuery]:
    """Every Prometheus annotation query of every dashboard (e.g. maintenance windows)."""
    return [PanelQuery(uid, f"annotation {a['name']}", "", a["expr"], False)
            for uid, doc in dashboards().items()
            for a in doc.get("annotations", {}).get("list", []) if a.get("expr")]


def panel_expr(uid: str, title: str, values: dict[str, str] | None = None) -> str:
    """The single query of the panel ``title`` on dashboard ``uid``, variables filled."""
    found = [t["expr"] for p in panels(dashboards()[uid]) if p["title"] == title
             for t in p.get("targets", [])]
    assert len(found) == 1, f"{uid} / {title}: {len(found)} queries"
    return substitute(found[0], values or {})


def variable_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, variable name, label_values(...) query) of every query variable."""
    return [(uid, var["name"], var["query"]["query"] if isinstance(var["query"], dict)
             else var["query"])
            for uid, doc in dashboards().items()
            for var in doc.get("templating", {}).get("list", []) if var["type"] == "query"]


GRAFANA_RANGE_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with Grafana's interval variables and the given ``$name`` values filled in.

    Longest names first, so ``$site`` does not eat the start of ``$sites``. ``$1`` and the
    like are label_replace references, not variables (Grafana leaves them as they are).
    """
    table = {**GRAFANA_RANGE_VARIABLES, **{f"${k}": v for k, v in values.items()}}
    for name in sorted(table, key=len, reverse=True):
        expr = expr.replace(name, table[name])
    leftover = re.findall(r"\$(?!\d)\w+", expr)
    if leftover:
        raise ValueError(f"unsubstituted variables {leftover} in {expr!r}")
    return expr


def label_values_query(query: str) -> tuple[str, str]:
    """``label_values(selector, label)`` → (selector, label)."""
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
    if not match:
        raise ValueError(f"not a label_values() query: {query!r}")
    return match.group(1), match.group(2)
