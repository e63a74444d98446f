"""Evaluation cost of the default rules over 10,000 (or 100,000) devices, next to
Prometheus and vmalert.

    scripts/in-netns .venv/bin/python bench/alerter_eval_bench.py [--devices 10000] [--cycles 8]
    scripts/in-netns .venv/bin/python bench/alerter_eval_bench.py --devices 100000 --interval 30
        [--buckets none]

One run starts, on loopback:
- a /metrics target (a child process) serving the wardops exporter's own /metrics (its
  real renderer, default parents from its real inventory loader, RTT histograms) for N
  devices in N/10 sites, re-probed every half interval, 10% down (half of them as whole sites, whose
  other devices the dependency rule cuts off, half scattered);
- Prometheus scraping it, with the default rules (``rules/*.yml``) as its own rule files;
- vmalert evaluating the same rule files against that Prometheus;
- the wardops evaluator (in this process, with a no-op notification pipeline) evaluating
  the same rules against the same Prometheus at the same interval.

It prints, per evaluation cycle, wardops's CPU (thread CPU of the evaluating thread) and
wall time, Prometheus's own rule evaluation time (``prometheus_rule_group_last_duration_seconds``
summed over the groups), vmalert's iteration time and CPU, memory, and the ratios.
"""

from __future__ import annotations

import argparse
import http.server
import ipaddress
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prometheus_client import CollectorRegistry

from alerter.config import load_config
from alerter.evaluator import Evaluator
from alerter.metrics import EvalMetrics
from alerter.state import StateStore
from tests.support import free_port, wait_for, wait_http

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- the target

FIRST = int(ipaddress.IPv4Address("127.20.0.1"))  # addresses only: nothing is probed
SITE_SIZE = 10  # a bank branch: a router, then switches, ATMs, kiosks, cameras
TYPES = ("router", "switch", "atm", "atm", "paybox", "nvr", "ap", "switch", "atm", "ap")


def is_down(i: int) -> bool:
    """10% of the devices down: every 20th site whole (its router too, so its other devices
    are cut off by the dependency rule), and the 4th device of every odd site."""
    site = i // SITE_SIZE
    return site % 20 == 0 or (i % SITE_SIZE == 3 and site % 2 == 1)


class Target:
    """The exporter's own /metrics for ``devices`` devices (exporter.collector, the real
    renderer, with default parents from the real inventory loader), probed every few
    seconds: fresh timestamps, RTT histograms, 10% down since five minutes before start."""

    def __init__(self, devices: int, workdir: Path, histograms: bool = True) -> None:
        from exporter.collector import DeviceMetrics
        from exporter.config import load_inventory
        from exporter.latency import DEFAULT_BUCKETS, rendered_bounds
        rows = ["name,address,site,type"] + [
            f"dev-{i},{ipaddress.IPv4Address(FIRST + i)},site-{i // SITE_SIZE},"
            f"{TYPES[i % SITE_SIZE]}" for i in range(devices)]
        (workdir / "target.csv").write_text("\n".join(rows) + "\n")
        (workdir / "target.yml").write_text("inventory_files: [target.csv]\n")
        self.devices = load_inventory(workdir / "target.yml").devices
        self.metrics = DeviceMetrics(self.devices, rendered_bounds(DEFAULT_BUCKETS, 1.0)
                                     if histograms else None)
        self.states: dict = {}
        self.probe(time.time() - 300)

    def probe(self, now: float) -> None:
        """One probe of every device at ``now`` (two requests)."""
        from exporter.state import DeviceState, ProbeResult, record
        for i, d in enumerate(self.devices):
            down = is_down(i)
            rtts = () if down else (0.003 + (i % 7) * 0.001, 0.004 + (i % 5) * 0.001)
            result = ProbeResult(now, now + 0.05, 2, len(rtts),
                                 sum(rtts) / len(rtts) if rtts else None, rtts=rtts)
            self.states[d.key] = record(self.states.get(d.key, DeviceState()), result, 1, 1)

    def body(self) -> bytes:
        from prometheus_client import CollectorRegistry

        from exporter.collector import render_metrics
        return b"".join(render_metrics(self.metrics, self.states, CollectorRegistry()))


