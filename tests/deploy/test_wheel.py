"""The wheel works outside a checkout: built from this checkout, installed into a fresh
virtualenv in a temporary directory, its ``wardops-exporter init`` writes the shipped
rules, dashboards, example configs and docs, both programs check those configs, and the
exporter runs from the wheel (not from the checkout) and serves the example inventory.

The fresh virtualenv takes the dependencies from the suite's own virtualenv (a path
appended with a .pth file, after its own site-packages) so that the test needs no
package index; wardops itself comes only from the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import requests

from tests.support import REPO, Proc, free_port, wait_for


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env)


def test_the_wheel_installs_and_runs_outside_the_checkout(netns: None, tmp_path: Path) -> None:
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "-q", "-w", str(tmp_path / "dist"), str(REPO), cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("wardops-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = _run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                cwd=tmp_path).stdout.strip()
    # dependencies from the suite's virtualenv, after the new one's own packages
    (Path(site) / "deps-from-suite.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run(sys.executable, "-m", "pip", "--python", str(python), "install",
                     "--no-deps", "-q", str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]

    where = _run(str(python), "-c", "import alerter, exporter, wardops_data; "
                 "print(alerter.__file__, exporter.__file__, wardops_data.__file__)",
                 cwd=tmp_path).stdout.split()
    assert where and all(path.startswith(str(env_dir)) for path in where), where

    etc = tmp_path / "etc"
    init = _run(str(env_dir / "bin" / "wardops-exporter"), "init", str(etc), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    for shipped in ("rules/wardops.yml", "rules/snmp.yml", "rules/recording/availability.yml",
                    "grafana/dashboards/fleet-overview.json",
                    "grafana/provisioning/datasources/wardops.yml", "examples/devices.yml",
                    "examples/alerter.yml", "prometheus.yml", "docs/runbooks.md"):
        assert (etc / shipped).is_file(), shipped
    again = _run(str(env_dir / "bin" / "wardops-exporter"), "init", str(etc), cwd=tmp_path)
    assert "all there already" in again.stdout  # an operator's edits are never overwritten

    check = _run(str(env_dir / "bin" / "wardops-exporter"), "check-config",
                 str(etc / "examples" / "devices.yml"), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    env = {"ONCALL_WEBHOOK_URL": "http://127.0.0.1:9/oncall", "ONCALL_HMAC": "x" * 32,
           "CHAT_WEBHOOK_URL": "http://127.0.0.1:9/chat",
           "DEADMANS_SWITCH_URL": "http://127.0.0.1:9/dms", "WARDOPS_API_TOKEN": "t" * 32}
    alerter_check = subprocess.run(
        [str(env_dir / "bin" / "wardops-alerter"), "check-config",
         str(etc / "examples" / "alerter.yml")], capture_output=True, text=True, timeout=120,
        cwd=tmp_path, env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **env})
    assert alerter_check.returncode == 0, alerter_check.stderr

    port = free_port()
    exporter = Proc([str(env_dir / "bin" / "wardops-exporter"), "--config",
                     str(etc / "examples" / "devices.yml"), "--web.listen-address",
                     f"127.0.0.1:{port}", "--state-file", ""], log=tmp_path / "exporter.log",
                    cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    try:
        text = wait_for(lambda: _metrics(port), timeout=30, what="the wheel's exporter")
        assert "wardops_device_info{" in text
    finally:
        exporter.stop()
    assert REPO not in Path(where[0]).parents


def _metrics(port: int) -> str | None:
    try:
        resp = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except requests.RequestException:
        return None
    return resp.text if resp.status_code == 200 else None
