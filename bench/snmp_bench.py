#!/usr/bin/env python3
"""SNMP polling benchmark: wardops' poller against Debian's prometheus-snmp-exporter.

Run inside a private network namespace (it starts snmpd agents on 127.1.x.y:161):

    scripts/in-netns .venv/bin/python bench/snmp_bench.py [--agents 500] [--cycle-devices 1000]

What it does, in one run:
  1. creates veth pairs so every agent has a branch-router-sized ifTable (lo + 2 x --veths),
  2. starts snmpd processes, each serving 100 loopback addresses (one "device" each),
  3. CPU per device poll, side by side on the same --agents devices:
       - wardops steady state: GET sysUpTime + one multi-column GETBULK walk of the 8
         status/counter columns (names cached, as between names_interval refreshes);
       - wardops cold: the same plus sysName/Descr/ObjectID and the 5 names columns
         (what a first poll or a names refresh costs);
       - snmp_exporter 0.21: /snmp?module=wardops_if for every device, walking the same
         13 columns + sysUpTime (it re-walks names on every scrape); its CPU is read from
         /proc/<pid>/stat; ours is this process's CPU time during the cycle.
  4. wall time and CPU of one steady and one cold poll cycle of --cycle-devices devices.
Prints a table and the ratios; --json writes the figures.

--profile SECONDS instead runs only steady wardops cycles for that long under py-spy
(``--gil``, sampling this process) and prints where the CPU goes, grouped by package
(pyasn1, pysnmp, asyncio, wardops ...) by the innermost frame of each sample.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exporter.snmp import ifmib
from exporter.snmp.poller import SnmpPoller
from exporter.snmp.settings import SnmpSettings, parse_snmp_settings

COMMUNITY = "bench-community"
ADDRESSES_PER_AGENT = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Device:
    name: str
    address: str
    site: str = "bench"
    type: str = "router"
    labels: dict[str, str] = field(default_factory=dict)
    snmp: SnmpSettings | None = None


def address(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def start_agents(count: int, workdir: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for first in range(0, count, ADDRESSES_PER_AGENT):
        addrs = ",".join(f"udp:{address(i)}:161"
                         for i in range(first, min(count, first + ADDRESSES_PER_AGENT)))
        conf = workdir / f"snmpd-{first}.conf"
        conf.write_text(f"agentAddress {addrs}\nrocommunity {COMMUNITY} 127.0.0.0/8\n")
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(workdir / f"p{first}"), MIBS="")
        procs.append(subprocess.Popen(
            ["snmpd", "-f", "-Lf", "/dev/null", "-C", "-c", str(conf), "-I", "-smux"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 30
    for first in range(0, count, ADDRESSES_PER_AGENT):
        last = address(min(count, first + ADDRESSES_PER_AGENT) - 1)
        while subprocess.run(["snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.5", "-r", "0",
                              f"{last}:161", "1.3.6.1.2.1.1.3.0"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"snmpd for {last} did not come up")
            time.sleep(0.2)
    return procs


def snmp_exporter_config(path: Path) -> None:
    """A 0.21-format module with numeric OIDs (Debian ships no snmp.yml)."""
    def dotted(oid: tuple[int, ...]) -> str:
        return ".".join(map(str, oid))

    def metric(name: str, oid: tuple[int, ...], kind: str) -> str:
        return f"""      - name: {name}
        oid: {'.'.join(map(str, oid))}
        type: {kind}
        indexes: [{{labelname: ifIndex, type: gauge}}]
        lookups:
          - {{labels: [ifIndex], labelname: ifName, oid: {dotted(ifmib.IF_NAME)},
             type: DisplayString}}
          - {{labels: [ifIndex], labelname: ifAlias, oid: {dotted(ifmib.IF_ALIAS)},
             type: DisplayString}}
