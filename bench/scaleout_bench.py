#!/usr/bin/env python3
"""Scale-out on engines operators already run: exporter shards into VictoriaMetrics.

    scripts/in-netns .venv/bin/python bench/scaleout_bench.py [--devices 100000] [--shards 4]
        [--interval 30] [--scrape 15] [--outages 16] [--steady 90] [--kill-for 150]
        [--buckets default|none]

Runs in a private network namespace (it drops loopback addresses with nftables). One run:

- the inventory: ``--devices`` loopback addresses from 127.100.0.1, sites of 60 with a
  router first (the default parents), every hundredth device dropped for the whole run (a
  fleet with 1% down: that many DeviceDown firing, the ATM-behind-a-dark-router cut-off
  not involved since routers are never among them);
- ``--shards`` exporters on that one inventory (``--shard K/N``, ``--interval``, 2 echo
  requests, 1 s timeout), each with its own state file;
- VictoriaMetrics (Debian's ``victoria-metrics``) scraping every exporter every
  ``--scrape`` seconds with gzip, ``-search.latencyOffset=0s`` (docs/alerter.md);
- the alerter with the default rules (``rules/*.yml``) evaluating against VictoriaMetrics
  every ``--scrape`` seconds, notifying a webhook sink grouped by alert name and device.

Phases, each printed:

1. start-up: each shard ready, VictoriaMetrics holding every device, the background
   DeviceDowns notified.
2. steady state over ``--steady`` seconds: CPU (cores) and peak RSS of every part, the
   series per device, samples per second into VictoriaMetrics, the alerter's cycle.
3. outages: ``--outages`` leaf devices spread over every shard, each dropped at its own
   random moment and restored at a random moment after its DeviceDown arrived: detection
   (drop → firing notification) and recovery (restore → resolved notification), p50 / p95 /
   max over all and per shard.
4. one shard killed (SIGKILL) for ``--kill-for`` seconds, with an outage on another shard
   meanwhile: the killed shard's firing alerts must stay firing (no resolve), none of its
   devices may get a new alert, MonitoringDegraded and ExporterDown name it, the other
   shard's outage is detected and resolved; then the shard restarts from its state file
   and nothing false follows.
5. sizing: devices per exporter core, series per device, samples per second.

Exits 1 if a truth check in phase 4 fails. The machine is shared: the cores are the
figures to compare, the latencies are bounded by the intervals (detection needs a failed
probe, a scrape and an evaluation).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests" / "stack")]

from exporter_bench import (  # the bench directory is not a package
    NFT_TABLE,
    device_type,
    drop,
    peak_rss_mb,
    process_cpu,
    reexec_in_netns,
    table,
)
from stackparts import WebhookSink

from tests.support import Proc, free_port, wait_for, wait_http
from tests.support.nft import Firewall

FIRST = int(ipaddress.IPv4Address("127.100.0.1"))
SITE_SIZE = 60


def address(i: int) -> str:
    return str(ipaddress.IPv4Address(FIRST + i))


def name(i: int) -> str:
    return f"dev-{i:06d}"


def background(devices: int) -> list[int]:
    """The devices down for the whole run: every hundredth, never a router."""
    return [i for i in range(50, devices, 100) if device_type(i) != "router"]


def get_json(url: str, timeout: float = 60.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Notifications:
    """The webhook sink's log, read incrementally: (received, status, alertname, labels)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen: list[tuple[float, str, dict[str, str]]] = []

    def poll(self) -> list[tuple[float, str, dict[str, str]]]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            if line.strip():
                req = json.loads(line)
                for alert in req["payload"].get("alerts", []):
                    self.seen.append((req["received_at"], alert.get("status", ""),
                                      alert.get("labels", {})))
        return self.seen

    def first(self, alertname: str, status: str, since: float, **labels: str) -> float | None:
        for at, st, lab in self.poll():
            if (at >= since and st == status and lab.get("alertname") == alertname
                    and all(lab.get(k) == v for k, v in labels.items())):
                return at
        return None

    def count(self, alertname: str, status: str, since: float, devices: set[str]) -> int:
        return sum(1 for at, st, lab in self.poll()
                   if at >= since and st == status and lab.get("alertname") == alertname
                   and lab.get("device") in devices)


