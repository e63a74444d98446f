"""The command line: check-config, probe-once, shards, bad input and exit statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import REPO, python_env

EXAMPLE = REPO / "examples" / "devices.yml"
CREDOBANK = REPO / "tests" / "data" / "credobank-devices.csv"
INVALID = REPO / "tests" / "testdata" / "exporter" / "invalid-bad-address.yml"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True,
                          text=True, env=python_env(), timeout=timeout, check=False)


def credobank(tmp_path: Path) -> Path:
    path = tmp_path / "bank.yml"
    path.write_text(f"probe: {{timeout: 1s, count: 1}}\ninventory_files: [{CREDOBANK}]\n")
    return path


def test_check_config_prints_a_summary() -> None:
    done = run("check-config", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{EXAMPLE}: OK"
    assert "devices: 18" in lines
    assert "sites: 3" in lines
    assert "types: access_point 3, atm 3, nvr 3, paybox 3, router 3, switch 3" in lines


def test_check_config_rejects_bad_input_with_exit_2() -> None:
    done = run("check-config", str(INVALID))
    assert done.returncode == 2
    assert done.stderr == (f"wardops-exporter: {INVALID}: devices[0] (r1): address: not an IP "
                           "address or host name: '10.1.2.300'\n")
    done = run("--config", str(INVALID))  # the exporter itself refuses to start
    assert done.returncode == 2 and "address: not an IP address" in done.stderr
    done = run("--config", str(EXAMPLE), "--shard", "4/3")
    assert done.returncode == 2 and "invalid shard '4/3'" in done.stderr


def test_shards_of_the_bank_add_up(tmp_path: Path) -> None:
    bank = credobank(tmp_path)
    done = run("check-config", str(bank))
    assert "devices: 873, 2 disabled" in done.stdout.splitlines()
    total = 0
    for k in (1, 2, 3):
        done = run("--shard", f"{k}/3", "check-config", str(bank))
        line = next(x for x in done.stdout.splitlines() if x.startswith("devices: "))
        count = int(line.split()[1])
        assert line.startswith(f"devices: {count} (shard {k}/3)") and count > 200
        total += count
    assert total == 873


def test_probe_once_table_and_exit_status(netns: None) -> None:
    from tests.support.nft import Firewall
    done = run("probe-once", str(EXAMPLE))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["DEVICE", "ADDRESS", "SITE", "STATE", "RTT", "LOSS"]
    assert len(lines) == 19
    row = next(x.split() for x in lines if x.startswith("Gldani-ATM "))
    assert row[:4] == ["Gldani-ATM", "127.0.2.4", "Gldani", "up"] and row[5] == "0%"
    firewall = Firewall()
    try:
        firewall.drop("127.0.2.4")
        done = run("probe-once", str(EXAMPLE))
    finally:
        firewall.close()
    assert done.returncode == 1
    row = next(x.split() for x in done.stdout.splitlines() if x.startswith("Gldani-ATM "))
    assert row == ["Gldani-ATM", "127.0.2.4", "Gldani", "down", "-", "100%"]
    assert "17 up, 1 down" in done.stderr


def test_probe_once_the_whole_bank(netns: None, tmp_path: Path) -> None:
    done = run("probe-once", str(credobank(tmp_path)))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = done.stdout.splitlines()[1:]
    assert len(rows) == 873
    assert sum(1 for r in rows if r.startswith("Marjanishvili ")) == 2
    assert "probe-once: probing 873 devices (count 1, timeout 1s)" in done.stderr.splitlines()
    assert "873 up, 0 down" in done.stderr.splitlines()[-1]
