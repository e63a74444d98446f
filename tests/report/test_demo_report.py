"""scripts/demo --report DIR: at Ctrl-C the availability report of the demo's run is
written from its Prometheus before the stack stops."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support import REPO, python_env, wait_for


def test_demo_writes_the_report_of_its_run(netns: None, tmp_path: Path) -> None:
    run_dir, report = tmp_path / "run", tmp_path / "report"
    out = tmp_path / "demo.out"
    with open(out, "wb") as fh:
        demo = subprocess.Popen([sys.executable, str(REPO / "scripts" / "demo.py"),
                                 "--run-dir", str(run_dir), "--report", str(report),
                                 "--no-loop"],  # the loop's own report: tests/stack/test_demo.py
                                stdout=fh, stderr=subprocess.STDOUT, env=python_env(), cwd=REPO)
        try:
            wait_for(lambda: "wardops demo is running" in out.read_text(), timeout=90,
                     what=f"the demo to start (output: {out})")
            assert "wardops-report --prometheus http://127.0.0.1:9090 --from" in out.read_text()
            time.sleep(35)  # a few scrapes (every 15 s) of the example devices, all up
            demo.send_signal(signal.SIGINT)
            assert demo.wait(timeout=120) == 0, out.read_text()
        finally:
            if demo.poll() is None:
                demo.kill()
    text = out.read_text()
    assert f"report: {report / 'report.html'}" in text, text
    assert text.index("report: ") < text.index("stopped prometheus")
    with (report / "devices.csv").open(newline="") as f:
        devices = list(csv.DictReader(f))
    assert devices and all(d["outages"] == "0" for d in devices)
    assert all(0 < float(d["availability"]) <= 1 for d in devices)
    assert "<svg" in (report / "report.html").read_text()
