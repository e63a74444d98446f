"""Real parts for the evaluation tests: a metrics target, Prometheus, VictoriaMetrics.

``FakeExporter`` is a real HTTP /metrics endpoint (prometheus_client) on loopback that
serves the wardops exporter's metric names with values a test sets; Prometheus (or
VictoriaMetrics) scrapes it every second, and the alerter queries that server over HTTP.
``RecordingPipeline`` stands in for the notification pipeline and records what reaches it.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import requests
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tests.support import Proc, free_port, wait_for, wait_http

LABELS = ("device", "address", "site", "type")


class FakeExporter(Collector):
    """Serves wardops_device_* for a set of devices whose state the test controls."""

    def __init__(self) -> None:
        self.devices: dict[tuple[str, str, str, str], dict[str, float]] = {}
        self.stale_probes = False       # True: last probe timestamps stop advancing
        self._frozen_probe_time = 0.0
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", self.registry)

    def add(self, device: str, site: str = "Tbilisi", up: bool = True, address: str = "",
            dtype: str = "router") -> tuple[str, str, str, str]:
        key = (device, address or f"127.20.0.{len(self.devices) + 1}", site, dtype)
        self.devices[key] = {"up": 1.0 if up else 0.0, "down_since": 0.0 if up else time.time(),
                             "changes": 0.0}
        return key

    def set_up(self, key: tuple[str, str, str, str], up: bool) -> None:
        state = self.devices[key]
        if (state["up"] == 1.0) != up:
            state["changes"] += 1
        state["up"] = 1.0 if up else 0.0
        state["down_since"] = 0.0 if up else (state["down_since"] or time.time())

    def freeze_probes(self) -> None:
        self._frozen_probe_time = time.time() - 3600
        self.stale_probes = True

    def collect(self):  # type: ignore[no-untyped-def]
        up = GaugeMetricFamily("wardops_device_up", "up", labels=LABELS)
        since = GaugeMetricFamily("wardops_device_down_since_timestamp_seconds", "since",
                                  labels=LABELS)
        probe = GaugeMetricFamily("wardops_device_last_probe_timestamp_seconds", "probe",
                                  labels=LABELS)
        changes = CounterMetricFamily("wardops_device_state_changes", "changes", labels=LABELS)
        now = self._frozen_probe_time if self.stale_probes else time.time()
        for key, state in list(self.devices.items()):
            up.add_metric(key, state["up"])
            since.add_metric(key, state["down_since"])
            probe.add_metric(key, now)
            changes.add_metric(key, state["changes"])
        yield from (up, since, probe, changes)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TSDB:
    """A Prometheus or VictoriaMetrics process scraping one target every second."""

    def __init__(self, kind: str, target_port: int, workdir: Path) -> None:
        self.kind = kind
        self.target_port = target_port
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "scrape.yml"
        self.config.write_text(textwrap.dedent(f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 900ms
            scrape_configs:
              - job_name: wardops-exporter
                static_configs:
                  - targets: ['127.0.0.1:{target_port}']
            """))

    def start(self) -> TSDB:
        if self.kind == "prometheus":
            args = ["prometheus", f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
                    "--log.level=warn"]
            ready = "/-/ready"
        else:
            args = ["victoria-metrics", f"-promscrape.config={self.config}",
                    f"-storageDataPath={self.workdir / 'vmdata'}",
                    f"-httpListenAddr=127.0.0.1:{self.port}", "-search.latencyOffset=0s",
                    "-loggerLevel=WARN"]
            ready = "/health"
        self.proc = Proc(args, log=self.workdir / f"{self.kind}.log")
        wait_http(self.url + ready, timeout=30)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def query(self, expr: str) -> list[dict]:
        resp = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5)
        resp.raise_for_status()
        return resp.json()["data"]["result"]

    def wait_value(self, expr: str, value: float, timeout: float = 20) -> None:
        """Wait until ``expr`` returns exactly one sample equal to ``value``."""
        def check() -> bool:
            result = self.query(expr)
            return len(result) == 1 and float(result[0]["value"][1]) == value
        wait_for(check, timeout=timeout, what=f"{expr} == {value} in {self.kind}")


class RecordingPipeline:
    """Stands in for the notification pipeline: records every ``process`` call."""

    def __init__(self) -> None:
        self.batches: list[list] = []

    def process(self, alerts: list) -> None:
        self.batches.append(list(alerts))

    def pending_resolves(self) -> set[str]:
        """Nothing waits here: every resolve counts as flushed once handed over."""
        return set()

    @property
    def last(self) -> dict[str, object]:
        """name/device → state of the last batch."""
        return {_key(a): a.state for a in (self.batches[-1] if self.batches else [])}


def _key(alert) -> str:  # type: ignore[no-untyped-def]
    labels = alert.labels
    return labels.get("device") or labels.get("cause") or labels["alertname"]


def write_config(tmp_path: Path, url: str, rules: str, extra: str = "") -> Path:
    """An alerter config in tmp_path with one rule file."""
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "test.yml").write_text(textwrap.dedent(rules))
    config = tmp_path / "alerter.yml"
    config.write_text(textwrap.dedent(f"""\
        prometheus:
          url: {url}
          timeout: 2s
        evaluation_interval: 1s
        rule_files: [rules/*.yml]
        state_dir: state
        external_url: http://alerter.test:9470
        """) + textwrap.dedent(extra))
    return config


def make_evaluator(config_path: Path, pipeline: RecordingPipeline):  # type: ignore[no-untyped-def]
    """An in-process Evaluator over real HTTP, with a fresh registry."""
    from alerter.config import load_config
    from alerter.evaluator import Evaluator
    from alerter.metrics import EvalMetrics
    from alerter.state import StateStore

    config = load_config(config_path)
    registry = CollectorRegistry()
    holder: list = []
    metrics = EvalMetrics(registry, alerts=lambda: holder[0].alerts() if holder else [])
    evaluator = Evaluator(config, StateStore(config.state_dir), pipeline, metrics)
    holder.append(evaluator)
    evaluator.registry = registry  # type: ignore[attr-defined]
    return evaluator
