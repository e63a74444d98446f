"""The command line: every subcommand has --help (exit 0); a busy port is one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Proc, free_port, python_env, wait_for, wait_http

SUBCOMMANDS = {
    "check-config": "Validate an alerter config",
    "test-receiver": "Send a sample notification to one receiver",
    "import-alertmanager-config": "Convert an Alertmanager alertmanager.yml",
}


def alerter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alerter", *args], check=False,
                          capture_output=True, text=True, env=python_env(), timeout=60)


def test_top_level_help_lists_the_subcommands() -> None:
    proc = alerter("--help")
    assert proc.returncode == 0, proc.stderr
    for name in SUBCOMMANDS:
        assert name in proc.stdout
    assert "--web.listen-address HOST:PORT" in proc.stdout


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_subcommand_help(command: str) -> None:
    proc = alerter(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: wardops-alerter {command} [-h] FILE")
    assert SUBCOMMANDS[command] in " ".join(proc.stdout.split())


@pytest.mark.parametrize(("args", "message"), [
    ((), "error: --config FILE is required"),
    (("check-config",), "error: the following arguments are required: FILE"),
    (("test-receiver", "x.yml"), "error: the following arguments are required: RECEIVER"),
])
def test_missing_arguments_exit_2(args: tuple[str, ...], message: str) -> None:
    proc = alerter(*args)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].endswith(message)


def test_listen_port_in_use_is_one_line_naming_the_address(tmp_path: Path) -> None:
    config = tmp_path / "alerter.yml"
    config.write_text("state_dir: state\n")
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        proc = alerter("--config", str(config), "--web.listen-address", f"127.0.0.1:{port}")
    # the same form as the exporter's: flag, address, reason; exit 1
    assert (proc.returncode, proc.stderr) == (
        1, f"wardops-alerter: --web.listen-address 127.0.0.1:{port}: address already in use\n")


def test_metrics_have_no_created_series(tmp_path: Path) -> None:
    config = tmp_path / "alerter.yml"
    (tmp_path / "rules.yml").write_text(
        "groups: [{name: g, rules: [{alert: A, expr: vector(1)}]}]\n")
    # an unreachable data source still evaluates (and counts) every cycle
    config.write_text(f"rule_files: [rules.yml]\nstate_dir: state\nevaluation_interval: 1s\n"
                      f"prometheus: {{url: 'http://127.0.0.1:{free_port()}'}}\n")
    port = free_port()
    proc = Proc.python("alerter", "--config", str(config), "--web.listen-address",
                       f"127.0.0.1:{port}", log=tmp_path / "alerter.log")
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def counted() -> str | None:
            text = wait_http(url).text
            return text if "wardops_alerter_rule_evaluation_failures_total{" in text else None
        body = wait_for(counted, what="a counted evaluation")
    finally:
        proc.stop()
    assert "wardops_alerter_evaluation_duration_seconds_bucket" in body   # a histogram
    assert "_created" not in body
