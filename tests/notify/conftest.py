"""Fixtures: real loopback webhook receivers and started notification pipelines."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.model import Alert
from alerter.notify import NotificationPipeline
from alerter.notify.config import parse_notify_config
from tests.notify.receiver import Receiver
from tests.support import Proc, free_port, wait_http


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]

    yield make
    for r in made:
        r.down()


@pytest.fixture
def receiver(receivers: Callable[[], Receiver]) -> Receiver:
    return receivers()


PipelineFactory = Callable[..., NotificationPipeline]
EXTERNAL_URL = "http://alerts.bank.test"


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``start(config_yaml) -> base URL`` of the real Alertmanager (Debian's 0.25) on
    loopback, with ``EXTERNAL_URL``; stopped afterwards."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (scripts/bootstrap test installs it)")
    procs: list[Proc] = []

    def start(config: str) -> str:
        path = tmp_path / "am.yml"
        path.write_text(config)
        port = free_port()
        procs.append(Proc([binary, f"--config.file={path}", f"--storage.path={tmp_path / 'am'}",
                           f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                           f"--web.external-url={EXTERNAL_URL}", "--web.route-prefix=/"],
                          log=tmp_path / "am.log"))
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/-/ready", timeout=30)
        return base

    yield start
    for proc in procs:
        proc.stop()


@pytest.fixture
def pipeline_factory(tmp_path: Path) -> Iterator[PipelineFactory]:
    """``make(config_dict, state_dir=None, **kw)`` -> a started pipeline, stopped afterwards."""
    started: list[NotificationPipeline] = []

    def make(config: dict[str, Any], state_dir: Path | None = None,
             **kw: Any) -> NotificationPipeline:
        p = NotificationPipeline(parse_notify_config(config, base_dir=tmp_path),
                                 state_dir or tmp_path / "state",
                                 external_url="http://alerter.test:9470", **kw)
        p.start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


def firing(name: str = "DeviceDown", starts_at: float | None = None, **labels: str) -> Alert:
    return Alert(labels={"alertname": name, **labels},
                 annotations={"summary": f"{labels.get('device', name)} is DOWN"},
                 state="firing", starts_at=starts_at or time.time(),
                 generator_url="http://prometheus.test/graph")


def resolved(alert: Alert) -> Alert:
    return Alert(labels=alert.labels, annotations=alert.annotations, state="resolved",
                 starts_at=alert.starts_at, ends_at=time.time(),
                 generator_url=alert.generator_url)


def hook_config(url: str, group_wait: str = "0.3s", group_interval: str = "1s",
                repeat_interval: str = "1h", **hook: Any) -> dict[str, Any]:
    """One receiver ``r`` with one webhook, grouped by site."""
    return {"route": {"receiver": "r", "group_by": ["site"], "group_wait": group_wait,
                      "group_interval": group_interval, "repeat_interval": repeat_interval},
            "receivers": [{"name": "r", "webhook_configs": [{"url": url, **hook}]}]}


def queued_rows(state: Path) -> list[tuple[str, int, str]]:
    """(idempotency key, attempts, status) of every row in a pipeline's queue."""
    db = state / "notify.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT idempotency_key, attempts, status FROM queue").fetchall()


#: a pipeline process that queues one DeviceDown for ``argv[1]`` (a receiver's
#: integrations as JSON) with its state in ``argv[2]`` and waits to be killed
HOLD_SCRIPT = """
import json, sys, time
from pathlib import Path
from alerter.model import Alert
from alerter.notify import NotificationPipeline
from alerter.notify.config import parse_notify_config
integrations, state = json.loads(sys.argv[1]), sys.argv[2]
cfg = parse_notify_config({"route": {"receiver": "r", "group_wait": "0s"},
                           "receivers": [{"name": "r", **integrations}]})
p = NotificationPipeline(cfg, Path(state), external_url="http://x")
p.start()
p.process([Alert({"alertname": "DeviceDown", "site": "A", "device": "a1"}, {}, "firing",
                 1795000000.0)])
while True:
    time.sleep(1)
"""