"""
    columns = {
        "ifDescr": (ifmib.IF_DESCR, "DisplayString"), "ifSpeed": (ifmib.IF_SPEED, "gauge"),
        "ifHighSpeed": (ifmib.IF_HIGH_SPEED, "gauge"),
        "ifAdminStatus": (ifmib.IF_ADMIN_STATUS, "gauge"),
        "ifOperStatus": (ifmib.IF_OPER_STATUS, "gauge"),
        "ifInDiscards": (ifmib.IF_IN_DISCARDS, "counter"),
        "ifInErrors": (ifmib.IF_IN_ERRORS, "counter"),
        "ifOutDiscards": (ifmib.IF_OUT_DISCARDS, "counter"),
        "ifOutErrors": (ifmib.IF_OUT_ERRORS, "counter"),
        "ifHCInOctets": (ifmib.IF_HC_IN_OCTETS, "counter"),
        "ifHCOutOctets": (ifmib.IF_HC_OUT_OCTETS, "counter"),
    }
    walk = [".".join(map(str, oid)) for oid, _ in columns.values()]
    walk += [".".join(map(str, ifmib.IF_NAME)), ".".join(map(str, ifmib.IF_ALIAS))]
    metrics = "".join(metric(name, oid, kind) for name, (oid, kind) in columns.items())
    path.write_text(f"""wardops_if:
  walk: [{', '.join(walk)}]
  get: [1.3.6.1.2.1.1.3.0]
  metrics:
      - name: sysUpTime
        oid: 1.3.6.1.2.1.1.3
        type: gauge
{metrics}  version: 2
  max_repetitions: 25
  retries: 1
  timeout: 2s
  auth:
    community: {COMMUNITY}
""")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def make_devices(count: int, names_interval: str) -> list[Device]:
    os.environ["BENCH_COMMUNITY"] = COMMUNITY
    settings = parse_snmp_settings({"community_env": "BENCH_COMMUNITY", "timeout": "2s",
                                    "retries": 1, "names_interval": names_interval})
    return [Device(f"dev{i}", address(i), snmp=settings) for i in range(count)]


async def wardops_cycle(poller: SnmpPoller) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one poll of every device."""
    cpu, wall = time.process_time(), time.monotonic()
    await poller.poll_all()
    return time.monotonic() - wall, time.process_time() - cpu


def check_all_up(poller: SnmpPoller) -> None:
    failed = [s.device.name for s in poller.snapshot() if s.result is None or not s.result.up]
    if failed:
        raise SystemExit(f"{len(failed)} devices failed to poll, e.g. {failed[:3]}")


def exporter_cycle(url: str, pid: int, targets: list[str], session: requests.Session,
                   pool: ThreadPoolExecutor) -> tuple[float, float]:
    def scrape(target: str) -> None:
        resp = session.get(url, params={"target": target, "module": "wardops_if"}, timeout=30)
        resp.raise_for_status()
        if "ifHCInOctets{" not in resp.text:
            raise SystemExit(f"snmp_exporter returned no interfaces for {target}")
    cpu, wall = proc_cpu(pid), time.monotonic()
    list(pool.map(scrape, targets))
    return time.monotonic() - wall, proc_cpu(pid) - cpu


# A sample counts for the first group that has a frame anywhere in its stack (py-spy names
# files relative to site-packages or the repository), so each group includes what it
# calls: "pyasn1 decoder" is the BER walk plus every ASN.1 object it builds and checks.
PROFILE_GROUPS = (
    ("pyasn1 BER decoder (responses, with the objects it builds)",
     ("pyasn1/codec/ber/decoder.py",)),
    ("pyasn1 BER encoder (requests)", ("pyasn1/codec/ber/encoder.py",)),
    ("pysnmp engine, message processing, cmdgen, varbind objects", ("pysnmp/", "pyasn1/")),
    ("wardops BER codec (exporter/snmp/ber.py)", ("exporter/snmp/ber.py",)),
    ("wardops SNMP client (exporter/snmp/client.py)", ("exporter/snmp/client.py",)),
    ("wardops poll, poller, ifmib", ("exporter/snmp/",)),
    ("asyncio event loop, sockets", ("asyncio/", "selectors.py", "socket.py")),
)


