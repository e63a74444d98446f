"""Fixtures of the evaluation tests: the target, Prometheus and VictoriaMetrics."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerter.harness import TSDB, FakeExporter


@pytest.fixture
def exporter() -> Iterator[FakeExporter]:
    target = FakeExporter()
    yield target
    target.close()


def _tsdb(kind: str, binary: str, exporter: FakeExporter, workdir: Path) -> Iterator[TSDB]:
    if not shutil.which(binary):
        pytest.skip(f"{binary} is not installed (scripts/bootstrap installs it)")
    tsdb = TSDB(kind, exporter.port, workdir).start()
    yield tsdb
    tsdb.stop()


@pytest.fixture
def prometheus(netns: None, exporter: FakeExporter, tmp_path: Path) -> Iterator[TSDB]:
    """A real Prometheus scraping ``exporter`` every second."""
    yield from _tsdb("prometheus", "prometheus", exporter, tmp_path / "prometheus")


@pytest.fixture
def victoriametrics(netns: None, exporter: FakeExporter, tmp_path: Path) -> Iterator[TSDB]:
    """A real single-node VictoriaMetrics scraping ``exporter`` every second."""
    yield from _tsdb("victoriametrics", "victoria-metrics", exporter, tmp_path / "vm")
