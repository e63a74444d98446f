"""Our fingerprints are Alertmanager's: checked against a real Alertmanager on loopback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from alerter.model import fingerprint
from tests.support import Proc, free_port, wait_http

LABEL_SETS = [
    {"alertname": "DeviceDown", "site": "Kharagauli", "device": "Kharagauli-ATM",
     "address": "10.199.78.163", "severity": "critical"},
    {"alertname": "Watchdog"},
    {"alertname": "SiteDown", "site": "თბილისი", "region": "Imereti"},  # non-ASCII values
]


def test_fingerprints_equal_alertmanagers(tmp_path: Path) -> None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (scripts/bootstrap test installs it)")
    config = tmp_path / "am.yml"
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
    port = free_port()
    am = Proc([binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
              log=tmp_path / "am.log")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/-/ready", timeout=30)
        resp = requests.post(base + "/api/v2/alerts", json=[{"labels": ls} for ls in LABEL_SETS],
                             timeout=5)
        assert resp.status_code == 200, resp.text
        got = {a["labels"]["alertname"] + a["labels"].get("site", ""): a["fingerprint"]
               for a in requests.get(base + "/api/v2/alerts", timeout=5).json()}
        assert got == {ls["alertname"] + ls.get("site", ""): fingerprint(ls) for ls in LABEL_SETS}
    finally:
        am.stop()