def profile_groups(raw: Path) -> dict[str, float]:
    """Share of samples per group from py-spy's raw (collapsed-stack) output."""
    counts: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        files = [frame.rpartition("(")[2] for frame in stack.split(";")]
        group = next((name for name, keys in PROFILE_GROUPS
                      if any(f.startswith(keys) for f in files)),
                     "other (bench loop, Python runtime)")
        counts[group] = counts.get(group, 0) + int(count)
    total = sum(counts.values()) or 1
    return {name: n / total for name, n in sorted(counts.items(), key=lambda kv: -kv[1])}


def profile_steady(loop: asyncio.AbstractEventLoop, args: argparse.Namespace,
                   workdir: Path) -> None:
    """Steady wardops cycles only, sampled by py-spy; prints the grouped profile."""
    steady = SnmpPoller(make_devices(args.agents, "1h"), max_concurrency=args.concurrency)
    loop.run_until_complete(wardops_cycle(steady))  # sessions and names, not profiled
    check_all_up(steady)
    raw = workdir / "profile.txt"
    spy = subprocess.Popen([args.py_spy, "record", "--gil", "--format", "raw", "--rate", "250",
                            "--pid", str(os.getpid()), "--duration", str(int(args.profile)),
                            "-o", str(raw)], stdout=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    cycles, cpu_total = 0, 0.0
    deadline = time.monotonic() + args.profile - 1.5
    while time.monotonic() < deadline:
        cpu_total += loop.run_until_complete(wardops_cycle(steady))[1]
        cycles += 1
    spy.wait()
    check_all_up(steady)
    steady.close()
    print(f"profile: {cycles} steady cycles of {args.agents} devices, "
          f"{cpu_total / max(cycles, 1) / args.agents * 1000:.2f} ms CPU per device poll")
    for name, share in profile_groups(raw).items():
        print(f"{share * 100:5.1f} %  {name}")
    if args.json:
        args.json.write_text(json.dumps(profile_groups(raw), indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--cycle-devices", type=int, default=1000)
    parser.add_argument("--veths", type=int, default=5, help="veth pairs: ifTable has 1 + 2n rows")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", type=float, metavar="SECONDS",
                        help="profile steady wardops polls with py-spy instead of the comparison")
    parser.add_argument("--py-spy", default=os.environ.get("PY_SPY", "py-spy"),
                        help="py-spy binary (default: $PY_SPY or py-spy on PATH)")
    args = parser.parse_args()
    if os.environ.get("WARDOPS_NETNS") != "1":
        raise SystemExit("run inside a private netns: "
                         "scripts/in-netns .venv/bin/python bench/snmp_bench.py")

    for n in range(args.veths):
        subprocess.run(["ip", "link", "add", f"bench{n}", "type", "veth", "peer", "name",
                        f"bench{n}p"], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="snmp-bench-"))
    total = max(args.agents, args.cycle_devices)
    agents = start_agents(total, workdir)
    snmp_exporter_config(workdir / "snmp.yml")
    exporter_port = 19116
    exporter = subprocess.Popen(["prometheus-snmp-exporter",
                                 f"--config.file={workdir / 'snmp.yml'}",
                                 f"--web.listen-address=127.0.0.1:{exporter_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{exporter_port}/snmp"
    results: dict[str, object] = {"agents": args.agents, "if_rows": 1 + 2 * args.veths}
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"http://127.0.0.1:{exporter_port}/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise SystemExit("snmp_exporter did not start") from None
                time.sleep(0.2)
        loop = asyncio.new_event_loop()
        if args.profile:
            profile_steady(loop, args, workdir)
            return
        steady = SnmpPoller(make_devices(args.agents, "1h"), max_concurrency=args.concurrency)
        cold = SnmpPoller(make_devices(args.agents, "0s"), max_concurrency=args.concurrency)
        targets = [address(i) for i in range(args.agents)]
        session = requests.Session()
        pool = ThreadPoolExecutor(args.concurrency)
        # warm-up: pysnmp engines, first names walks, snmp_exporter's connections
        loop.run_until_complete(wardops_cycle(steady))
        loop.run_until_complete(wardops_cycle(cold))
        exporter_cycle(url, exporter.pid, targets, session, pool)
        check_all_up(steady)
        rows: dict[str, list[tuple[float, float]]] = {"wardops steady": [], "wardops cold": [],
                                                      "snmp_exporter": []}
        for _ in range(args.rounds):  # interleaved, so machine noise hits all alike
            rows["wardops steady"].append(loop.run_until_complete(wardops_cycle(steady)))
            rows["wardops cold"].append(loop.run_until_complete(wardops_cycle(cold)))
            rows["snmp_exporter"].append(exporter_cycle(url, exporter.pid, targets, session, pool))
        check_all_up(steady)
        check_all_up(cold)
        print(f"{args.agents} devices, {1 + 2 * args.veths} interfaces each, {args.rounds} rounds "
              f"(median), concurrency {args.concurrency}")
        print(f"{'poller':<16} {'CPU/device':>12} {'cycle wall':>11} {'cycle CPU':>10}")
        per_device = {}
        for name, samples in rows.items():
            wall = statistics.median(s[0] for s in samples)
            cpu = statistics.median(s[1] for s in samples)
            per_device[name] = cpu / args.agents
            print(f"{name:<16} {per_device[name] * 1000:>9.2f} ms {wall:>9.2f} s {cpu:>8.2f} s")
            results[name] = {"cpu_per_device_ms": per_device[name] * 1000, "cycle_wall_s": wall,
                             "cycle_cpu_s": cpu}
        # Production mix at the defaults (interval 60s, names_interval 15m): 14 steady
        # polls and one names refresh in every 15.
        per_device["wardops amortized"] = (14 * per_device["wardops steady"]
                                           + per_device["wardops cold"]) / 15
        print(f"{'wardops amortized':<16} {per_device['wardops amortized'] * 1000:>8.2f} ms"
              "   (14 steady + 1 cold per 15 polls: interval 60s, names_interval 15m)")
        for name in ("wardops steady", "wardops cold", "wardops amortized"):
            ratio = per_device[name] / per_device["snmp_exporter"]
            results[f"ratio {name}"] = ratio
            print(f"ratio {name} / snmp_exporter CPU per device: {ratio:.2f}x (target <= 3x)")
        steady.close()
        cold.close()

        big_steady = SnmpPoller(make_devices(args.cycle_devices, "1h"),
                                max_concurrency=args.concurrency)
        first = loop.run_until_complete(wardops_cycle(big_steady))  # first cycle reads names
        again = loop.run_until_complete(wardops_cycle(big_steady))
        check_all_up(big_steady)
        big_steady.close()
        loop.run_until_complete(asyncio.sleep(0.1))  # let pysnmp's timer tasks finish
        loop.close()
        for label, (wall, cpu) in (("first (cold)", first), ("steady", again)):
            print(f"{args.cycle_devices}-device cycle, {label}: {wall:.1f} s wall, {cpu:.1f} s CPU "
                  "(target: within 60 s)")
            results[f"cycle {args.cycle_devices} {label}"] = {"wall_s": wall, "cpu_s": cpu}
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        exporter.terminate()
        for proc in agents:
            proc.terminate()
        for proc in [exporter, *agents]:
            proc.wait(10)
        for n in range(args.veths):
            subprocess.run(["ip", "link", "del", f"bench{n}"], check=False)


if __name__ == "__main__":
    main()
