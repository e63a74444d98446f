"""Every ISP path of a branch router, probed for real in the private netns.

A dual-ISP router is three loopback addresses here: its own and one per ISP's tunnel
(``paths[].address``), or one address reached over routes told apart by source address
or firewall mark. nftables takes one path down (dropping its destination, its source or
its mark) while the other still answers.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from tests.exporter.conftest import Exporter, Lab
from tests.exporter.page import LandingPage

INTERVAL, TIMEOUT = 1.0, 0.4
SLACK = 2.0
WAIT = INTERVAL + TIMEOUT + SLACK
PROBE = f"probe: {{interval: {INTERVAL:g}s, timeout: {TIMEOUT * 1000:g}ms, count: 2}}"
TABLE = "wardops_paths"


def path(exporter: Exporter, device: str, isp: str) -> dict[str, float]:
    """{metric name: value} of one path's series."""
    return {name: value for name, labels, value in exporter.samples()
            if name.startswith("wardops_path_") and "le" not in labels
            and labels.get("device") == device and labels.get("isp") == isp}


def wait_path(exporter: Exporter, device: str, isp: str, up: float) -> dict[str, float]:
    deadline = time.time() + WAIT
    while time.time() < deadline:
        series = path(exporter, device, isp)
        if series.get("wardops_path_up") == up:
            return series
        time.sleep(0.05)
    raise AssertionError(f"{device} {isp}: not up={up} within {WAIT}s: {series}")


@pytest.fixture
def nft() -> Iterator[None]:
    """An nftables table of this test's own rules on output (removed afterwards)."""
    subprocess.run(["nft", "-f", "-"], check=True, input=f"""
table ip {TABLE} {{
  chain output {{ type filter hook output priority 0; policy accept; }}
  chain input {{ type filter hook input priority 0; policy accept; }}
}}""".encode())
    yield
    subprocess.run(["nft", "delete", "table", "ip", TABLE], check=False)


def nft_rule(rule: str, chain: str = "output") -> None:
    subprocess.run(["nft", "add", "rule", "ip", TABLE, chain, *rule.split()], check=True)


def nft_counters() -> list[int]:
    """Packet counts of the table's counter rules, in order."""
    out = subprocess.run(["nft", "list", "table", "ip", TABLE], check=True,
                         capture_output=True, text=True).stdout
    return [int(n) for n in re.findall(r"counter packets (\d+)", out)]


DUAL = PROBE + """
sites: {Gori: {}}
path_defaults:
  router:
    - {isp: Magti}
    - {isp: Silknet}
devices:
  - name: Gori-Router
    address: 127.0.20.1
    site: Gori
    type: router
    paths:
      - {isp: Magti, address: 127.0.20.2}
      - {isp: Silknet, address: 127.0.20.3}
  - {name: Gori-ATM, address: 127.0.20.9, site: Gori, type: atm}
"""


def test_one_path_down_keeps_the_device_up_both_down_is_down_and_survives_kill_9(
        lab: Lab) -> None:
    lab.write_config(DUAL)
    exporter = lab.start()
    wait_path(exporter, "Gori-Router", "Magti", 1)
    wait_path(exporter, "Gori-Router", "Silknet", 1)
    magti = path(exporter, "Gori-Router", "Magti")
    assert magti["wardops_path_rtt_seconds"] < TIMEOUT
    assert magti["wardops_path_rtt_histogram_seconds_count"] > 0
    info = [labels for name, labels, _ in exporter.samples() if name == "wardops_path_info"]
    assert {(i["isp"], i["path_address"]) for i in info} == {
        ("Magti", "127.0.20.2"), ("Silknet", "127.0.20.3")}
    # a device without paths has none, and its own histogram; one with paths has theirs
    assert not any(labels.get("device") == "Gori-ATM" for name, labels, _ in exporter.samples()
                   if name.startswith("wardops_path_"))
    series = {n for n, labels, _ in exporter.samples() if labels.get("device") == "Gori-Router"}
    assert "wardops_device_rtt_histogram_seconds_count" not in series

    dropped_at = time.time()
    lab.firewall.drop("127.0.20.2")  # Magti's tunnel dead, the router's interface may be up
    down = wait_path(exporter, "Gori-Router", "Magti", 0)
    assert dropped_at - TIMEOUT <= down["wardops_path_down_since_timestamp_seconds"] \
        <= dropped_at + INTERVAL + TIMEOUT
    assert down["wardops_path_packet_loss_ratio"] == 1.0
    time.sleep(INTERVAL + TIMEOUT)
    # the branch runs on Silknet: the device is reachable, its loss is its best path's
    assert path(exporter, "Gori-Router", "Silknet")["wardops_path_up"] == 1
    device = exporter.device("Gori-Router")
    assert device["wardops_device_up"] == 1
    assert device["wardops_device_packet_loss_ratio"] == 0.0
    assert device["wardops_device_state_changes_total"] == 0
    magti_since = down["wardops_path_down_since_timestamp_seconds"]
    # the landing page: the router is up, and its paths table starts with the dead one
    page = LandingPage(requests.get(exporter.url + "/", timeout=5).text)
    assert [r[:5] for r in page.tables["paths"]] == [
        ["Gori-Router", "Gori", "Magti", "127.0.20.2", "down"],
        ["Gori-Router", "Gori", "Silknet", "127.0.20.3", "up"]]
    assert page.tables["paths"][0][5].endswith("s")  # down for ...
    assert any(r[0] == "Gori-Router" for r in page.tables["up"])

    lab.firewall.drop("127.0.20.3")
    down = exporter.wait_device("Gori-Router", "down", WAIT, wardops_device_up=0)
    assert down["wardops_device_down_since_timestamp_seconds"] > magti_since
    device_since = down["wardops_device_down_since_timestamp_seconds"]

    exporter.stop(kill=True)  # kill -9: the path's outage start is kept as the device's
    exporter = lab.start()
    again = path(exporter, "Gori-Router", "Magti")
    assert (again["wardops_path_up"], again["wardops_path_down_since_timestamp_seconds"]) == (
        0, magti_since)
    assert exporter.device("Gori-Router")[
        "wardops_device_down_since_timestamp_seconds"] == device_since

    lab.firewall.restore("127.0.20.3")
    exporter.wait_device("Gori-Router", "up", WAIT, wardops_device_up=1)
    assert path(exporter, "Gori-Router", "Magti")[
        "wardops_path_down_since_timestamp_seconds"] == magti_since
    lab.firewall.restore("127.0.20.2")
    back = wait_path(exporter, "Gori-Router", "Magti", 1)
    assert back["wardops_path_down_since_timestamp_seconds"] == 0
    assert back["wardops_path_state_changes_total"] == 2


