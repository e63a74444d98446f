"""A real Prometheus holding a backfilled month with known truth (tests/report/history.py)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.report.history import History, month_scenario, write_openmetrics
from tests.support import REPO, Proc, free_port, wait_http

MONTH_START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
MONTH_END = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
INTERVAL = 60


@dataclass
class Backfilled:
    url: str
    history: History
    root: Path


class Prometheus:
    """prometheus on a loopback port over a given TSDB directory (no scrapes)."""

    def __init__(self, root: Path, data: Path) -> None:
        self.root, self.data = root, data
        self.config = root / "prometheus.yml"
        self.config.write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None

    def start(self) -> None:
        self.proc = Proc(["prometheus", f"--config.file={self.config}",
                          f"--storage.tsdb.path={self.data}",
                          "--storage.tsdb.retention.time=20y",
                          f"--web.listen-address=127.0.0.1:{self.port}"],
                         log=self.root / "prometheus.log")
        wait_http(self.url + "/-/ready", timeout=120)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def add_blocks(self, directory: Path) -> None:
        """Move promtool's blocks into the TSDB (Prometheus stopped meanwhile)."""
        self.stop()
        for block in directory.iterdir():
            if block.is_dir():
                shutil.move(str(block), self.data / block.name)
        self.start()


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=cwd)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def backfill_rules(prom: Prometheus, root: Path, group: str, prefix: str, start: int,
                   end: int) -> None:
    """Evaluate the rules of ``group`` whose names start with ``prefix`` over the TSDB with
    promtool and add the result: Prometheus's own rule evaluation, on history."""
    doc = yaml.safe_load((REPO / "rules/recording/availability.yml").read_text())
    chosen = [{**g, "rules": [r for r in g["rules"] if r["record"].startswith(prefix)]}
              for g in doc["groups"] if g["name"] == group]
    rules = root / f"rules-{prefix}.yml"
    rules.write_text(yaml.safe_dump({"groups": chosen}))
    out = root / f"out-{prefix}"
    # The file is named relative to ``root``, never by its temporary path. A group's
    # evaluation offset is a hash of its name and its file's name as given; promtool 2.42
    # skips the evaluation at each 2-hour block boundary when that offset falls in the
    # interval's last second (it aligns block starts with time.Unix(), which truncates),
    # so one temporary directory in 300 gave a month with 5-minute blocks missing. These
    # names' offsets are 81.2 s (blocks, 5m) and 82.2 s / 23.2 s (long, 4m): never there.
    run("promtool", "tsdb", "create-blocks-from", "rules", f"--start={start}",
        f"--end={end}", f"--url={prom.url}", f"--output-dir={out}", rules.name, cwd=root)
    prom.add_blocks(out)


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    root = tmp_path_factory.mktemp("report")
    history = month_scenario(MONTH_START, MONTH_END, INTERVAL)
    source = root / "history.om"
    write_openmetrics(history, source)
    data = root / "data"
    # one block per 31 days: promtool reads the input once per block range
    run("promtool", "tsdb", "create-blocks-from", "openmetrics",
        "--max-block-duration=800h", str(source), str(data))
    source.unlink()
    prom = Prometheus(root, data)
    prom.start()
    try:
        # the 5-minute blocks, then the 30-day rollups at the month's end, then the sites
        # (promtool cannot read a rule's output in the pass that writes it)
        backfill_rules(prom, root, "wardops-availability-blocks", "wardops:", MONTH_START - 3600,
                       MONTH_END)
        backfill_rules(prom, root, "wardops-availability-long", "wardops:device_",
                       MONTH_END - 480, MONTH_END)
        backfill_rules(prom, root, "wardops-availability-long", "wardops:site_",
                       MONTH_END - 480, MONTH_END)
        yield Backfilled(prom.url, history, root)
    finally:
        prom.stop()
