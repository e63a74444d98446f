"""Two real ISP paths to a branch, through the whole stack (issue 14).

Inside the test's network namespace (the "exporter host") the test builds a branch
namespace of its own, reached over two veth pairs: Magti (``pt-magti`` ↔ ``magti0``) and
Silknet (``pt-silknet`` ↔ ``silknet0``). The branch router's tunnel address, 198.19.0.1,
has no route in the main table: the Magti path gets there by **source address**
(``ip rule from 198.18.101.1 lookup 101``, the path's ``source``), the Silknet path by
**firewall mark** (``ip rule fwmark 0x20 lookup 102``, the path's ``mark``: SO_MARK).
snmpd reports the two uplink interfaces, up, with the aliases that make them the Magti and
Silknet uplinks.

Outages are nftables drops inside the branch namespace: the interface stays up while its
traffic dies, the failure an interface check misses. The exporter, a real Prometheus, the
alerter (default rules, windows and IspPathDown's `for` shortened:
stackparts.fast_alerting_rules) and the webhook sink are tests/stack/faultstack.py's.

Delay and jitter are not made here: this kernel has no sch_netem (``tc qdisc add ...
netem``: unknown qdisc) and no nfqueue, so tests/exporter/test_exporter_latency_lab.py
answers with a delaying raw-socket responder instead. Loss is real: nft's ``numgen random``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from faultstack import Stack

from tests.snmp.agent import COMMUNITY, Snmpd, have_snmpd
from tests.support import Proc, free_port, wait_for, wait_http

ROUTER = "Tbilisi-Router"
MANAGEMENT = "127.41.0.1"  # the router's address where snmpd answers (on lo)
TUNNEL = "198.19.0.1"  # the router's tunnel address, only reachable over a path
# (isp, host end, branch end, host address, branch address, policy routing table)
LINKS = [("Magti", "pt-magti", "magti0", "198.18.101.1", "198.18.101.2", "101"),
         ("Silknet", "pt-silknet", "silknet0", "198.18.102.1", "198.18.102.2", "102")]
MARK = "0x20"
PATHS = [{"isp": "Magti", "address": TUNNEL, "source": LINKS[0][3]},
         {"isp": "Silknet", "address": TUNNEL, "mark": MARK}]
NFT_TABLE = "wardops_paths_test"


def run(*args: str, stdin: str | None = None) -> None:
    result = subprocess.run(list(args), input=stdin, text=True, capture_output=True)
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"


class Branch:
    """The branch namespace, its two uplinks, the policy routing to it, and drops."""

    def __init__(self) -> None:
        self.netns = f"wpaths-{os.getpid()}"
        run("ip", "netns", "add", self.netns)
        run("ip", "-n", self.netns, "link", "set", "lo", "up")
        run("ip", "-n", self.netns, "addr", "add", f"{TUNNEL}/32", "dev", "lo")
        for _isp, host_if, branch_if, host_addr, branch_addr, table in LINKS:
            run("ip", "link", "add", host_if, "type", "veth", "peer", "name", branch_if,
                "netns", self.netns)
            run("ip", "addr", "add", f"{host_addr}/24", "dev", host_if)
            run("ip", "link", "set", host_if, "up")
            run("ip", "-n", self.netns, "addr", "add", f"{branch_addr}/24", "dev", branch_if)
            run("ip", "-n", self.netns, "link", "set", branch_if, "up")
            run("ip", "route", "add", f"{TUNNEL}/32", "via", branch_addr, "dev", host_if,
                "table", table)
        run("ip", "rule", "add", "from", LINKS[0][3], "lookup", LINKS[0][5])
        run("ip", "rule", "add", "fwmark", MARK, "lookup", LINKS[1][5])
        self.drops: dict[str, str] = {}
        self._apply()

    def drop(self, isp: str, what: str = "drop") -> None:
        """Drop (``what``) what arrives over ``isp``'s link; its interface stays up."""
        branch_if = next(link[2] for link in LINKS if link[0] == isp)
        self.drops[isp] = f'iifname "{branch_if}" icmp type echo-request {what}'
        self._apply()

    def restore(self) -> None:
        self.drops.clear()
        self._apply()

    def counter(self, isp: str) -> int:
        """Echo requests that arrived over ``isp``'s link."""
        out = subprocess.run(["ip", "netns", "exec", self.netns, "nft", "list", "counter",
                              "inet", NFT_TABLE, isp.lower()], capture_output=True, text=True,
                             check=True).stdout
        return int(out.split("packets ")[1].split()[0])

    def _apply(self) -> None:
        counters = "\n".join(f"  counter {link[0].lower()} {{}}" for link in LINKS)
        counts = "\n".join(f'    iifname "{link[2]}" icmp type echo-request '
                           f'counter name {link[0].lower()}' for link in LINKS)
        drops = "\n".join(f"    {rule}" for rule in self.drops.values())
        run("ip", "netns", "exec", self.netns, "nft", "-f", "-", stdin=f"""
table inet {NFT_TABLE}
delete table inet {NFT_TABLE}
table inet {NFT_TABLE} {{
{counters}
  chain input {{
    type filter hook input priority 0; policy accept;
{counts}
{drops}
  }}
}}
""")

    def close(self) -> None:
        subprocess.run(["ip", "rule", "del", "fwmark", MARK], capture_output=True)
        subprocess.run(["ip", "rule", "del", "from", LINKS[0][3]], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)


