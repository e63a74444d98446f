"""The command line: check-config, probe-once, shards, bad input and exit statuses."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, free_port, python_env
from wardops_common.durations import format_milliseconds
from wardops_common.logsetup import setup_logging

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
    # every device but the routers is behind its site's router
    assert "behind parents: 15 (15 dependencies)" in lines  # the ATM: behind the switch
    assert "maintenance windows: 0 of sites, 0 of devices" in lines


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
        assert line == f"devices: {count} (shard {k}/3 of 873), 2 disabled" and count > 200
        assert re.fullmatch(r"sites: \d+ \(of 139\)", done.stdout.splitlines()[3])
        # the same with --shard after the command, as people type it
        after = run("check-config", "--shard", f"{k}/3", str(bank))
        assert after.returncode == 0, after.stderr
        assert after.stdout == done.stdout
        total += count
    assert total == 873
    done = run("check-config", "--shard", "0/3", str(bank))
    assert done.returncode == 2 and "invalid shard '0/3'" in done.stderr


def test_a_csv_file_is_an_inventory_on_its_own() -> None:
    done = run("check-config", str(CREDOBANK))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{CREDOBANK}: OK"
    assert "devices: 873, 2 disabled" in lines and "sites: 139" in lines
    assert lines[-1] == ("probe: interval 30s, timeout 2s, count 3, down_after 1, up_after 1 "
                         "(defaults: list the CSV under inventory_files: in a YAML file to "
                         "set them)")


def test_csv_text_in_a_yaml_file_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_text("name,ip,branch\nr1,127.0.0.1,A\n")
    done = run("check-config", str(path))
    assert done.returncode == 2
    assert done.stderr == (
        f"wardops-exporter: {path}: the file must be a mapping with probe, sites, devices "
        "(this looks like CSV: name the file *.csv to use it on its own, or list it under "
        "inventory_files: in a YAML file)\n")


def test_listen_address_in_use_is_named() -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = run("--config", str(EXAMPLE), "--web.listen-address", f"127.0.0.1:{port}",
                   "--state-file", "", timeout=30)
    assert done.returncode == 1
    assert done.stderr == (f"wardops-exporter: --web.listen-address 127.0.0.1:{port}: "
                           "address already in use\n")


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "0ms"),
    (0.000043, "0.043ms"),  # loopback: not "0.00ms"
    (0.0012345, "1.23ms"),
    (0.009996, "10.0ms"),  # rounding carries: still three digits
    (0.0123, "12.3ms"),
    (0.25, "250ms"),
    (1.5, "1500ms"),
])
def test_rtt_is_shown_with_three_significant_digits(seconds: float, shown: str) -> None:
    assert format_milliseconds(seconds) == shown


def test_probe_once_table_and_exit_status(netns: None) -> None:
    from tests.support.nft import Firewall
    done = run("probe-once", str(EXAMPLE))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["DEVICE", "ADDRESS", "SITE", "STATE", "RTT", "LOSS"]
    assert len(lines) == 19
    row = next(x.split() for x in lines if x.startswith("Gldani-ATM "))
    assert row[:4] == ["Gldani-ATM", "127.0.2.4", "Gldani", "up"] and row[5] == "0%"
    # loopback answers in microseconds: shown as such, never as 0.00ms
    rtts = [x.split()[4] for x in lines[1:]]
    assert all(re.fullmatch(r"0\.\d{3}ms|\d\.\d\dms", r) for r in rtts), rtts
    assert not any(set(r) <= set("0.ms") for r in rtts), rtts
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


def test_probe_once_a_shard_of_a_csv_file(netns: None) -> None:
    listed = run("check-config", "--shard", "2/5", str(CREDOBANK))
    share = int(next(x for x in listed.stdout.splitlines() if x.startswith("devices: "))
                .split()[1])
    done = run("probe-once", "--shard", "2/5", str(CREDOBANK))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = done.stdout.splitlines()[1:]
    assert len(rows) == share and 100 < share < 250
    assert f"{share} up, 0 down" in done.stderr.splitlines()[-1]


def test_probe_once_tells_down_from_not_probed(netns: None, tmp_path: Path) -> None:
    """1 = a device is down; 3 = none down but some could not be probed (its help used to
    say "exit 1 if any is down" and returned 1 for both); a down device wins."""
    from tests.support.nft import Firewall
    inventory = tmp_path / "two.yml"
    inventory.write_text("probe: {timeout: 500ms, count: 1}\n"
                         "devices:\n"
                         "  - {name: up-one, address: 127.0.9.1}\n"
                         "  - {name: unroutable, address: 127.0.9.2}\n")
    route = ["ip", "route", "add", "blackhole", "127.0.9.2", "table", "local"]
    subprocess.run(route, check=True)
    try:
        not_probed = run("probe-once", str(inventory))
        firewall = Firewall()
        try:
            firewall.drop("127.0.9.1")
            both = run("probe-once", str(inventory))
        finally:
            firewall.close()
    finally:
        subprocess.run(["ip", "route", "del", *route[3:]], check=True)
    assert not_probed.returncode == 3, not_probed.stderr
    assert "1 up, 0 down, 1 not probed" in not_probed.stderr
    assert both.returncode == 1, both.stderr
    assert "0 up, 1 down, 1 not probed" in both.stderr
    assert "exit 1 if any is down, else 3" in run("probe-once", "--help").stdout


@pytest.mark.parametrize("program", ["exporter", "alerter"])
def test_log_level_warn_is_accepted_as_in_prometheus_tools(program: str) -> None:
    done = subprocess.run([sys.executable, "-m", program, "--log.level", "warn", "--help"],
                          capture_output=True, text=True, timeout=30, env=python_env())
    assert done.returncode == 0, done.stderr
    assert "warn" in done.stdout
    setup_logging("warn")
    assert logging.getLogger().level == logging.WARNING
    setup_logging("info")


_ARENAS = """
import ctypes, sys, threading
if sys.argv[1] == "shared":
    from exporter.cli import share_allocator_arenas
    share_allocator_arenas()
barrier = threading.Barrier(6)
def work():
    barrier.wait()
    data = [bytes(4096) for _ in range(200)]  # from malloc, in this thread's arena
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" paragraph per arena, on stderr
"""


@pytest.mark.parametrize(("how", "env", "most"), [
    ("shared", {}, 2),  # what the exporter does at start
    ("shared", {"MALLOC_ARENA_MAX": "4"}, 4),  # the operator's setting wins
])
def test_threads_share_two_malloc_arenas_unless_the_operator_says(
        how: str, env: dict[str, str], most: int) -> None:
    def arenas(mode: str, extra: dict[str, str]) -> int:
        out = subprocess.run([sys.executable, "-c", _ARENAS, mode], cwd=REPO,
                             env={**python_env(), **extra}, capture_output=True, text=True,
                             timeout=60, check=True)
        return len(re.findall(r"^Arena \d+:", out.stderr, re.M))
    # six threads allocating at once get an arena each by default (glibc)
    assert arenas("default", {}) == 7
    assert arenas(how, env) == most
