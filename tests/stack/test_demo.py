"""README command 1 (scripts/demo): the stack starts, notifies, and stops cleanly.

Runs scripts/demo.py (what scripts/demo execs after bootstrapping) in the test's network
namespace, where its fixed ports (9469, 9470, 9090, 9099) are free.
"""

from __future__ import annotations

import json
import signal
import socket
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


def test_demo_piped_into_tee_stops_everything_on_ctrl_c(netns: None, tmp_path: Path) -> None:
    """``scripts/demo | tee log`` and Ctrl-C: the terminal's SIGINT ends tee and the demo
    together, so every later print meets a closed pipe. The demo must still stop the sink,
    exporter, Prometheus and alerter (it used to die at the first print, leaving them
    running and holding their ports), and exit 0."""
    run_dir = tmp_path / "run"
    demo = subprocess.Popen([sys.executable, str(REPO / "scripts" / "demo.py"),
                             "--run-dir", str(run_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=python_env(), cwd=REPO,
                            start_new_session=True)
    assert demo.stdout is not None
    seen = b""
    try:
        while b"wardops demo is running" not in seen:  # tee, reading until it is up
            chunk = demo.stdout.read1(65536)
            assert chunk, f"the demo ended before it was up: {seen.decode(errors='replace')}"
            seen += chunk
        demo.stdout.close()  # tee is gone ...
        demo.send_signal(signal.SIGINT)  # ... by the same Ctrl-C
        assert demo.wait(timeout=90) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
    for port in (9469, 9470, 9090, 9099):
        wait_for(lambda port=port: port_free(port), timeout=10,
                 what=f"port {port} to be released by the stopped stack")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
