"""Real parts for the Alertmanager-API tests: alerter processes, amtool, Alertmanager.

A lab is a ``FakeExporter`` (real /metrics on loopback) scraped every second by a real
Prometheus, one or more ``python -m alerter`` processes evaluating ``DeviceDown`` against
it, and real webhook receivers. ``amtool`` and ``prometheus-alertmanager`` are the
Debian binaries.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.alerter.harness import TSDB, FakeExporter
from tests.support import Proc, free_port, python_env, wait_for, wait_http

TOKEN = "amapi-test-token"
RULES = """\
groups:
  - name: devices
    interval: 1s
    rules:
      - alert: DeviceDown
        expr: wardops_device_up == 0
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.device }} at {{ $labels.site }} is down"
"""


class Alerter:
    """One ``python -m alerter`` process on a free loopback port."""

    def __init__(self, workdir: Path, prometheus_url: str, notify_yaml: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "rules.yml").write_text(RULES)
        self.config = workdir / "alerter.yml"
        self.config.write_text(textwrap.dedent(f"""\
            prometheus: {{url: "{prometheus_url}", timeout: 2s}}
            evaluation_interval: 1s
            rule_files: [rules.yml]
            state_dir: state
            external_url: http://alerter.test:9470
            api: {{bearer_token_env: WARDOPS_API_TOKEN}}
            """) + textwrap.dedent(notify_yaml))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc.python("alerter", "--config", str(self.config),
                                "--web.listen-address", f"127.0.0.1:{self.port}",
                                log=workdir / "alerter.log",
                                env=python_env(WARDOPS_API_TOKEN=TOKEN))
        wait_http(self.url + "/-/ready", timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        resp = requests.get(self.url + path, params=params, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(self.url + "/metrics", timeout=5).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v
                                               for k, v in labels.items()):
                    total += sample.value
        return total

    def stop(self) -> None:
        self.proc.stop()


class Lab:
    """Exporter + Prometheus shared by the alerters a test starts."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.exporter = FakeExporter()
        self.prometheus = TSDB("prometheus", self.exporter.port, workdir / "prometheus").start()
        self.alerters: list[Alerter] = []

    def alerter(self, notify_yaml: str, name: str = "alerter") -> Alerter:
        a = Alerter(self.workdir / name, self.prometheus.url, notify_yaml)
        self.alerters.append(a)
        return a

    def close(self) -> None:
        for a in self.alerters:
            a.stop()
        self.prometheus.stop()
        self.exporter.close()


@pytest.fixture
def lab(netns: None, tmp_path: Path) -> Iterator[Lab]:
    for binary in ("prometheus", "amtool", "prometheus-alertmanager"):
        if not shutil.which(binary):
            pytest.skip(f"{binary} is not installed (scripts/bootstrap installs it)")
    made = Lab(tmp_path)
    yield made
    made.close()


AmtoolRun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def amtool(tmp_path: Path) -> Callable[[str], AmtoolRun]:
    """``amtool(url)(*args, auth="bearer"|"basic"|None|"wrong")`` runs the real amtool."""
    configs = {
        "bearer": f"authorization:\n  type: Bearer\n  credentials: {TOKEN}\n",
        "basic": f"basic_auth:\n  username: noc-operator\n  password: {TOKEN}\n",
        "wrong": "authorization:\n  type: Bearer\n  credentials: not-the-token\n",
    }
    for name, text in configs.items():
        (tmp_path / f"amtool-{name}.yml").write_text(text)

    def bind(url: str) -> AmtoolRun:
        def run(*args: str, auth: str | None = "bearer") -> subprocess.CompletedProcess[str]:
            cmd = ["amtool", f"--alertmanager.url={url}", "--timeout=10s"]
            if auth is not None:
                cmd.append(f"--http.config.file={tmp_path / f'amtool-{auth}.yml'}")
            return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=30)
        return run
    return bind


def amtool_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Alertmanager:
    """A real Alertmanager (Debian's) on loopback, clustering off."""

    def __init__(self, workdir: Path, webhook_url: str, port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(textwrap.dedent(f"""\
            route:
              receiver: hook
              group_by: [alertname, device]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: hook
                webhook_configs:
                  - url: {webhook_url}
                    send_resolved: true
            """))
        self.proc: Proc | None = None

    def start(self) -> Alertmanager:
        self.proc = Proc(["prometheus-alertmanager", f"--config.file={self.config}",
                          f"--storage.path={self.workdir / 'data'}",
                          f"--web.listen-address=127.0.0.1:{self.port}",
                          "--cluster.listen-address=", "--log.level=warn"],
                         log=self.workdir / "alertmanager.log")
        wait_http(self.url + "/-/ready", timeout=30)
        return self

    def alerts(self) -> list[dict[str, Any]]:
        resp = requests.get(self.url + "/api/v2/alerts", timeout=5)
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


def wait_metric(alerter: Alerter, name: str, at_least: float, timeout: float = 30,
                **labels: str) -> float:
    """Wait until the alerter's metric reaches ``at_least``; return its value."""
    def check() -> float | None:
        value = alerter.metric(name, **labels)
        return value if value >= at_least else None
    return wait_for(check, timeout=timeout, what=f"{name}{labels} >= {at_least}")