def serve_target(port: int, devices: int, every: float, histograms: bool) -> None:
    """Child-process mode: serve the metrics, probed and re-rendered every ``every`` s."""
    target = Target(devices, Path(tempfile.mkdtemp(prefix="wardops-eval-target-")),
                    histograms)
    cache = {"body": target.body()}

    def refresh() -> None:
        while True:
            time.sleep(every)
            target.probe(time.time())
            cache["body"] = target.body()
    threading.Thread(target=refresh, daemon=True).start()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = cache["body"]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


class Sink(http.server.BaseHTTPRequestHandler):
    """vmalert's notifier target: accepts and drops."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


# ---------------------------------------------------------------------------- helpers

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scrape(url: str) -> dict[str, float]:
    """name{labels} → value of a /metrics page (enough for the series read here)."""
    out = {}
    for line in requests.get(url, timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key] = float(value)
            except ValueError:
                continue
    return out


def series_sum(metrics: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


class NoopPipeline:
    def process(self, alerts: list) -> None:
        self.last = len(alerts)

    def pending_resolves(self) -> set[str]:
        return set()


# ---------------------------------------------------------------------------- the run

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--interval", type=int, default=10, help="seconds between cycles")
    parser.add_argument("--buckets", choices=("default", "none"), default="default",
                        help="none: the target serves no RTT histogram (probe.rtt_buckets: [])")
    parser.add_argument("--serve-target", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target:
        serve_target(args.serve_target, args.devices, max(5.0, args.interval / 2),
                     args.buckets != "none")
        return 0

    work = Path(tempfile.mkdtemp(prefix="wardops-eval-bench-"))
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(cmd: list[str], name: str) -> subprocess.Popen[bytes]:
        with open(work / f"{name}.log", "wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    try:
        target_port, prom_port, vm_port = free_port(), free_port(), free_port()
        sink = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Sink)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        spawn([sys.executable, __file__, "--devices", str(args.devices),
               "--interval", str(args.interval), "--buckets", args.buckets,
               "--serve-target", str(target_port)], "target")
        (work / "prometheus.yml").write_text(textwrap.dedent(f"""\
            global: {{scrape_interval: {args.interval}s, evaluation_interval: {args.interval}s}}
            rule_files: ['{REPO / 'rules' / '*.yml'}']
            scrape_configs:
              - job_name: wardops-exporter
                scrape_timeout: {max(1, args.interval - 1)}s
                static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]
            """))
        prom = spawn(["prometheus", f"--config.file={work / 'prometheus.yml'}",
                      f"--storage.tsdb.path={work / 'tsdb'}",
                      f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                     "prometheus")
        prom_url = f"http://127.0.0.1:{prom_port}"
        wait_http(prom_url + "/-/ready", timeout=60)

        def device_count() -> bool:
            r = requests.get(prom_url + "/api/v1/query",
                             params={"query": "count(wardops_device_up)"}, timeout=10).json()
            res = r["data"]["result"]
            return bool(res) and int(float(res[0]["value"][1])) == args.devices
        wait_for(device_count, timeout=600, interval=1, what="Prometheus has every device")

        vmalert = spawn(["vmalert", f"-rule={REPO / 'rules' / '*.yml'}",
                         f"-datasource.url={prom_url}",
                         f"-notifier.url=http://127.0.0.1:{sink.server_address[1]}",
                         f"-evaluationInterval={args.interval}s",
                         f"-httpListenAddr=127.0.0.1:{vm_port}", "-loggerLevel=ERROR"],
                        "vmalert")
        vm_url = f"http://127.0.0.1:{vm_port}"
        wait_http(vm_url + "/health", timeout=30)

        (work / "alerter.yml").write_text(textwrap.dedent(f"""\
            prometheus: {{url: '{prom_url}', timeout: 30s}}
            evaluation_interval: {args.interval}s
            rule_files: ['{REPO / 'rules' / '*.yml'}']
            state_dir: state
            """))
        config = load_config(work / "alerter.yml")
        registry = CollectorRegistry()
        holder: list[Evaluator] = []
        metrics = EvalMetrics(registry, alerts=lambda: holder[0].alerts() if holder else [])
        pipeline = NoopPipeline()
        evaluator = Evaluator(config, StateStore(config.state_dir), pipeline, metrics)
        holder.append(evaluator)

        evaluator.run_cycle()                     # warm-up: first cycle writes every alert
        warm_alerts = pipeline.last
        time.sleep(args.interval)
        vm_before, prom_cpu0, vm_cpu0 = scrape(vm_url + "/metrics"), cpu_seconds(prom.pid), \
            cpu_seconds(vmalert.pid)
        cpu, pcpu, wall, prom_eval = [], [], [], []
        for _ in range(args.cycles):
            started = time.monotonic()
            c0, p0, w0 = time.thread_time(), time.process_time(), time.perf_counter()
            evaluator.run_cycle()
            cpu.append(time.thread_time() - c0)
            pcpu.append(time.process_time() - p0)
            wall.append(time.perf_counter() - w0)
            pm = scrape(prom_url + "/metrics")
            prom_eval.append(series_sum(pm, "prometheus_rule_group_last_duration_seconds"))
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
        vm_after, prom_cpu1, vm_cpu1 = scrape(vm_url + "/metrics"), cpu_seconds(prom.pid), \
            cpu_seconds(vmalert.pid)

        groups = len(config.groups)
        vm_iters = (series_sum(vm_after, "vmalert_iteration_total") -
                    series_sum(vm_before, "vmalert_iteration_total")) / groups
        vm_wall = ((series_sum(vm_after, "vmalert_iteration_duration_seconds_sum") -
                    series_sum(vm_before, "vmalert_iteration_duration_seconds_sum"))
                   / max(vm_iters, 1))
        vm_cpu = (vm_cpu1 - vm_cpu0) / max(vm_iters, 1)
        ours_cpu, ours_wall = statistics.median(cpu), statistics.median(wall)
        prom_wall = statistics.median(prom_eval)
        firing = sum(1 for a in evaluator.alerts() if a.state == "firing")
        rule_count = sum(len(g.rules) for g in config.groups)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        print(f"wardops alerter evaluation benchmark: {args.devices} devices "
              f"({sum(1 for a in evaluator.alerts() if a.name == 'DeviceDown')} DeviceDown, "
              f"{sum(1 for a in evaluator.alerts() if a.name == 'SiteDown')} SiteDown firing; "
              f"{firing} firing alerts in all), rules/*.yml ({rule_count} rules, {groups} groups), "
              f"{args.cycles} cycles every {args.interval}s, first cycle {warm_alerts} alerts")
        print(f"{'':34}{'CPU/cycle':>12}{'wall/cycle':>12}{'memory':>12}")
        print(f"{'wardops evaluator':34}{ours_cpu:>11.3f}s{ours_wall:>11.3f}s"
              f"{rss:>9.0f} MB  (max RSS of this process)")
        print(f"{'Prometheus rule evaluation':34}{'-':>12}{prom_wall:>11.3f}s"
              f"{rss_mb(prom.pid):>9.0f} MB  (whole Prometheus; CPU not separable)")
        print(f"{'vmalert':34}{vm_cpu:>11.3f}s{vm_wall:>11.3f}s{rss_mb(vmalert.pid):>9.0f} MB")
        print(f"wardops CPU per cycle: min {min(cpu):.3f}s max {max(cpu):.3f}s "
              f"(whole bench process: median {statistics.median(pcpu):.3f}s); "
              f"wall min {min(wall):.3f}s max {max(wall):.3f}s; "
              f"Prometheus process CPU during the run {prom_cpu1 - prom_cpu0:.1f}s "
              f"(scrapes, its own rules, and the queries of wardops and vmalert)")
        print(f"ratios: wardops/Prometheus wall {ours_wall / prom_wall:.1f}x, "
              f"wardops/vmalert wall {ours_wall / vm_wall:.1f}x, "
              f"wardops/vmalert CPU {ours_cpu / vm_cpu if vm_cpu else float('inf'):.1f}x; "
              f"target <= 0.5 s CPU per cycle: {'met' if ours_cpu <= 0.5 else 'NOT met'}")
        evaluator.close()
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
