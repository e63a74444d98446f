#!/usr/bin/env python3
"""Exporter benchmark: the ICMP engine against fping and blackbox_exporter, side by side.

    .venv/bin/python bench/exporter_bench.py [--devices 10000] [--count 3] [--timeout 1]

Runs itself inside a private network namespace (scripts/in-netns) with only loopback:
``--devices`` targets 127.100.x.y, every twentieth dropped by nftables (5%). In one run:

* CPU (user + system, from the kernel's rusage) per 1,000 echo requests of
  ``fping -C<count> -i 0 -q`` and of our engine (raw and datagram sockets) probing the
  same list all at once, interleaved, ``--repeat`` times each; the median run and the
  ratio to fping. Then both spread over ``--spread`` seconds, as the exporter's scheduler
  spreads probes (our probes start evenly in 5 ms slots; fping gets ``-i`` so that its
  requests take about as long).
* prometheus-blackbox-exporter's ICMP module on a sample (``--blackbox-sample`` targets
  through its /probe endpoint, 32 at a time): its process's CPU per probe (one request
  each) from /proc/<pid>/stat.
* the wall time of one full cycle of the engine over every target at once
  (target: timeout + 1 s).
* if the exporter core is present: ``probe-once`` over the inventory; the exporter serving
  it: its CPU per request over two steady intervals, ``/metrics`` render time and size
  (target 0.25 s) and peak RSS (VmHWM; target 150 MB).

Prints a table; exits 1 if a target is missed. The machine is shared and timings are
noisy: compare the ratios, which come from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from exporter.icmp import IcmpProber, ProbeOutcome

NFT_TABLE = "wardops_bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """CPU and wall time of one measured run of one tool."""

    tool: str
    requests: int
    replies: int
    user: float
    system: float
    wall: float

    @property
    def cpu(self) -> float:
        return self.user + self.system

    @property
    def per_1000(self) -> float:
        """CPU seconds per 1,000 echo requests."""
        return self.cpu / self.requests * 1000 if self.requests else float("nan")


# -- the lab -------------------------------------------------------------------------------


def reexec_in_netns() -> None:
    if os.environ.get("WARDOPS_NETNS") != "1":
        os.execv(str(REPO / "scripts/in-netns"),
                 [str(REPO / "scripts/in-netns"), sys.executable, *sys.argv])


def targets(devices: int) -> tuple[list[str], set[str]]:
    """``devices`` loopback addresses and the 5% of them that nftables drops."""
    addresses = [f"127.100.{i // 250}.{i % 250 + 1}" for i in range(devices)]
    return addresses, set(addresses[7::20])


def drop(addresses: set[str]) -> None:
    """One nftables set holds the dropped addresses (one rule, however many)."""
    elements = ", ".join(sorted(addresses))
    script = f"""