@dataclass
class Part:
    """One process of the layout and its CPU at the start of a window."""

    name: str
    proc: Proc
    cpu0: float = 0.0

    def cpu(self) -> float:
        user, system = process_cpu(self.proc.popen.pid)
        return user + system


@dataclass
class Outage:
    device: int
    shard: str
    drop_at: float
    dropped: float = 0.0
    fired: float = 0.0
    restore_at: float = 0.0
    restored: float = 0.0
    resolved: float = 0.0
    notes: list[str] = field(default_factory=list)


class Layout:
    """Shards, VictoriaMetrics, the alerter and the sink, on loopback."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        self.work, self.args = work, args
        self.parts: list[Part] = []
        self.sink = WebhookSink(work / "sink")
        self.notes = Notifications(self.sink.jsonl)
        self.firewall = Firewall()
        self.inventory = self._inventory()
        self.shard_ports = [free_port() for _ in range(args.shards)]
        self.shards: dict[str, Part] = {}
        self.shard_number: dict[str, int] = {}  # instance → K of --shard K/N

    def _inventory(self) -> Path:
        rows = ["name,address,site,type"] + [
            f"{name(i)},{address(i)},branch-{i // SITE_SIZE:04d},{device_type(i)}"
            for i in range(self.args.devices)]
        (self.work / "devices.csv").write_text("\n".join(rows) + "\n")
        path = self.work / "devices.yml"
        probe: dict[str, object] = {"interval": f"{self.args.interval:g}s", "timeout": "1s",
                                    "count": 2}
        if self.args.buckets == "none":
            probe["rtt_buckets"] = []
        path.write_text(yaml.safe_dump({"probe": probe, "inventory_files": ["devices.csv"]}))
        return path

    def start_shard(self, k: int) -> Part:
        instance = f"127.0.0.1:{self.shard_ports[k - 1]}"
        proc = Proc.python("exporter", "--config", str(self.inventory),
                           "--shard", f"{k}/{self.args.shards}",
                           "--state-file", str(self.work / f"state-{k}.json"),
                           "--web.listen-address", instance,
                           log=self.work / f"exporter-{k}.log", cwd=self.work)
        part = Part(f"exporter {k}/{self.args.shards}", proc)
        self.shards[instance] = part
        self.shard_number[instance] = k
        return part

    def start(self) -> None:
        started = time.monotonic()
        for k in range(1, self.args.shards + 1):
            self.parts.append(self.start_shard(k))
        for instance in self.shards:
            wait_http(f"http://{instance}/-/ready", timeout=600)
        print(f"  shards ready after {time.monotonic() - started:.1f}s", file=sys.stderr)
        scrape = self.work / "scrape.yml"
        scrape.write_text(yaml.safe_dump({
            "global": {"scrape_interval": f"{self.args.scrape:g}s",
                       "scrape_timeout": f"{self.args.scrape * 0.8:g}s"},
            "scrape_configs": [{"job_name": "wardops-exporter",
                                "static_configs": [{"targets": list(self.shards)}]}]}))
        self.vm_url = f"http://127.0.0.1:{free_port()}"
        vm = Proc(["victoria-metrics", f"-promscrape.config={scrape}",
                   f"-storageDataPath={self.work / 'vmdata'}",
                   f"-httpListenAddr={self.vm_url[7:]}", "-search.latencyOffset=0s",
                   "-promscrape.maxScrapeSize=512MB", "-search.maxUniqueTimeseries=10000000",
                   "-retentionPeriod=1d", "-loggerLevel=WARN"], log=self.work / "vm.log")
        self.parts.append(Part("VictoriaMetrics", vm))
        wait_http(self.vm_url + "/health", timeout=60)
        wait_for(lambda: self.count("wardops_device_up") == self.args.devices, timeout=300,
                 interval=2, what="VictoriaMetrics holding every device")
        print(f"  VictoriaMetrics has every device after {time.monotonic() - started:.1f}s",
              file=sys.stderr)
        # its first minutes register every new series (index, caches): let that settle
        # before the alerter queries, as it would have in a store that runs for days
        created, settled = -1.0, time.monotonic() + 600
        while time.monotonic() < settled:
            text = urllib.request.urlopen(self.vm_url + "/metrics", timeout=30).read().decode()
            now_created = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                              if line.startswith("vm_new_timeseries_created_total"))
            if now_created == created:
                break
            created = now_created
            time.sleep(2 * self.args.scrape)
        print(f"  VictoriaMetrics settled after {time.monotonic() - started:.1f}s",
              file=sys.stderr)
        config = {
            "prometheus": {"url": self.vm_url, "timeout": "30s"},
            "evaluation_interval": f"{self.args.scrape:g}s",
            "rule_files": [str(REPO / "rules" / "*.yml")],
            "state_dir": str(self.work / "alerter-state"),
            "route": {"receiver": "sink", "group_by": ["alertname", "device"],
                      "group_wait": "0s", "group_interval": "1s", "repeat_interval": "24h"},
            "receivers": [{"name": "sink", "webhook_configs": [
                {"url": f"{self.sink.url}/ours", "send_resolved": True}]}]}
        (self.work / "alerter.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.alerter_url = f"http://127.0.0.1:{free_port()}"
        alerter = Proc.python("alerter", "--config", str(self.work / "alerter.yml"),
                              "--web.listen-address", self.alerter_url[7:],
                              log=self.work / "alerter.log")
        self.parts.append(Part("alerter", alerter))
        wait_http(self.alerter_url + "/-/ready", timeout=600)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = self.vm_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        return get_json(url)["data"]["result"]

    def count(self, expr: str) -> int:
        rows = self.query(f"count({expr})")
        return int(float(rows[0]["value"][1])) if rows else 0

    def owners(self) -> dict[str, str]:
        """device name → the instance that reports it."""
        return {r["metric"]["device"]: r["metric"]["instance"]
                for r in self.query("last_over_time(wardops_device_info[5m])")}

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.proc.stop()
        self.sink.stop()
        self.firewall.close()


def steady(layout: Layout, seconds: float) -> dict[str, Any]:
    """Per-part cores and peak RSS over ``seconds``, series and samples per second."""
    def rows_inserted() -> float:
        text = urllib.request.urlopen(layout.vm_url + "/metrics", timeout=30).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("vm_rows_inserted_total"))
    for part in layout.parts:
        part.cpu0 = part.cpu()
    rows0, t0 = rows_inserted(), time.monotonic()
    time.sleep(seconds)
    window = time.monotonic() - t0
    samples = (rows_inserted() - rows0) / window
    series = get_json(layout.vm_url + "/api/v1/series/count")["data"][0]
    alerter = urllib.request.urlopen(layout.alerter_url + "/metrics", timeout=30).read().decode()
    cycle = [float(line.rsplit(" ", 1)[1]) for line in alerter.splitlines()
             if line.startswith("wardops_alerter_evaluation_duration_seconds_sum")]
    cycles = [float(line.rsplit(" ", 1)[1]) for line in alerter.splitlines()
              if line.startswith("wardops_alerter_evaluation_duration_seconds_count")]
    return {
        "window": window,
        "parts": [(p.name, (p.cpu() - p.cpu0) / window, peak_rss_mb(p.proc.popen.pid))
                  for p in layout.parts],
        "samples_per_second": samples, "series": series,
        "alerter_cycle": (sum(cycle) / sum(cycles)) if cycles and sum(cycles) else float("nan"),
    }


def run_outages(layout: Layout, chosen: list[tuple[int, str]], rng: random.Random,
                spread: float, timeout: float) -> list[Outage]:
    """Drop each device at its own moment in ``spread`` s; restore it a random moment after
    its DeviceDown arrived; wait for every resolve."""
    now = time.time()
    outages = [Outage(i, shard, now + rng.uniform(0, spread)) for i, shard in chosen]
    deadline = time.monotonic() + spread + 2 * timeout
    while time.monotonic() < deadline and not all(o.resolved for o in outages):
        now = time.time()
        for o in outages:
            if not o.dropped and now >= o.drop_at:
                layout.firewall.drop(address(o.device))
                o.dropped = time.time()
            elif o.dropped and not o.fired:
                at = layout.notes.first("DeviceDown", "firing", o.dropped, device=name(o.device))
                if at:
                    o.fired = at
                    o.restore_at = time.time() + rng.uniform(0, layout.args.interval)
            elif o.fired and not o.restored and now >= o.restore_at:
                layout.firewall.restore(address(o.device))
                o.restored = time.time()
            elif o.restored and not o.resolved:
                at = layout.notes.first("DeviceDown", "resolved", o.restored,
                                        device=name(o.device))
                if at:
                    o.resolved = at
        time.sleep(0.2)
    for o in outages:
        if o.dropped and not o.restored:
            layout.firewall.restore(address(o.device))
    return outages


def latency_rows(outages: list[Outage]) -> list[list[str]]:
    rows = [["", "n", "detect p50", "p95", "max", "recover p50", "p95", "max"]]
    groups: dict[str, list[Outage]] = {"all": outages}
    for o in outages:
        groups.setdefault(o.shard, []).append(o)
    for label, group in groups.items():
        det = [o.fired - o.dropped for o in group if o.fired]
        rec = [o.resolved - o.restored for o in group if o.resolved]
        rows.append([label, f"{len(det)}/{len(group)}"] +
                    [f"{percentile(det, q):.1f}s" for q in (0.5, 0.95, 1.0)] +
                    [f"{percentile(rec, q):.1f}s" for q in (0.5, 0.95, 1.0)])
    return rows


def kill_one_shard(layout: Layout, owners: dict[str, str], down: set[str],
                   rng: random.Random) -> list[tuple[str, bool]]:
    """SIGKILL one shard; check that its alerts freeze and the others' do not."""
    instances = sorted(layout.shards)
    victim = instances[min(1, len(instances) - 1)]
    its_devices = {d for d, inst in owners.items() if inst == victim}
    its_down = its_devices & down
    other = next(i for i in range(layout.args.devices)
                 if device_type(i) != "router" and name(i) not in down
                 and owners.get(name(i)) not in (victim, None) and i % 7 == 3)
    killed = time.time()
    layout.shards[victim].proc.stop(kill=True)
    print(f"  killed {victim} ({len(its_devices)} devices, {len(its_down)} of them down)",
          file=sys.stderr)
    time.sleep(rng.uniform(0, layout.args.scrape))
    outage = run_outages(layout, [(other, "other shard")], rng, 0.0,
                         timeout=layout.args.kill_for)[0]
    rest = layout.args.kill_for - (time.time() - killed)
    if rest > 0:
        time.sleep(rest)
    degraded = layout.notes.first("MonitoringDegraded", "firing", killed, instance=victim)
    exporter_down = layout.notes.first("ExporterDown", "firing", killed, instance=victim)
    resolved_during = layout.notes.count("DeviceDown", "resolved", killed, its_devices)
    new_during = layout.notes.count("DeviceDown", "firing", killed, its_devices)
    # back from its state file: still nothing false
    restarted = time.time()
    layout.parts.append(layout.start_shard(layout.shard_number[victim]))
    wait_http(f"http://{victim}/-/ready", timeout=600)
    time.sleep(3 * layout.args.scrape + layout.args.interval)
    resolved_after = layout.notes.count("DeviceDown", "resolved", restarted, its_down)
    checks = [
        (f"MonitoringDegraded names the killed shard "
         f"({degraded - killed:.0f}s)" if degraded else "MonitoringDegraded names the killed shard",
         degraded is not None),
        (f"ExporterDown names it ({exporter_down - killed:.0f}s)" if exporter_down
         else "ExporterDown names it", exporter_down is not None),
        (f"its {len(its_down)} firing DeviceDowns stay firing while it is down "
         f"({resolved_during} resolved)", resolved_during == 0),
        (f"no new DeviceDown for its devices while it is down ({new_during})", new_during == 0),
        (f"an outage on another shard is detected ({outage.fired - outage.dropped:.1f}s) and "
         f"resolved ({outage.resolved - outage.restored:.1f}s) meanwhile" if outage.resolved
         else "an outage on another shard is detected and resolved meanwhile",
         bool(outage.fired and outage.resolved)),
        (f"restarted from its state file: its down devices are not resolved "
         f"({resolved_after})", resolved_after == 0),
    ]
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--interval", type=float, default=30.0, help="probe interval")
    parser.add_argument("--scrape", type=float, default=15.0,
                        help="scrape and evaluation interval")
    parser.add_argument("--outages", type=int, default=16)
    parser.add_argument("--steady", type=float, default=90.0)
    parser.add_argument("--kill-for", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--buckets", choices=("default", "none"), default="default",
                        help="none: probe.rtt_buckets: [] (no RTT histogram series)")
    args = parser.parse_args()
    reexec_in_netns()
    subprocess.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], check=True)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="wardops-scaleout-"))
    down = {name(i) for i in background(args.devices)}
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True,
                   check=False)
    drop({address(i) for i in background(args.devices)})
    print(f"{args.devices:,} devices, {args.shards} shards, probe every {args.interval:g}s "
          f"(2 requests, histograms {args.buckets}), scrape and evaluation every "
          f"{args.scrape:g}s, {len(down)} down throughout; work in {work}", file=sys.stderr)
    layout = Layout(work, args)
    try:
        started = time.monotonic()
        layout.start()
        wait_for(lambda: layout.notes.count("DeviceDown", "firing", 0, down) >= len(down),
                 timeout=600, interval=2, what="every background DeviceDown notified")
        print(f"  background DeviceDowns notified after {time.monotonic() - started:.1f}s",
              file=sys.stderr)
        figures = steady(layout, args.steady)
        owners = layout.owners()
        by_shard: dict[str, list[int]] = {}
        for i in range(args.devices):
            inst = owners.get(name(i))
            if inst and device_type(i) != "router" and name(i) not in down:
                by_shard.setdefault(inst, []).append(i)
        chosen: list[tuple[int, str]] = []
        sites: set[int] = set()
        while len(chosen) < args.outages:
            inst = sorted(by_shard)[len(chosen) % len(by_shard)]
            i = rng.choice(by_shard[inst])
            if i // SITE_SIZE not in sites:
                sites.add(i // SITE_SIZE)
                chosen.append((i, inst))
        print(f"  {len(chosen)} outages ...", file=sys.stderr)
        outages = run_outages(layout, chosen, rng, spread=2 * args.interval,
                              timeout=6 * args.interval)
        checks = kill_one_shard(layout, owners, down, rng)
    finally:
        layout.stop()
        subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True,
                       check=False)

    print(f"\nwardops scale-out: {args.devices:,} devices on {args.shards} exporter shards → "
          f"VictoriaMetrics → alerter (rules/*.yml); probe every {args.interval:g}s, 2 "
          f"requests, histograms {args.buckets}; scrape and evaluation every {args.scrape:g}s; "
          f"{len(down)} devices down")
    rows = [["part", "cores", "peak RSS MB"]]
    rows += [[n, f"{c:.3f}", f"{r:.0f}"] for n, c, r in figures["parts"]]
    exporter_cores = sum(c for n, c, _ in figures["parts"] if n.startswith("exporter"))
    rows.append(["all exporters", f"{exporter_cores:.3f}",
                 f"{sum(r for n, _, r in figures['parts'] if n.startswith('exporter')):.0f}"])
    print(f"\nsteady state over {figures['window']:.0f}s:")
    print(table(rows))
    series = figures["series"]
    print(f"series in VictoriaMetrics: {series:,} ({series / args.devices:.1f} per device); "
          f"samples in: {figures['samples_per_second']:,.0f}/s "
          f"({figures['samples_per_second'] * args.scrape / args.devices:.1f} per device per "
          f"scrape); alerter evaluation {figures['alerter_cycle']:.2f}s per cycle")
    print(f"devices per exporter core: {args.devices / exporter_cores:,.0f}")
    print("\noutages (drop → DeviceDown firing received; restore → resolved received):")
    print(table(latency_rows(outages)))
    print("\none shard killed (SIGKILL) for "
          f"{args.kill_for:g}s, then restarted from its state file:")
    for text, ok in checks:
        print(f"  {'ok    ' if ok else 'FAILED'} {text}")
    out = REPO / "bench" / "results" / f"scaleout-{args.devices}x{args.shards}.json"
    out.write_text(json.dumps({
        "args": vars(args), "steady": figures, "checks": checks,
        "outages": [vars(o) for o in outages]}, indent=1, default=str))
    print(f"\nfigures written to {out.relative_to(REPO)}; logs in {work}")
    missed = [o for o in outages if not o.resolved]
    if missed:
        print(f"{len(missed)} outages without a notification: {[name(o.device) for o in missed]}")
    return 0 if all(ok for _, ok in checks) and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
