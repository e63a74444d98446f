"""A test lab: exporters started as real processes in the private netns, a firewall that
takes loopback "devices" down and up, and a /metrics reader."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Proc, free_port, wait_for, wait_http
from tests.support.nft import Firewall


class Exporter:
    """One running ``python -m exporter`` and ways to look at it."""

    def __init__(self, config: Path, state_file: Path, log: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc.python("exporter", "--config", str(config), "--web.listen-address",
                                f"127.0.0.1:{self.port}", "--state-file", str(state_file),
                                "--log.level", "debug", "--web.enable-lifecycle", *extra,
                                log=log)
        self.started = time.time()
        try:
            wait_http(self.url + "/-/healthy", timeout=15)
        except AssertionError:
            self.proc.stop(kill=True)
            raise AssertionError(f"exporter did not start:\n{self.proc.output()}") from None

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        text = requests.get(self.url + "/metrics", timeout=5).text
        return [(s.name, s.labels, s.value)
                for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the one series of ``name`` whose labels include ``labels``."""
        found = [v for n, lbl, v in self.samples()
                 if n == name and all(lbl.get(k) == x for k, x in labels.items())]
        assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
        return found[0] if found else None

    def device(self, name: str) -> dict[str, float]:
        """{metric name: value} of one device's series."""
        return {n: v for n, lbl, v in self.samples() if lbl.get("device") == name}

    def wait_device(self, name: str, what: str, timeout: float, **want: float) -> dict[str, float]:
        """Wait until the device's series have the wanted values."""
        def check() -> dict[str, float] | None:
            series = self.device(name)
            return series if all(series.get(k) == v for k, v in want.items()) else None
        return wait_for(check, timeout=timeout, interval=0.05, what=f"{name} {what}")

    def reload(self) -> requests.Response:
        return requests.post(self.url + "/-/reload", timeout=35)

    def sighup(self) -> None:
        self.proc.signal(signal.SIGHUP)

    def stop(self, kill: bool = False) -> int | None:
        return self.proc.stop(kill=kill)


class Lab:
    """Config files, exporters and the firewall of one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.firewall = Firewall()
        self.state_file = tmp_path / "state.json"
        self.config = tmp_path / "devices.yml"
        self.exporters: list[Exporter] = []

    def write_config(self, text: str) -> Path:
        self.config.write_text(text)
        return self.config

    def start(self, *extra: str) -> Exporter:
        log = self.dir / f"exporter-{len(self.exporters)}.log"
        exporter = Exporter(self.config, self.state_file, log, *extra)
        self.exporters.append(exporter)
        return exporter

    def close(self) -> None:
        for exporter in self.exporters:
            exporter.stop(kill=True)
        self.firewall.close()


@pytest.fixture
def lab(netns: None, tmp_path: Path) -> Iterator[Lab]:
    """A lab in the private network namespace."""
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()