table inet {NFT_TABLE} {{
  set down {{ type ipv4_addr; elements = {{ {elements} }} }}
  chain input {{ type filter hook input priority 0; policy accept; ip daddr @down drop; }}
}}"""
    subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True)


# -- the tools -----------------------------------------------------------------------------


def fping_run(target_file: Path, count: int, timeout: float, spacing: float,
              gap_ms: float = 0.0) -> Run:
    """fping over the whole list; CPU from the rusage wait4 returns for the fping process."""
    # -C: count per target; -i: gap between any two packets (0: none); -p: gap between
    # packets to one target (ours is --spacing); -t: per-request timeout.
    args = ["fping", f"-C{count}", f"-i{gap_ms:g}", "-q", f"-t{int(timeout * 1000)}",
            f"-p{max(int(spacing * 1000), 10)}", "-f", str(target_file)]
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    wall = time.monotonic() - started
    if proc.returncode not in (0, 1):  # 1: some targets unreachable, as intended
        raise RuntimeError(f"fping failed ({proc.returncode}): {stderr[-2000:]}")
    # -C -q prints "address : 0.05 0.04 -" per target on stderr, "-" for a lost request
    lines = [ln for ln in stderr.splitlines() if " : " in ln]
    replies = sum(1 for ln in lines for v in ln.split(" : ", 1)[1].split() if v != "-")
    return Run(" ".join(args[:6]), len(lines) * count, replies, usage.ru_utime,
               usage.ru_stime, wall)


def engine_run(target_file: Path, count: int, timeout: float, spacing: float,
               mode: str, spread: float = 0.0) -> Run:
    """Our engine in a child process: the second (warm) cycle, measured in the child."""
    out = subprocess.run([sys.executable, __file__, "engine-child", str(target_file),
                          "--count", str(count), "--timeout", str(timeout),
                          "--spacing", str(spacing), "--mode", mode, "--spread", str(spread)],
                         check=True, capture_output=True, text=True).stdout
    cycle = json.loads(out.splitlines()[-1])
    how = f", spread over {spread:g}s" if spread else ""
    return Run(f"wardops engine ({mode} sockets{how})", cycle["sent"], cycle["received"],
               cycle["user"], cycle["system"], cycle["wall"])


def engine_child(target_file: Path, count: int, timeout: float, spacing: float,
                 mode: str, spread: float) -> None:
    """Probe every target, twice; print the second cycle's figures as JSON.

    ``spread`` 0 starts every probe at once; otherwise probes start evenly over ``spread``
    seconds in 5 ms slots, as the exporter's scheduler does.
    """
    addresses = target_file.read_text().split()
    slot = 0.005

    async def cycle(prober: IcmpProber) -> list[ProbeOutcome]:
        if not spread:
            return await asyncio.gather(*(prober.probe(a, count, timeout) for a in addresses))
        tasks = []
        started = time.monotonic()
        step = spread / len(addresses)
        for i, address in enumerate(addresses):
            wait = started + i * step - time.monotonic()
            if wait > slot:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(prober.probe(address, count, timeout)))
        return await asyncio.gather(*tasks)

    async def main() -> dict[str, float]:
        prober = IcmpProber(privileged=mode == "raw", spacing=spacing)
        await prober.start()
        figures: dict[str, float] = {}
        for _ in range(2):
            before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            outcomes = await cycle(prober)
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            figures = {"user": after.ru_utime - before.ru_utime,
                       "system": after.ru_stime - before.ru_stime, "wall": wall,
                       "sent": sum(o.sent for o in outcomes),
                       "received": sum(o.received for o in outcomes),
                       "errors": sum(1 for o in outcomes if o.error)}
        await prober.close()
        return figures

    print(json.dumps(asyncio.run(main())))


def http_get(url: str, timeout: float = 30.0, agent: str | None = None,
             gzip: bool = False) -> bytes:
    """The body of ``url``; with ``gzip``, asked for compressed as Prometheus asks, and
    decompressed here."""
    headers = {"User-Agent": agent} if agent else {}
    if gzip:
        headers["Accept-Encoding"] = "gzip"
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        body = bytes(resp.read())
        if resp.headers.get("Content-Encoding") == "gzip":
            body = zlib.decompress(body, 31)
        return body


class Scraper(threading.Thread):
    """Scrapes /metrics every ``interval`` like Prometheus (asking for gzip, as Prometheus
    does), so that the exporter aligns its cycles to the scrapes
    (probe.align_to_scrapes, the default)."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.stopped = threading.Event()
        self.last = b""
        #: (monotonic start, seconds) of each scrape: request to the last byte of the
        #: compressed body, as Prometheus's scrape duration (decompressing not included)
        self.durations: list[tuple[float, float]] = []

    def run(self) -> None:
        next_at = time.monotonic()
        headers = {"User-Agent": "Prometheus/bench", "Accept-Encoding": "gzip"}
        while not self.stopped.wait(max(0.0, next_at - time.monotonic())):
            try:
                started = time.monotonic()
                request = urllib.request.Request(self.url, headers=headers)
                with urllib.request.urlopen(request, timeout=60) as resp:
                    body = bytes(resp.read())
                    encoded = resp.headers.get("Content-Encoding") == "gzip"
                self.durations.append((started, time.monotonic() - started))
                self.last = zlib.decompress(body, 31) if encoded else body
            except OSError as exc:
                print(f"bench: scrape failed: {exc}", file=sys.stderr)
            next_at += self.interval

    def seconds_since(self, since: float) -> list[float]:
        """The durations of the scrapes that started at or after ``since`` (monotonic)."""
        return [seconds for started, seconds in self.durations if started >= since]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            http_get(url, 2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def process_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a running process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident size (VmHWM) in MiB: /proc's "kB" are KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def blackbox_run(sample: list[str], timeout: float, workdir: Path) -> Run:
    """blackbox_exporter's ICMP module through /probe; CPU of its process only."""
    config = workdir / "blackbox.yml"
    config.write_text(f"""modules:
  icmp:
    prober: icmp
    timeout: {timeout}s
    icmp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
""")
    port = free_port()
    with open(workdir / "blackbox.log", "wb") as log:
        proc = subprocess.Popen(["prometheus-blackbox-exporter", f"--config.file={config}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/metrics", 20)
            http_get(f"http://127.0.0.1:{port}/probe?module=icmp&target=127.0.0.1")  # warm up
            user0, sys0 = process_cpu(proc.pid)
            started = time.monotonic()

            def probe(address: str) -> bool:
                body = http_get(f"http://127.0.0.1:{port}/probe?module=icmp&target={address}")
                return b"\nprobe_success 1" in body

            with ThreadPoolExecutor(32) as pool:
                ok = sum(pool.map(probe, sample))
            wall = time.monotonic() - started
            user1, sys1 = process_cpu(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    return Run("blackbox_exporter icmp /probe", len(sample), ok, user1 - user0, sys1 - sys0, wall)


# -- the exporter --------------------------------------------------------------------------


def exporter_present() -> bool:
    return (REPO / "exporter/cli.py").exists()


def device_type(index: int) -> str:
    """The type of the ``index``-th device: one router per branch of 60, as in the bank
    (the branch's other devices depend on it), then switches, APs, ATMs, ..."""
    kinds = ("switch", "ap", "atm", "paybox", "nvr")
    return "router" if index % 60 == 0 else kinds[index % len(kinds)]


def write_inventory(workdir: Path, addresses: list[str], interval: float, timeout: float,
                    count: int, paths: int = 0) -> Path:
    """The inventory as a CSV import; with ``paths`` (2), every device has two ISP paths,
    Magti to its own address and Silknet to the address ``devices`` further on (columns
    path_<isp>_address), so the exporter probes all of ``addresses``."""
    csv = workdir / "devices.csv"
    devices = len(addresses) // paths if paths else len(addresses)
    rows = ["name,address,site,type" + (",path_Magti_address,path_Silknet_address" if paths
                                         else "")]
    for i, address in enumerate(addresses[:devices]):
        row = f"dev-{i:05d},{address},branch-{i // 60:03d},{device_type(i)}"
        if paths:  # Silknet shifted by one, so no device has both paths dropped
            row += f",{address},{addresses[devices + (i + 1) % devices]}"
        rows.append(row)
    csv.write_text("\n".join(rows) + "\n")
    config = workdir / "devices.yml"
    config.write_text(f"""probe:
  interval: {interval:g}s
  timeout: {timeout:g}s
  count: {count}
inventory_files: [devices.csv]
""")
    return config


@dataclass
class ExporterFigures:
    probe_once: Run
    sweep_seconds: float  # probe-once's own figure: the sweep, without start-up
    sweep_counts: tuple[int, int, int]  # up, down, not probed
    serve: Run
    cycle_seconds: float  # wardops_exporter_cycle_duration_seconds while serving
    aligned: bool  # wardops_exporter_cycle_aligned: cycles end just before the scrapes
    skipped: int  # probe turns skipped (previous probe still running) while serving
    overruns: int
    served_counts: tuple[int, ...]  # wardops_exporter_devices{state=up|down|unknown}
    render_seconds: float
    metrics_bytes: int
    peak_rss_mb: float


def sample_value(text: str, series: str) -> float:
    """The value of one series in an exposition, NaN if absent."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def exporter_run(config: Path, devices: int, count: int, interval: float,
                 workdir: Path) -> ExporterFigures:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    base = [sys.executable, "-m", "exporter"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    once = subprocess.run([*base, "probe-once", str(config)], env=env, cwd=workdir,
                          capture_output=True, text=True, check=False)  # 1: devices down
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = re.search(r"probe-once: \d+ devices in ([\d.]+)s: (\d+) up, (\d+) down, "
                        r"(\d+) not probed", once.stderr)
    if once.returncode not in (0, 1) or summary is None:
        raise RuntimeError(f"probe-once failed ({once.returncode}): {once.stderr[-2000:]}")
    up, down, unprobed = (int(g) for g in summary.groups()[1:])
    probe_once = Run("exporter probe-once (whole process)", devices * count, 0,
                     after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, wall)

    port = free_port()
    with open(workdir / "exporter.log", "wb") as log:
        proc = subprocess.Popen([*base, "--config", str(config), "--state-file", "",
                                 "--web.listen-address", f"127.0.0.1:{port}"],
                                env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        scraper = Scraper(f"{url}/metrics", interval)
        try:
            wait_http(f"{url}/-/ready", interval * 3 + 30)
            scraper.start()
            deadline = time.monotonic() + 8 * interval
            while (time.monotonic() < deadline and sample_value(
                    scraper.last.decode(), "wardops_exporter_cycle_aligned") != 1):
                time.sleep(0.5)
            user0, sys0 = process_cpu(proc.pid)
            time.sleep(2 * interval)  # two steady cycles, aligned to the scrapes
            user1, sys1 = process_cpu(proc.pid)
            serve = Run(f"exporter serving, {2 * interval:g}s steady", 2 * devices * count, 0,
                        user1 - user0, sys1 - sys0, 2 * interval)
            renders = []
            body = b""
            for _ in range(5):
                started = time.monotonic()
                body = http_get(f"{url}/metrics")
                renders.append(time.monotonic() - started)
            rss = peak_rss_mb(proc.pid)
        finally:
            scraper.stopped.set()
            proc.terminate()
            proc.wait(15)
    text = body.decode()
    served = tuple(int(sample_value(text, f'wardops_exporter_devices{{state="{state}"}}'))
                   for state in ("up", "down", "unknown"))
    return ExporterFigures(probe_once, float(summary.group(1)), (up, down, unprobed), serve,
                           sample_value(text, "wardops_exporter_cycle_duration_seconds"),
                           sample_value(text, "wardops_exporter_cycle_aligned") == 1,
                           int(sample_value(text, 'wardops_probe_errors_total{reason="skipped"}')),
                           int(sample_value(text, "wardops_exporter_cycle_overruns_total")),
                           served, statistics.median(renders), len(body), rss)


# -- report --------------------------------------------------------------------------------


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def check(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--spacing", type=float, default=0.1,
                        help="gap between one target's requests (ours; fping -p)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--blackbox-sample", type=int, default=500)
    parser.add_argument("--interval", type=float, default=10.0, help="exporter probe interval")
    parser.add_argument("--spread", type=float, default=8.0,
                        help="window over which the spread runs (engine and fping) send")
    parser.add_argument("--skip-exporter", action="store_true")
    parser.add_argument("--paths", type=int, choices=(0, 2), default=0,
                        help="2: every device has two ISP paths (Magti to its address, "
                        "Silknet to a second one): --devices devices, twice the probes; "
                        "fping and the engine probe all 2 × --devices addresses")
    args = parser.parse_args()
    reexec_in_netns()
    subprocess.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], check=True)

    devices = args.devices
    args.devices *= max(args.paths, 1)  # the probes (targets) of a cycle from here on
    addresses, dropped = targets(args.devices)
    drop(dropped)
    workdir = Path(tempfile.mkdtemp(prefix="wardops-bench-"))
    target_file = workdir / "targets.txt"
    target_file.write_text("\n".join(addresses) + "\n")
    print(f"{args.devices} targets 127.100.x.y, {len(dropped)} dropped by nftables; "
          f"count {args.count}, timeout {args.timeout:g}s, spacing {args.spacing:g}s; "
          f"median of {args.repeat} runs; logs and inventory in {workdir}", file=sys.stderr)

    runs: dict[str, list[Run]] = {}
    for rep in range(args.repeat):
        print(f"run {rep + 1}/{args.repeat}: fping, engine raw and datagram; engine and fping "
              "spread", file=sys.stderr)
        runs.setdefault("fping", []).append(
            fping_run(target_file, args.count, args.timeout, args.spacing))
        for mode in ("raw", "datagram"):
            runs.setdefault(mode, []).append(
                engine_run(target_file, args.count, args.timeout, args.spacing, mode))
        runs.setdefault("spread", []).append(
            engine_run(target_file, args.count, args.timeout, args.spacing, "raw", args.spread))
        # fping spreads its requests over about the same window with a gap between packets
        gap_ms = round(args.spread * 1000 / (args.devices * args.count), 3)
        runs.setdefault("fping spread", []).append(
            fping_run(target_file, args.count, args.timeout, args.spacing, gap_ms))
    print("blackbox_exporter sample", file=sys.stderr)
    sample = addresses[: args.blackbox_sample]
    blackbox = blackbox_run(sample, args.timeout, workdir)

    median = {k: sorted(v, key=lambda r: r.cpu)[len(v) // 2] for k, v in runs.items()}
    fping = median["fping"]
    # Each engine run against the fping run that sends the same way: all at once, or
    # spread over the window (where both pay a wake-up per few packets).
    baseline = {"fping": "fping", "raw": "fping", "datagram": "fping",
                "fping spread": "fping spread", "spread": "fping spread"}
    rows = [["tool", "requests", "replies", "user s", "sys s", "CPU s/1000 req", "µs/req",
             "× fping"]]
    for key in ("fping", "raw", "datagram", "fping spread", "spread", "blackbox"):
        run = blackbox if key == "blackbox" else median[key]
        base = median[baseline.get(key, "fping")]
        rows.append([run.tool, str(run.requests), str(run.replies), f"{run.user:.3f}",
                     f"{run.system:.3f}", f"{run.per_1000:.4f}", f"{run.per_1000 * 1000:.1f}",
                     f"{run.per_1000 / base.per_1000:.2f}"])
    worst_ratio = max(median[m].per_1000 / median[baseline[m]].per_1000
                      for m in ("raw", "datagram", "spread"))
    cycle_wall = statistics.median(r.wall for m in ("raw", "datagram") for r in runs[m])
    limit = args.timeout + 1
    expected = (args.devices - len(dropped)) * args.count
    all_runs = [r for rs in runs.values() for r in rs]
    report = [table(rows), "",
              (f"engine CPU per request ≤ 3 × fping: worst {worst_ratio:.2f}× "
              f"{check(worst_ratio <= 3)}"),
              f"replies: {expected} expected per run (dropped targets answer nothing), "
              f"got {sorted({r.replies for r in all_runs})} "
              + check(all(r.replies == expected for r in all_runs)),
              (f"engine cycle wall time, {args.devices} targets at once: {cycle_wall:.2f}s "
              f"(target ≤ timeout + 1s = {limit:g}s) {check(cycle_wall <= limit)}")]
    missed = (worst_ratio > 3 or cycle_wall > limit
              or any(r.replies != expected for r in all_runs))

    if args.skip_exporter or not exporter_present():
        report.append("exporter: skipped (" + ("--skip-exporter" if args.skip_exporter
                                               else "exporter core not on this branch") + ")")
    else:
        print("exporter: probe-once, then serving", file=sys.stderr)
        config = write_inventory(workdir, addresses, args.interval, args.timeout, args.count,
                                 args.paths)
        fig = exporter_run(config, args.devices, args.count, args.interval, workdir)
        truth = (args.devices - len(dropped), len(dropped), 0)
        if args.paths:
            # a device is up while either path is (write_inventory's pairing)
            half = set(addresses[:devices])
            down = sum(1 for i, a in enumerate(addresses[:devices])
                       if a in dropped and addresses[devices + (i + 1) % devices] in dropped)
            truth = (devices - down, down, 0)
            print(f"{devices} devices with 2 paths each; {len(dropped & half)} Magti and "
                  f"{len(dropped - half)} Silknet paths dropped", file=sys.stderr)
        report += [
            (f"exporter probe-once, {devices} devices, {args.devices} probes: "
            f"sweep {fig.sweep_seconds:.2f}s "
            f"{check(fig.sweep_seconds <= limit)}; whole process {fig.probe_once.wall:.2f}s wall, "
            f"{fig.probe_once.cpu:.2f}s CPU (start-up and inventory included) = "
            f"{fig.probe_once.per_1000 / fping.per_1000:.1f}× fping per request; "
            f"up/down/unprobed {fig.sweep_counts} {check(fig.sweep_counts == truth)}"),
            (f"exporter serving, interval {args.interval:g}s: CPU {fig.serve.per_1000:.4f}s/1000 "
            f"requests over two intervals = "
            f"{fig.serve.per_1000 / median['fping spread'].per_1000:.1f}× fping spread; "
            f"cycle {fig.cycle_seconds:.2f}s, aligned to scrapes every {args.interval:g}s: "
            f"{'yes' if fig.aligned else 'NO'}; skipped probes {fig.skipped}, overruns "
            f"{fig.overruns} {check(fig.skipped == 0 and fig.overruns == 0)}; "
            f"up/down/unknown {fig.served_counts} {check(fig.served_counts == truth)}"),
            (f"/metrics at {devices} devices ({args.paths or 'no'} paths each): "
             f"{fig.render_seconds:.3f}s median of 5, "
            f"{fig.metrics_bytes / 1e6:.2f} MB (target ≤ 0.25s) "
            f"{check(fig.render_seconds <= 0.25)}"),
            (f"exporter peak RSS (VmHWM): {fig.peak_rss_mb:.0f} MB (target ≤ 150 MB) "
            f"{check(fig.peak_rss_mb <= 150)}"),
        ]
        missed = (missed or fig.render_seconds > 0.25 or fig.peak_rss_mb > 150
                  or fig.sweep_seconds > limit or fig.sweep_counts != truth
                  or fig.served_counts != truth or not fig.aligned or fig.skipped
                  or fig.overruns)
    print("\n".join(report))
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "engine-child":
        child = argparse.ArgumentParser()
        child.add_argument("cmd")
        child.add_argument("targets", type=Path)
        child.add_argument("--count", type=int)
        child.add_argument("--timeout", type=float)
        child.add_argument("--spacing", type=float)
        child.add_argument("--mode")
        child.add_argument("--spread", type=float)
        a = child.parse_args()
        engine_child(a.targets, a.count, a.timeout, a.spacing, a.mode, a.spread)
        sys.exit(0)
    sys.exit(main())
