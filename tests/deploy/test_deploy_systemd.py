"""deploy/systemd: the unit files and the alerter's environment file, as an operator uses them.

The units are checked by systemd itself (``systemd-analyze verify``, with the install path
pointed at this checkout's virtualenv), their ExecStart flags against the programs' own
``--help``, the environment file by a real ``wardops-alerter check-config`` of
``examples/alerter.yml``, and docs/operations.md's claim about ICMP privileges by running the
exporter as an unprivileged user in the network namespace: with the unit's ambient
CAP_NET_RAW it uses raw sockets, without it datagram sockets (ping_group_range) or none.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from tests.support import REPO, Proc, free_port, python_env, wait_for

UNITS = REPO / "deploy" / "systemd"
ENV_FILE = UNITS / "wardops-alerter.env"
INSTALLED_BIN = "/opt/wardops/venv/bin/"
NOBODY = "65534"


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections → key → values of a systemd unit (continuation lines joined, comments dropped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    logical = re.sub(r"\\\n\s*", " ", path.read_text())
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path.name}: {line!r} before any section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them (no quoting used here)."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"bad line {line!r}"
            env[key] = value
    return env


def help_text(module: str) -> str:
    return subprocess.run([sys.executable, "-m", module, "--help"], env=python_env(),
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("program", ["exporter", "alerter"])
def test_unit_runs_the_program_with_flags_it_has(program: str) -> None:
    service = parse_unit(UNITS / f"wardops-{program}.service")["Service"]
    argv = shlex.split(service["ExecStart"][0])
    assert argv[0] == f"{INSTALLED_BIN}wardops-{program}"
    flags = [arg for arg in argv[1:] if arg.startswith("--")]
    assert "--config" in flags
    known = set(re.findall(r"--[a-z][a-z.-]*", help_text(program)))
    assert set(flags) <= known, f"unknown flags {set(flags) - known}"


@pytest.mark.parametrize("program", ["exporter", "alerter"])
def test_unit_has_what_an_operator_relies_on(program: str) -> None:
    service = parse_unit(UNITS / f"wardops-{program}.service")["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["User"] == "wardops" and one["Group"] == "wardops"
    assert one["StateDirectory"] == f"wardops-{program}"
    assert one["Restart"] == "on-failure"
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert "PrivateNetwork" not in one and "IPAddressDeny" not in one
    if program == "exporter":
        assert one["AmbientCapabilities"] == "CAP_NET_RAW"
        assert one["CapabilityBoundingSet"] == "CAP_NET_RAW"
        # The state file lives in the StateDirectory, not relative to a working directory.
        argv = shlex.split(one["ExecStart"])
        state_file = argv[argv.index("--state-file") + 1]
        assert state_file.startswith(f"/var/lib/{one['StateDirectory']}/")
    else:
        assert "AmbientCapabilities" not in one and one["CapabilityBoundingSet"] == ""
        assert one["EnvironmentFile"] == "/etc/default/wardops-alerter"


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    venv_bin = Path(sys.executable).parent
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace(INSTALLED_BIN, f"{venv_bin}/")
        text = text.replace("/etc/default/wardops-alerter", str(ENV_FILE))
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    assert len(units) == 2
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True)
    # Unknown keys and bad values are only warnings (exit 0): any output is a failure.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_env_file_gives_the_example_alerter_config_every_secret() -> None:
    env = parse_env_file(ENV_FILE)
    needed = set(re.findall(r"^#   ([A-Z_]+) ", (REPO / "examples/alerter.yml").read_text(), re.M))
    assert needed and needed == set(env)
    result = subprocess.run([sys.executable, "-m", "alerter", "check-config",
                             str(REPO / "examples/alerter.yml")],
                            env=python_env(**env), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _exporter_as_nobody(tmp_path: Path, workdir: Path, *setpriv_caps: str) -> tuple[Proc, int]:
    workdir.chmod(0o755)
    inventory = workdir / "devices.yml"
    inventory.write_text("probe: {interval: 1s, timeout: 500ms, count: 1}\n"
                         "sites: {Lab: {}}\n"
                         "devices: [{name: lo, address: 127.0.0.1, site: Lab}]\n")
    inventory.chmod(0o644)
    port = free_port()
    proc = Proc(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 *setpriv_caps, sys.executable, "-m", "exporter", "--config", str(inventory),
                 "--state-file", "", "--web.listen-address", f"127.0.0.1:{port}"],
                log=tmp_path / "exporter.log", env=python_env(), cwd=workdir)
    return proc, port


def _icmp_mode(port: int) -> str | None:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    match = re.search(r'wardops_exporter_build_info\{icmp_mode="(\w+)"', text)
    return match.group(1) if match else None


@pytest.mark.parametrize("case", ["ambient CAP_NET_RAW", "ping_group_range", "neither"])
def test_icmp_privileges_as_the_readme_says(netns: None, tmp_path: Path, case: str) -> None:
    sysctl = Path("/proc/sys/net/ipv4/ping_group_range")  # per network namespace
    saved = sysctl.read_text()
    sysctl.write_text("0 2147483647" if case == "ping_group_range" else "1 0")
    caps = ("--inh-caps=+net_raw", "--ambient-caps=+net_raw") if case.startswith("ambient") else ()
    # pytest's tmp_path sits under a root-only folder: nobody needs a world-readable one.
    workdir = tempfile.TemporaryDirectory(prefix="wardops-deploy-")
    proc, port = _exporter_as_nobody(tmp_path, Path(workdir.name), *caps)
    try:
        if case == "neither":
            wait_for(lambda: not proc.alive(), timeout=20, what="exporter to exit")
            assert proc.popen.returncode == 1
            assert "is our group in net.ipv4.ping_group_range?" in proc.output()
            return
        expected = "raw" if case.startswith("ambient") else "datagram"
        assert wait_for(lambda: _icmp_mode(port), timeout=20, what="/metrics") == expected
        assert f'msg="ICMP sockets open" mode={expected}' in proc.output()
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=2).text
        assert f"ICMP socket mode: <b>{expected}</b>" in page
    finally:
        proc.stop()
        sysctl.write_text(saved)
        workdir.cleanup()
