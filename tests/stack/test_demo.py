"""README command 1 (scripts/demo): the stack starts, notifies, and stops cleanly.

Runs scripts/demo.py (what scripts/demo execs after bootstrapping) in the test's network
namespace, where its fixed ports (9469, 9470, 9090, 9099) are free.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import REPO, python_env, wait_for


def test_demo_starts_the_stack_notifies_and_stops_on_ctrl_c(netns: None, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = tmp_path / "demo.out"
    with open(out, "wb") as fh:
        demo = subprocess.Popen([sys.executable, str(REPO / "scripts" / "demo.py"),
                                 "--run-dir", str(run_dir)], stdout=fh,
                                stderr=subprocess.STDOUT, env=python_env(), cwd=REPO)
        try:
            wait_for(lambda: "wardops demo is running" in out.read_text(), timeout=90,
                     what=f"the demo to start (output: {out})")
            notifications = run_dir / "sink" / "notifications.jsonl"
            wait_for(lambda: "Watchdog" in notifications.read_text(), timeout=30,
                     what="the Watchdog notification at the demo sink")
            demo.send_signal(signal.SIGINT)  # what Ctrl-C sends
            assert demo.wait(timeout=60) == 0, out.read_text()
        finally:
            if demo.poll() is None:
                demo.kill()
    text = out.read_text()
    for name in ("sink", "exporter", "prometheus", "alerter"):
        assert f"stopped {name} (exit status 0)" in text, text
    # The notification is printed readably, after the start-up progress.
    assert text.index("wardops demo is running") < text.index("FIRING   Watchdog"), text
    for url in ("http://127.0.0.1:9469/", "http://127.0.0.1:9090/targets",
                "http://127.0.0.1:9470/api/v1/alerts"):
        assert url in text
    # Everything the stack kept is under the one run folder.
    assert json.loads((run_dir / "exporter" / "state.json").read_text())
    assert any((run_dir / "prometheus").iterdir())
    assert any((run_dir / "alerter").iterdir())
    assert (run_dir / "logs" / "prometheus.log").exists()
