"""README command 1 (scripts/demo): the stack starts, notifies, and stops cleanly; with
root it plays the daily loop in a branch namespace of its own.

Runs scripts/demo.py (what scripts/demo execs after bootstrapping) in the test's network
namespace, where its fixed ports (9469, 9470, 9090, 9099) are free; the branch namespace
the loop builds is reached from the test's namespace, so nothing touches the host's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, python_env, wait_for


def test_demo_starts_the_stack_notifies_and_stops_on_ctrl_c(netns: None, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = tmp_path / "demo.out"
    with open(out, "wb") as fh:
        demo = subprocess.Popen([sys.executable, str(REPO / "scripts" / "demo.py"),
                                 "--run-dir", str(run_dir), "--no-loop"], stdout=fh,
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
    assert "no daily loop (--no-loop)" in text, text
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
                             "--run-dir", str(run_dir), "--no-loop"], stdout=subprocess.PIPE,
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


# What the loop's notifications must be, in order (Watchdog aside): (status, alertname,
# receiver, device or isp). The router's own DeviceDown may come (and resolve) while the
# branch is dark, or be inhibited by SiteDown; nothing else may.
LOOP = [("firing", "IspPathDown", "demo-sink", "Silknet"),
        ("resolved", "IspPathDown", "demo-sink", "Silknet"),
        ("firing", "DeviceDown", "demo-sink", "Kutaisi-ATM"),
        ("firing", "DeviceDown", "demo-oncall", "Kutaisi-ATM"),  # escalation level 1
        # the ack: no demo-manager (level 2); the resolve goes to both who were told
        ("resolved", "DeviceDown", "demo-oncall", "Kutaisi-ATM"),
        ("resolved", "DeviceDown", "demo-sink", "Kutaisi-ATM"),
        ("firing", "SiteDown", "demo-sink", ""),
        ("resolved", "SiteDown", "demo-sink", "")]


@pytest.mark.skipif(os.geteuid() != 0, reason="the daily loop needs root")
def test_demo_plays_the_daily_loop_with_real_outages(netns: None, tmp_path: Path) -> None:
    """Every step's notification arrives, in order; the acknowledgement stops the
    manager's escalation; nothing is paged for the devices cut off behind the dark
    router; the namespace (a leftover of a "killed" run at start, the demo's own at the
    end) is gone."""
    netns_name = f"wdemo-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns_name], check=True)  # as a kill -9 leaves it
    run_dir = tmp_path / "run"
    out = tmp_path / "demo.out"
    with open(out, "wb") as fh:
        demo = subprocess.Popen([sys.executable, str(REPO / "scripts" / "demo.py"),
                                 "--run-dir", str(run_dir), "--branch-netns", netns_name,
                                 "--report", str(tmp_path / "report")],
                                stdout=fh, stderr=subprocess.STDOUT, env=python_env(),
                                cwd=REPO)
        try:
            wait_for(lambda: "The daily loop is done" in out.read_text()
                     or demo.poll() is not None, timeout=240,
                     what=f"the daily loop to finish (output: {out})")
            assert demo.poll() is None, out.read_text()
            demo.send_signal(signal.SIGINT)
            assert demo.wait(timeout=60) == 0, out.read_text()
        finally:
            if demo.poll() is None:
                demo.kill()
            subprocess.run(["ip", "netns", "del", netns_name], check=False,
                           capture_output=True)
    text = out.read_text()
    assert f"removed the namespace {netns_name} and links left by an earlier run" in text
    assert f"removed the branch namespace {netns_name}" in text, text
    assert not (Path("/run/netns") / netns_name).exists()
    for link in ("wdemo-magti", "wdemo-silknet"):
        assert subprocess.run(["ip", "link", "show", link], capture_output=True).returncode
    got = []
    for line in (run_dir / "sink" / "notifications.jsonl").read_text().splitlines():
        record = json.loads(line)
        payload = record["payload"]
        for alert in payload["alerts"]:
            labels = alert["labels"]
            if labels["alertname"] != "Watchdog":
                got.append((alert["status"], labels["alertname"], payload["receiver"],
                            labels.get("isp") or labels.get("device", "")))
    router = [n for n in got if n[3] == "Kutaisi-Router"]
    assert router in ([], [("firing", "DeviceDown", "demo-sink", "Kutaisi-Router"),
                           ("resolved", "DeviceDown", "demo-sink", "Kutaisi-Router")]), got
    # in order, each once, and nothing else: no manager, no switch, no second ATM page,
    # no DeviceFlapping. The ATM's two resolves are sent at the same moment (the on-call
    # level's from the escalation state, the sink's at its group's flush): either first.
    rest = [n for n in got if n not in router]
    assert rest[:4] + sorted(rest[4:6]) + rest[6:] == LOOP, got
    # and the terminal told it as it happened
    steps = ["1. Silknet stops", "2. Kutaisi-ATM goes down", "3. Nobody acknowledges",
             "Acknowledge button", "Nothing went to the manager", "4. Kutaisi-Router goes down",
             "No DeviceDown for Kutaisi-Switch or Kutaisi-ATM", "5. Everything returns"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions), text
    # --report: the run's availability report, written at Ctrl-C, has the loop's outages
    outages = (tmp_path / "report" / "outages.csv").read_text()
    assert {line.split(",")[0] for line in outages.splitlines()[1:]} == {
        "Kutaisi-Router", "Kutaisi-Switch", "Kutaisi-ATM"}, outages


@pytest.mark.skipif(os.geteuid() != 0, reason="the daily loop needs root")
def test_demo_killed_mid_loop_leaves_nothing_behind(netns: None, tmp_path: Path) -> None:
    """kill -9 while the loop runs (an outage in place): the stack's programs stop and
    the branch namespace goes, without the demo's own clean-up."""
    netns_name = f"wdemo-kill-{os.getpid()}"
    out = tmp_path / "demo.out"
    with open(out, "wb") as fh:
        demo = subprocess.Popen([sys.executable, str(REPO / "scripts" / "demo.py"),
                                 "--run-dir", str(tmp_path / "run"), "--branch-netns",
                                 netns_name], stdout=fh, stderr=subprocess.STDOUT,
                                env=python_env(), cwd=REPO)
        try:
            wait_for(lambda: "1. Silknet stops" in out.read_text() or demo.poll() is not None,
                     timeout=90, what=f"the loop's first outage (output: {out})")
            assert demo.poll() is None, out.read_text()
            assert (Path("/run/netns") / netns_name).exists()
            demo.kill()
            demo.wait(timeout=10)
            for port in (9469, 9470, 9090, 9099):
                wait_for(lambda port=port: port_free(port), timeout=20,
                         what=f"port {port} released after the demo was killed")
            wait_for(lambda: not (Path("/run/netns") / netns_name).exists(), timeout=20,
                     what=f"the namespace {netns_name} removed after the demo was killed")
        finally:
            if demo.poll() is None:
                demo.kill()
            subprocess.run(["ip", "netns", "del", netns_name], check=False,
                           capture_output=True)
    assert "removed the branch namespace" not in out.read_text()  # it was not the demo
    assert "demo-reaper: the demo died; stopped 4 program(s)" in out.read_text()