def test_paths_bound_by_source_and_mark_really_use_them(lab: Lab, nft: None) -> None:
    """Three paths to one address: by source 127.0.21.7, by mark 0x20, and the default.
    Counters prove each path's requests carry its source / mark; dropping one source or
    one mark takes exactly that path down."""
    nft_rule("ip saddr 127.0.21.7 ip daddr 127.0.21.1 icmp type echo-request counter")
    nft_rule("meta mark 0x20 ip daddr 127.0.21.1 icmp type echo-request counter")
    lab.write_config(PROBE + """
sites: {Poti: {}}
devices:
  - name: Poti-Router
    address: 127.0.21.1
    site: Poti
    type: router
    paths:
      - {isp: Magti, source: 127.0.21.7}
      - {isp: Silknet, mark: 0x20, interface: lo}
      - {isp: Direct}
""")
    exporter = lab.start()
    for isp in ("Magti", "Silknet", "Direct"):
        wait_path(exporter, "Poti-Router", isp, 1)
    sourced, marked = nft_counters()
    requests = {isp: path(exporter, "Poti-Router", isp)["wardops_path_echo_requests_total"]
                for isp in ("Magti", "Silknet", "Direct")}
    # every request by source came from 127.0.21.7, every marked one from Silknet's path
    # (the counters are read after the metrics: they may be a probe ahead)
    assert requests["Magti"] <= sourced <= requests["Magti"] + 2
    assert requests["Silknet"] <= marked <= requests["Silknet"] + 2
    info = {labels["isp"]: labels for name, labels, _ in exporter.samples()
            if name == "wardops_path_info"}
    assert info["Silknet"]["mark"] == "0x20" and info["Silknet"]["interface"] == "lo"
    assert info["Magti"]["source"] == "127.0.21.7"

    # dropped on the way in (on the way out the kernel would refuse to send: EPERM, a
    # probe that cannot run): as if the uplink policy routing picks for mark 0x20 died.
    # The mark survives loopback, as it does not a real wire: a lab stand-in.
    nft_rule("meta mark 0x20 drop", "input")
    wait_path(exporter, "Poti-Router", "Silknet", 0)
    assert path(exporter, "Poti-Router", "Magti")["wardops_path_up"] == 1
    nft_rule("ip saddr 127.0.21.7 drop", "input")
    wait_path(exporter, "Poti-Router", "Magti", 0)
    assert path(exporter, "Poti-Router", "Direct")["wardops_path_up"] == 1
    assert exporter.device("Poti-Router")["wardops_device_up"] == 1


def test_reload_adds_and_removes_paths_and_refuses_a_bad_one(lab: Lab) -> None:
    lab.write_config(DUAL)
    exporter = lab.start()
    wait_path(exporter, "Gori-Router", "Silknet", 1)
    before = wait_path(exporter, "Gori-Router", "Magti", 1)
    # the device's own Silknet entry removed (the default's stays: to the device's own
    # address now) and a path on a mark added; every path keeps its state by its isp
    lab.write_config(DUAL.replace("      - {isp: Silknet, address: 127.0.20.3}",
                                  "      - {isp: Backup, mark: 0x40}"))
    assert exporter.reload().status_code == 200
    wait_path(exporter, "Gori-Router", "Backup", 1)
    info = {labels["isp"]: labels["path_address"] for name, labels, _ in exporter.samples()
            if name == "wardops_path_info" and labels["device"] == "Gori-Router"}
    assert info == {"Magti": "127.0.20.2", "Silknet": "127.0.20.1", "Backup": "127.0.20.1"}
    after = path(exporter, "Gori-Router", "Magti")
    assert after["wardops_path_echo_requests_total"] >= before["wardops_path_echo_requests_total"]
    # an interface that does not exist: refused, naming the entry; the paths keep running
    lab.write_config(DUAL.replace("{isp: Magti, address: 127.0.20.2}",
                                  "{isp: Magti, address: 127.0.20.2, interface: wan-magti}"))
    refused = exporter.reload()
    assert refused.status_code != 200
    assert "devices[0] (Gori-Router): paths[0] (Magti): interface: no interface " \
           "'wan-magti' on this host" in refused.text
    assert exporter.value("wardops_exporter_config_last_reload_successful") == 0
    assert path(exporter, "Gori-Router", "Backup")["wardops_path_up"] == 1