@pytest.fixture(scope="module")
def branch() -> Iterator[Branch]:
    if os.environ.get("WARDOPS_NETNS") != "1" or os.geteuid() != 0:
        pytest.skip("needs root in a private network namespace: run via scripts/test")
    made = Branch()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def stack(branch: Branch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not have_snmpd():
        pytest.skip("snmpd is not installed")
    workdir = tmp_path_factory.mktemp("paths")
    run("ip", "addr", "add", f"{MANAGEMENT}/32", "dev", "lo")
    snmpd = Snmpd(workdir, address=MANAGEMENT).start()
    for isp, host_if, *_ in LINKS:  # the router's uplinks, as the bank names them
        snmpd.set_alias(snmpd.ifindex(host_if), f"{isp}_Internet")
    snmp = {"version": "2c", "port": snmpd.port, "community_env": "WARDOPS_PATHS_COMMUNITY",
            "interval": "1s", "timeout": "500ms", "retries": 0,
            "uplinks": [{"alias": f"^{isp}_Internet$", "isp": isp} for isp, *_ in LINKS]}
    running = Stack(workdir, {ROUTER: MANAGEMENT},
                    entries={ROUTER: {"paths": PATHS, "snmp": snmp}},
                    rule_files=("wardops.yml", "paths.yml", "snmp.yml"),
                    exporter_env={"WARDOPS_PATHS_COMMUNITY": COMMUNITY})
    try:
        wait_for(lambda: len(running.prom.query(
            f'wardops_path_up{{device="{ROUTER}"}} == 1')) == 2
            and len(running.prom.query('wardops_interface_oper_up{isp!=""} == 1')) == 2,
            timeout=30, what="both paths up and both uplinks up over SNMP in Prometheus")
        yield running
    finally:
        running.stop()
        snmpd.stop()


def summaries(stack: Stack, alertname: str, status: str) -> list[str]:
    return [alert["annotations"].get("summary", "") for req in stack.sink.requests()
            for alert in req["payload"].get("alerts", [])
            if alert["labels"].get("alertname") == alertname and alert["status"] == status]


def test_each_path_takes_its_own_link(netns: None, branch: Branch, stack: Stack) -> None:
    """The source-routed path's requests arrive over Magti, the marked path's over
    Silknet, and nothing else reaches the router: no path without its route."""
    port = stack.exporter_ports[0]
    sent_before = path_counts(port)
    before = {isp: branch.counter(isp) for isp, *_ in LINKS}
    wait_for(lambda: all(path_counts(port)[isp][0] - sent_before[isp][0] >= 8
                         for isp, *_ in LINKS), timeout=20, what="8 probes of each path")
    arrived = {isp: branch.counter(isp) - before[isp] for isp, *_ in LINKS}
    sent = {isp: path_counts(port)[isp][0] - sent_before[isp][0] for isp, *_ in LINKS}
    for isp, *_ in LINKS:
        # a probe sent between the two reads at either end is counted by the exporter
        # only: at most one each (one request a second); a path over the wrong link
        # would double one count and empty the other
        assert 0 <= sent[isp] - arrived[isp] <= 2, (sent, arrived)


def test_one_path_dropped_is_isp_path_down_not_device_down(netns: None, branch: Branch,
                                                          stack: Stack) -> None:
    branch.drop("Silknet")
    try:
        stack.wait_notified("IspPathDown", "firing", device=ROUTER, isp="Silknet")
        # the interface is up (snmpd says so) while its traffic dies: the alert says so
        assert any("SNMP shows the Silknet uplink interface UP" in s
                   for s in summaries(stack, "IspPathDown", "firing")), stack.summary()
        assert stack.prom.query(f'wardops_device_up{{device="{ROUTER}"}} == 1')
        assert stack.prom.query('wardops_interface_oper_up{isp="Silknet"} == 1')
        assert not stack.notified("DeviceDown"), stack.summary()
        assert not stack.notified("IspPathDown", isp="Magti"), stack.summary()
    finally:
        branch.restore()
    stack.wait_notified("IspPathDown", "resolved", device=ROUTER, isp="Silknet")
    assert not stack.notified("DeviceDown"), stack.summary()


def test_both_paths_dropped_is_device_down(netns: None, branch: Branch, stack: Stack) -> None:
    before = len(stack.notified("IspPathDown", "firing"))
    branch.drop("Magti")
    branch.drop("Silknet")
    try:
        stack.wait_notified("DeviceDown", "firing", device=ROUTER)
        # the device is down: that is DeviceDown's, not a path's alert
        wait_for(lambda: not stack.active("IspPathDown") or None, timeout=5,
                 what="no IspPathDown active while the device is down")
        assert len(stack.notified("IspPathDown", "firing")) == before, stack.summary()
    finally:
        branch.restore()
    stack.wait_notified("DeviceDown", "resolved", device=ROUTER)


# ------------------------------------------------------------------ loss, measured

LOSS, TOLERANCE, REQUESTS = 0.30, 0.08, 400  # ±0.08 is over 3.4 binomial sd at n=400


def path_counts(port: int) -> dict[str, tuple[float, float]]:
    """{isp: (echo requests sent, replies)} of the router's paths, from one read of the
    exporter's /metrics (so a probe cannot land between the two)."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    sent: dict[str, float] = {}
    replies: dict[str, float] = {}
    for line in text.splitlines():
        if f'device="{ROUTER}"' not in line:
            continue
        for name, into in (("wardops_path_echo_requests_total{", sent),
                           ("wardops_path_rtt_histogram_seconds_count{", replies)):
            if line.startswith(name):
                into[line.split('isp="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return {isp: (sent[isp], replies.get(isp, 0.0)) for isp in sent}


def test_random_loss_on_one_path_is_measured(netns: None, branch: Branch,
                                             tmp_path: Path) -> None:
    """nft drops 30% of Magti's requests at random: Magti's measured loss is 30% ± 8
    points over 400 requests, Silknet's none."""
    inventory = tmp_path / "devices.yml"
    paths = "\n".join(f"      - {{isp: {p['isp']}, address: {TUNNEL}, "
                      + (f"source: {p['source']}}}" if "source" in p else f"mark: {MARK}}}")
                      for p in PATHS)
    inventory.write_text(f"""
probe: {{interval: 3s, timeout: 200ms, count: 25}}
sites: {{Tbilisi: {{}}}}
devices:
  - name: {ROUTER}
    address: {MANAGEMENT}
    site: Tbilisi
    type: router
    paths:
{paths}
""")
    port = free_port()
    exporter = Proc.python("exporter", "--config", str(inventory), "--web.listen-address",
                           f"127.0.0.1:{port}", "--state-file", str(tmp_path / "state.json"),
                           log=tmp_path / "exporter.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=30)
        wait_for(lambda: len(path_counts(port)) == 2, timeout=10, what="both paths probed")
        branch.drop("Magti", f"numgen random mod 100 < {LOSS * 100:.0f} drop")
        start = path_counts(port)
        wait_for(lambda: path_counts(port)["Magti"][0] - start["Magti"][0] >= REQUESTS,
                 timeout=90, what=f"{REQUESTS} requests over Magti")
        end = path_counts(port)
        loss = {isp: 1 - (end[isp][1] - start[isp][1]) / (end[isp][0] - start[isp][0])
                for isp in end}
        assert abs(loss["Magti"] - LOSS) <= TOLERANCE, loss
        assert loss["Silknet"] <= 0.01, loss
    finally:
        branch.restore()
        exporter.stop()
