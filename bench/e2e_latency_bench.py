"""End-to-end detection and recovery latency: wardops vs blackbox_exporter + Alertmanager.

Run inside a private network namespace (it drops loopback addresses with nftables):

    scripts/in-netns .venv/bin/python bench/e2e_latency_bench.py [--outages 24] [--interval 5]
    .venv/bin/python bench/e2e_latency_bench.py --pool bench/results/e2e-latency-*.json

Side by side in one run, on the same loopback "devices" and the same outages:

- wardops: exporter (ICMP every ``interval``, 1 echo, 1 s timeout, down_after 1) →
  Prometheus (scrape every ``interval``) → alerter (evaluation every ``interval``,
  DeviceDown from rules/*.yml) → webhook;
- the stack people use today: prometheus-blackbox-exporter's ICMP module (probed at
  scrape time, every ``interval``, 1 s timeout) → the same Prometheus evaluating
  ``probe_success == 0`` every ``interval`` → prometheus-alertmanager → webhook.

Both notify with group_wait 0 and group_interval 1 s, grouped per device, to one webhook
sink (different paths). Each outage drops one address at a random moment and restores
it once both stacks have notified; detection is drop → firing notification received,
recovery is restore → resolved notification received. Several devices have outages in
parallel, each at its own random phase. Outages begin once both stacks see every device up
and, with alignment on, wardops's exporter and alerter follow the scrapes (the steady
state; each needs a few regular scrapes first). Prints p50/p95/max per stack and the ratio, and
writes the figures with the configuration to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "stack")]

from stackparts import Prometheus, WebhookSink

from tests.support import Proc, free_port, wait_for, wait_http
from tests.support.nft import Firewall

OURS, THEIRS = "wardops", "blackbox+alertmanager"


@dataclass
class Outage:
    """One outage of one device and when each stack noticed it."""

    device: str
    address: str
    dropped: float
    restored: float = 0.0
    fired: dict[str, float] = field(default_factory=dict)  # stack → receive time
    resolved: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class Bench:
    """Both stacks on loopback, one webhook sink, one Prometheus."""

    def __init__(self, workdir: Path, devices: int, interval: float, align: bool = True) -> None:
        # One device per outage: a device with two outages within 5 minutes would be
        # DeviceFlapping (3+ transitions), which replaces its DeviceDown by design.
        self.workdir = workdir
        self.interval = interval
        self.align = align  # probe.align_to_scrapes and evaluation_alignment
        self.devices = {f"bench-{i:02d}": f"127.50.0.{i + 1}" for i in range(devices)}
        # Never dropped, so the site is never wholly down (no SiteDown in the way).
        self.witness = {"bench-witness": "127.50.1.1"}
        self.firewall = Firewall()
        self.procs: list[Any] = []
        self.sink = self._keep(WebhookSink(workdir / "sink"))
        self._start_exporter()
        self._start_blackbox()
        self._start_alertmanager()
        self._start_prometheus()
        # Before the first scrape the alerter would rightly raise MonitoringDegraded.
        wait_for(lambda: self.prom.query('up{job="wardops-exporter"} == 1'), timeout=30,
                 what="Prometheus scraping the exporter")
        self._start_alerter()

    def _keep(self, proc: Any) -> Any:
        self.procs.append(proc)
        return proc

    def _start_exporter(self) -> None:
        inventory = {
            "probe": {"interval": f"{self.interval:g}s", "timeout": "1s", "count": 1,
                      "down_after": 1, "up_after": 1, "align_to_scrapes": self.align},
            "sites": {"Bench": {"labels": {"region": "Bench"}}},
            "devices": [{"name": n, "address": a, "site": "Bench", "type": "router"}
                        for n, a in {**self.devices, **self.witness}.items()],
        }
        path = self.workdir / "devices.yml"
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        self.exporter_port = free_port()
        self._keep(Proc.python("exporter", "--config", str(path), "--web.listen-address",
                               f"127.0.0.1:{self.exporter_port}", "--state-file", "",
                               log=self.workdir / "exporter.log"))
        wait_http(f"http://127.0.0.1:{self.exporter_port}/-/ready", timeout=30)

    def _start_blackbox(self) -> None:
        config = {"modules": {"icmp": {"prober": "icmp", "timeout": "1s",
                                       "icmp": {"preferred_ip_protocol": "ip4"}}}}
        path = self.workdir / "blackbox.yml"
        path.write_text(yaml.safe_dump(config))
        self.blackbox_port = free_port()
        self._keep(Proc(["prometheus-blackbox-exporter", f"--config.file={path}",
                         f"--web.listen-address=127.0.0.1:{self.blackbox_port}"],
                        log=self.workdir / "blackbox.log"))
        wait_http(f"http://127.0.0.1:{self.blackbox_port}/-/healthy", timeout=30)

    def _route(self, group_by: list[str], url: str) -> dict[str, Any]:
        return {"route": {"receiver": "sink", "group_by": group_by, "group_wait": "0s",
                          "group_interval": "1s", "repeat_interval": "1h"},
                "receivers": [{"name": "sink", "webhook_configs": [
                    {"url": url, "send_resolved": True}]}]}

    def _start_alertmanager(self) -> None:
        path = self.workdir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(self._route(["alertname", "instance"],
                                                   f"{self.sink.url}/theirs")))
        self.am_port = free_port()
        self._keep(Proc(["prometheus-alertmanager", f"--config.file={path}",
                         f"--storage.path={self.workdir / 'alertmanager'}",
                         f"--web.listen-address=127.0.0.1:{self.am_port}",
                         "--cluster.listen-address="], log=self.workdir / "alertmanager.log"))
        wait_http(f"http://127.0.0.1:{self.am_port}/-/ready", timeout=30)

    def _start_prometheus(self) -> None:
        rules = self.workdir / "blackbox-rules.yml"
        rules.write_text(yaml.safe_dump({"groups": [{"name": "blackbox", "rules": [{
            "alert": "BlackboxDown", "expr": 'probe_success{job="blackbox"} == 0',
            "labels": {"severity": "critical"},
            "annotations": {"summary": "{{ $labels.instance }} does not answer ping"}}]}]}))
        every = f"{self.interval:g}s"
        config = {
            "global": {"scrape_interval": every, "evaluation_interval": every},
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": "wardops-exporter", "static_configs": [
                    {"targets": [f"127.0.0.1:{self.exporter_port}"]}]},
                {"job_name": "blackbox", "metrics_path": "/probe", "params": {"module": ["icmp"]},
                 "static_configs": [{"targets": list(self.devices.values())
                                     + list(self.witness.values())}],
                 "relabel_configs": [
                     {"source_labels": ["__address__"], "target_label": "__param_target"},
                     {"source_labels": ["__param_target"], "target_label": "instance"},
                     {"target_label": "__address__",
                      "replacement": f"127.0.0.1:{self.blackbox_port}"}]},
            ],
        }
        self.prom = self._keep(Prometheus(self.workdir / "prometheus", config))

    def _start_alerter(self) -> None:
        config = {
            "prometheus": {"url": self.prom.url, "timeout": "5s"},
            "evaluation_interval": f"{self.interval:g}s",
            "evaluation_alignment": {"enabled": self.align},
            "rule_files": [str(REPO / "rules" / "*.yml")],
            "state_dir": str(self.workdir / "alerter-state"),
            **self._route(["alertname", "device"], f"{self.sink.url}/ours"),
        }
        path = self.workdir / "alerter.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.alerter_port = free_port()
        self._keep(Proc.python("alerter", "--config", str(path), "--web.listen-address",
                               f"127.0.0.1:{self.alerter_port}", log=self.workdir / "alerter.log"))
        wait_http(f"http://127.0.0.1:{self.alerter_port}/-/ready", timeout=30)

    def stop(self) -> None:
        # what each part says about its timing (alignment, cycles), kept with the run
        for name, port in (("exporter", getattr(self, "exporter_port", None)),
                           ("alerter", getattr(self, "alerter_port", None))):
            if port is None:
                continue
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=10) as resp:
                    (self.workdir / f"{name}-metrics.txt").write_bytes(resp.read())
            except OSError as exc:
                print(f"bench: could not save the {name}'s metrics: {exc}", file=sys.stderr)
        for proc in reversed(self.procs):
            proc.stop()
        self.firewall.close()

    # ---------------------------------------------------------------- observing

    def wait_all_up(self, timeout: float = 60.0) -> None:
        """Both stacks see every device up (warm-up)."""
        want = len(self.devices) + len(self.witness)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ours = self.prom.query("count(wardops_device_up == 1)")
            theirs = self.prom.query('count(probe_success{job="blackbox"} == 1)')
            if (ours and theirs and int(float(ours[0]["value"][1])) == want
                    and int(float(theirs[0]["value"][1])) == want):
                return
            time.sleep(0.5)
        raise SystemExit("bench: the stacks did not see every device up within "
                         f"{timeout:.0f}s; see {self.workdir}/*.log")

    def wait_aligned(self, timeout: float = 120.0) -> None:
        """With alignment on, the measurement is of the steady state: the exporter's cycles
        and the alerter's evaluations both follow the scrapes (each needs a few regular
        scrapes first; before that, a first outage was seen up to an interval later)."""
        def aligned(port: int, name: str) -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return f"{name} 1" in r.read().decode()
        wait_for(lambda: aligned(self.exporter_port, "wardops_exporter_cycle_aligned")
                 and aligned(self.alerter_port, "wardops_alerter_evaluation_aligned"),
                 timeout=timeout, what="the exporter and the alerter aligned to the scrapes")

    def receipts(self, status: str, since: float) -> dict[tuple[str, str], float]:
        """(stack, address) → first receive time of a ``status`` notification after ``since``."""
        by_device = {**self.devices, **self.witness}
        first: dict[tuple[str, str], float] = {}
        for req in self.sink.requests():
            at = req["received_at"]
            if at < since:
                continue
            stack = OURS if req["path"] == "/ours" else THEIRS
            for alert in req["payload"].get("alerts", []):
                labels = alert.get("labels", {})
                if alert.get("status") != status:
                    continue
                if stack == OURS and labels.get("alertname") == "DeviceDown":
                    address = by_device.get(labels.get("device", ""), labels.get("address"))
                elif stack == THEIRS and labels.get("alertname") == "BlackboxDown":
                    address = labels.get("instance")
                else:
                    continue
                key = (stack, address)
                first[key] = min(first.get(key, at), at)
        return first

    def run_outage(self, device: str, rng: random.Random, timeout: float) -> Outage:
        """Drop, wait for both firing, restore, wait for both resolved."""
        address = self.devices[device]
        outage = Outage(device, address, dropped=time.time())
        self.firewall.drop(address)
        self._wait(outage, "firing", outage.dropped, outage.fired, timeout)
        time.sleep(rng.uniform(0.0, self.interval))
        outage.restored = time.time()
        self.firewall.restore(address)
        self._wait(outage, "resolved", outage.restored, outage.resolved, timeout)
        return outage

    def _wait(self, outage: Outage, status: str, since: float, into: dict[str, float],
              timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.receipts(status, since)
            for stack in (OURS, THEIRS):
                if (stack, outage.address) in got:
                    into[stack] = got[(stack, outage.address)]
            if len(into) == 2:
                return
            time.sleep(0.1)


def summarise(outages: list[Outage]) -> dict[str, Any]:
    """p50/p95/max of detection and recovery per stack, and what went missing."""
    out: dict[str, Any] = {}
    for stack in (OURS, THEIRS):
        detect = [o.fired[stack] - o.dropped for o in outages if stack in o.fired]
        recover = [o.resolved[stack] - o.restored for o in outages if stack in o.resolved]
        out[stack] = {
            "outages": len(outages),
            "detected": len(detect), "recovered": len(recover),
            "detect_p50": percentile(detect, 50) if detect else None,
            "detect_p95": percentile(detect, 95) if detect else None,
            "detect_max": max(detect) if detect else None,
            "detect_mean": statistics.fmean(detect) if detect else None,
            "recover_p50": percentile(recover, 50) if recover else None,
            "recover_p95": percentile(recover, 95) if recover else None,
            "recover_max": max(recover) if recover else None,
            "recover_mean": statistics.fmean(recover) if recover else None,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=24, help="total outages (default 24)")
    parser.add_argument("--parallel", type=int, default=4,
                        help="devices with outages at the same time (default 4)")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="probe = scrape = evaluation interval, seconds (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-align", action="store_true",
                        help="probe.align_to_scrapes and evaluation_alignment off (the plain "
                             "cadences, for comparison)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--pool", type=Path, nargs="+", metavar="RESULT",
                        help="run nothing: pool the outages of earlier runs' "
                             "bench/results/e2e-latency-*.json files (each run starts both "
                             "stacks afresh, so Prometheus's evaluation phase, which decides "
                             "the peer's latency, differs run to run) and print one table")
    args = parser.parse_args(argv)
    if args.pool:
        return pool(args.pool)
    if os.environ.get("WARDOPS_NETNS") != "1":
        print("bench: run me inside a private network namespace: "
              "scripts/in-netns .venv/bin/python bench/e2e_latency_bench.py", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%dT%H%M%S")
    workdir = args.workdir or Path("/tmp") / f"wardops-e2e-bench-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench: {args.outages} outages, {args.parallel} at a time, interval "
          f"{args.interval:g}s, alignment {'off' if args.no_align else 'on'}; work dir "
          f"{workdir}", flush=True)
    bench = Bench(workdir, args.outages, args.interval, align=not args.no_align)
    outages: list[Outage] = []
    lock = threading.Lock()
    timeout = 6 * args.interval + 30
    try:
        bench.wait_all_up()
        if not args.no_align:
            bench.wait_aligned()
        time.sleep(2 * args.interval)  # Watchdog and friends out of the way, phases settled

        def worker(devices: list[str], seed: int) -> None:
            rng = random.Random(seed)
            for device in devices:
                time.sleep(rng.uniform(1.0, 2 * args.interval))  # a random phase
                outage = bench.run_outage(device, rng, timeout)
                with lock:
                    outages.append(outage)
                    done = len(outages)
                print(f"  outage {done:>3}/{args.outages} {device}: detect "
                      + "  ".join(f"{s} {o:5.2f}s" for s, o in _rel(outage.fired,
                                                                        outage.dropped))
                      + " | recover "
                      + "  ".join(f"{s} {o:5.2f}s" for s, o in _rel(outage.resolved,
                                                                        outage.restored)),
                      flush=True)

        names = list(bench.devices)
        threads = [threading.Thread(target=worker, args=(names[i::args.parallel],
                                                         args.seed * 100 + i))
                   for i in range(args.parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        bench.stop()
    figures = summarise(outages)
    budget = 3 * args.interval + 2
    print_table(figures, args.interval, budget)
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"e2e-latency-{stamp}.json"
    out.write_text(json.dumps({
        "interval_s": args.interval, "outages": args.outages, "parallel": args.parallel,
        "seed": args.seed, "budget_s": budget, "figures": figures,
        "config": {"probe": {"count": 1, "timeout": "1s", "down_after": 1,
                             "align_to_scrapes": not args.no_align},
                   "evaluation_alignment": {"enabled": not args.no_align, "margin": "0.5s"},
                   "group_wait": "0s", "group_interval": "1s",
                   "blackbox_rule": 'probe_success{job="blackbox"} == 0'},
        "raw": [asdict(o) for o in outages]}, indent=2))
    print(f"bench: raw figures in {out}")
    return 0


def pool(paths: list[Path]) -> int:
    """Print the figures of the outages of several result files together, and each run's
    ratios."""
    outages: list[Outage] = []
    intervals = set()
    for path in paths:
        data = json.loads(path.read_text())
        intervals.add(data["interval_s"])
        figures = data["figures"]
        ratios = "  ".join(f"{key} {figures[OURS][key] / figures[THEIRS][key]:.2f}"
                           for key in ("detect_p95", "recover_p95"))
        print(f"{path.name}: {data['outages']} outages, seed {data['seed']}: ours/theirs {ratios}")
        outages += [Outage(**raw) for raw in data["raw"]]
    if len(intervals) != 1:
        print("bench: the runs have different intervals", file=sys.stderr)
        return 2
    interval = intervals.pop()
    print(f"pooled: {len(outages)} outages from {len(paths)} runs")
    print_table(summarise(outages), interval, 3 * interval + 2)
    return 0


def _rel(times: dict[str, float], since: float) -> list[tuple[str, float]]:
    return [(("ours" if s == OURS else "theirs"), t - since) for s, t in sorted(times.items())
            if t]


def print_table(figures: dict[str, Any], interval: float, budget: float) -> None:
    """The figures as a small table, with the ratios."""
    def fmt(v: float | None) -> str:
        return f"{v:6.2f}s" if v is not None else "   n/a "

    print(f"\nend-to-end latency, probe = scrape = evaluation interval {interval:g}s "
          f"(budget probe+scrape+eval+2s = {budget:g}s)")
    print(f"{'':24} {'detect p50':>10} {'p95':>8} {'max':>8} | {'recover p50':>11} "
          f"{'p95':>8} {'max':>8} | missed")
    for stack in (OURS, THEIRS):
        f = figures[stack]
        missed = (f["outages"] - f["detected"]) + (f["outages"] - f["recovered"])
        print(f"{stack:24} {fmt(f['detect_p50']):>10} {fmt(f['detect_p95']):>8} "
              f"{fmt(f['detect_max']):>8} | {fmt(f['recover_p50']):>11} "
              f"{fmt(f['recover_p95']):>8} {fmt(f['recover_max']):>8} | {missed}")
    ours, theirs = figures[OURS], figures[THEIRS]
    for key in ("detect_p95", "recover_p95"):
        if ours[key] and theirs[key]:
            print(f"ratio ours/theirs {key}: {ours[key] / theirs[key]:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
