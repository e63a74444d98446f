#!/usr/bin/env python3
"""The exporter from 1,000 to 100,000 devices: the scale curve, with fping in the same run.

    sudo .venv/bin/python bench/exporter_scale_bench.py [--sizes 1000,10000,50000,100000]
        [--interval 30] [--count 2] [--buckets default|none]

Runs itself inside a private network namespace (scripts/in-netns) with only loopback. For
each size: that many loopback targets from 127.100.0.1 on, every twentieth dropped by
nftables (5%); the exporter serving them (``--interval``, ``--count`` requests, 1 s
timeout) with a Prometheus-like scraper every 15 s that asks for gzip, as Prometheus does;
and fping over the same targets, twice: all at once (``-i 0``, its cheapest) and paced
over the exporter's probe window (``-i`` so that its requests take about as long as the
exporter's cycle spends sending).

Per size it prints: start-up to ready, whole-process CPU per echo request over two steady
intervals (once the cycles are aligned to the scrapes, after one aligned cycle; from
/proc, scrapes and state saves included) and its ratio to both fping runs,
the average cores, the cycle's wall time, skipped probes and overruns, peak RSS (VmHWM:
while scraped with gzip, then at the end, after the requests without gzip below too),
the scraper's gzip scrapes over the steady window (fastest and slowest, each in the log:
what Prometheus's scrape duration shows; a scrape right after a cycle renders most of the
body again, one between cycles little of it), ``/metrics`` without gzip (median of 3:
rendered afresh for each request, so the render's cost) and its size, the state file's
size and the last save's duration. Then the growth from one size to the next.

Targets (issue 16, at 100,000 devices, 30 s interval, 2 requests): no overrun, average
CPU ≤ 0.25 core, peak RSS ≤ 512 MiB, /metrics ≤ 0.5 s, ready ≤ 30 s. Exits 1 if one is
missed at the largest size. The machine is shared: compare ratios from the same run.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from exporter_bench import (  # the bench directory is not a package
    NFT_TABLE,
    Scraper,
    device_type,
    drop,
    fping_run,
    free_port,
    http_get,
    peak_rss_mb,
    process_cpu,
    reexec_in_netns,
    sample_value,
    table,
    wait_http,
)

FIRST = int(ipaddress.IPv4Address("127.100.0.1"))


def targets(devices: int) -> tuple[list[str], set[str]]:
    """``devices`` loopback addresses from 127.100.0.1 and the 5% nftables drops."""
    addresses = [str(ipaddress.IPv4Address(FIRST + i)) for i in range(devices)]
    return addresses, set(addresses[7::20])


def firewall(dropped: set[str]) -> None:
    """Replace the previous size's table: one set holds the dropped addresses."""
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True,
                   check=False)
    drop(dropped)


def inventory(workdir: Path, addresses: list[str], interval: float, count: int,
              buckets: str) -> Path:
    rows = ["name,address,site,type"]
    rows += [f"dev-{i:06d},{a},branch-{i // 60:04d},{device_type(i)}"
             for i, a in enumerate(addresses)]
    (workdir / "devices.csv").write_text("\n".join(rows) + "\n")
    config = workdir / "devices.yml"
    config.write_text(f"""probe:
  interval: {interval:g}s
  timeout: 1s
  count: {count}
{"  rtt_buckets: []" if buckets == "none" else ""}
inventory_files: [devices.csv]
""")
    return config


@dataclass
class Figures:
    devices: int
    ready: float
    cpu: float  # CPU seconds over the steady window
    window: float
    requests: int
    cycle: float
    skipped: int
    overruns: int
    rss: float  # peak (VmHWM) while scraped with gzip, as by Prometheus
    rss_all: float  # peak at the end, after the /metrics requests without gzip too
    metrics_plain: float
    # the Prometheus-like scraper's gzip scrapes over the steady window, in order: those
    # right after a cycle render most of the body, those between cycles little of it
    scrapes: tuple[float, ...]
    metrics_bytes: int
    gzip_bytes: int
    state_bytes: int
    save_seconds: float
    fping_burst: float  # µs per request
    fping_paced: float

    @property
    def us_per_request(self) -> float:
        return self.cpu / self.requests * 1e6

    @property
    def cores(self) -> float:
        return self.cpu / self.window


def timed_get(url: str, gzip: bool) -> tuple[float, int, int]:
    """(seconds, decoded bytes, bytes on the wire) of one GET, median of 3."""
    import urllib.request
    runs = []
    for _ in range(3):
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip
                                         else {})
        started = time.monotonic()
        with urllib.request.urlopen(request, timeout=60) as resp:
            wire = resp.read()
            encoded = resp.headers.get("Content-Encoding") == "gzip"
        seconds = time.monotonic() - started
        size = len(http_get(url)) if encoded else len(wire)
        runs.append((seconds, size, len(wire)))
    runs.sort()
    return runs[1]


def fping_chunks(addresses: list[str], count: int, gap_ms: float, workdir: Path) -> float:
    """fping's CPU µs per request over ``addresses``, run over chunks one after the other:
    one fping keeps at most 65,535 requests in flight (its sequence numbers)."""
    size = 60_000 // count
    cpu = requests = 0.0
    for start in range(0, len(addresses), size):
        chunk = workdir / "fping-chunk.txt"
        chunk.write_text("\n".join(addresses[start:start + size]) + "\n")
        run = fping_run(chunk, count, 1.0, 0.1, gap_ms)
        cpu += run.cpu
        requests += run.requests
    return cpu / requests * 1e6


def wait_aligned(scraper: Scraper, timeout: float) -> float:
    """Seconds until the scraper's last body says the cycles are aligned to its scrapes
    (the exporter's own metrics come last, after the per-device families)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        tail = scraper.last[-300_000:].decode(errors="replace")
        if sample_value(tail, "wardops_exporter_cycle_aligned") == 1:
            return time.monotonic() - started
        time.sleep(1.0)
    raise SystemExit(f"bench: cycles not aligned to the scrapes after {timeout:g} s")


def measure(devices: int, interval: float, count: int, buckets: str,
            workdir: Path) -> Figures:
    addresses, dropped = targets(devices)
    firewall(dropped)
    target_file = workdir / "targets.txt"
    target_file.write_text("\n".join(addresses) + "\n")
    config = inventory(workdir, addresses, interval, count, buckets)
    state = workdir / "state.json"
    state.unlink(missing_ok=True)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.monotonic()
    with open(workdir / f"exporter-{devices}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(config),
                                 "--state-file", str(state),
                                 "--web.listen-address", f"127.0.0.1:{port}"],
                                env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        scraper = Scraper(f"{url}/metrics", 15.0)
        try:
            wait_http(f"{url}/-/ready", 300)
            ready = time.monotonic() - started
            scraper.start()
            # Steady state is what Prometheus sees for good: cycles aligned to its scrapes
            # (four regular scrapes first, 45 s at 15 s), then one whole aligned cycle.
            # Measuring sooner mixed in cycles spread over the interval, whose probes end
            # during every scrape.
            aligned = wait_aligned(scraper, 10 * interval)
            print(f"  cycles aligned to the scrapes {aligned:.0f} s after ready",
                  file=sys.stderr)
            time.sleep(interval)
            user0, sys0 = process_cpu(proc.pid)
            t0 = time.monotonic()
            time.sleep(2 * interval)
            user1, sys1 = process_cpu(proc.pid)
            window = time.monotonic() - t0
            scraper.stopped.set()
            scrapes = tuple(scraper.seconds_since(t0))
            rss = peak_rss_mb(proc.pid)
            # without gzip /metrics is rendered afresh for every request: the render's cost
            plain = timed_get(f"{url}/metrics", gzip=False)
            gz = timed_get(f"{url}/metrics", gzip=True)  # for the size on the wire
            text = http_get(f"{url}/metrics").decode()
            rss_all = peak_rss_mb(proc.pid)
        finally:
            scraper.stopped.set()
            proc.terminate()
            proc.wait(60)
    # fping after the exporter, on the same targets: at once, and paced over the window
    # the exporter's cycle spends sending (its cycle less the last probe's timeout)
    cycle = sample_value(text, "wardops_exporter_cycle_duration_seconds")
    send_window = max(cycle - 1.0 - (count - 1) * 0.1, 1.0)
    burst = fping_chunks(addresses, count, 0.0, workdir)
    paced = fping_chunks(addresses, count, round(send_window * 1000 / (devices * count), 3),
                         workdir)
    return Figures(
        devices, ready, (user1 - user0) + (sys1 - sys0), window,
        int(devices * count * window / interval), cycle,
        int(sample_value(text, 'wardops_probe_errors_total{reason="skipped"}')),
        int(sample_value(text, "wardops_exporter_cycle_overruns_total")), rss, rss_all,
        plain[0], scrapes, plain[1], gz[2],
        state.stat().st_size,
        sample_value(text, "wardops_exporter_state_last_save_duration_seconds"),
        burst, paced)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000,100000")
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--buckets", choices=("default", "none"), default="default",
                        help="none: probe.rtt_buckets: [] (no RTT histogram series)")
    args = parser.parse_args()
    reexec_in_netns()
    subprocess.run(["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="wardops-scale-"))
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"interval {args.interval:g}s, {args.count} requests, 1s timeout, histograms "
          f"{args.buckets}; scrapes every 15 s with gzip; logs in {workdir}", file=sys.stderr)
    results = []
    for size in sizes:
        print(f"{size} devices ...", file=sys.stderr)
        results.append(measure(size, args.interval, args.count, args.buckets, workdir))
        print(f"  {results[-1]}", file=sys.stderr)
    rows = [["devices", "ready s", "µs/req", "× fping at once", "× fping paced", "cores",
             "cycle s", "skipped", "overruns", "peak RSS MiB", "with plain MiB",
             "plain /metrics s",
             "scrapes fastest s", "slowest s",
             "MB", "gzip MB", "state MB", "save s"]]
    for f in results:
        rows.append([f"{f.devices:,}", f"{f.ready:.1f}", f"{f.us_per_request:.1f}",
                     f"{f.us_per_request / f.fping_burst:.1f}",
                     f"{f.us_per_request / f.fping_paced:.2f}", f"{f.cores:.3f}",
                     f"{f.cycle:.2f}", str(f.skipped), str(f.overruns), f"{f.rss:.0f}",
                     f"{f.rss_all:.0f}",
                     f"{f.metrics_plain:.3f}", f"{min(f.scrapes):.3f}", f"{max(f.scrapes):.3f}",
                     f"{f.metrics_bytes / 1e6:.1f}", f"{f.gzip_bytes / 1e6:.2f}",
                     f"{f.state_bytes / 1e6:.1f}", f"{f.save_seconds:.3f}"])
    print(table(rows))
    print("\nfping µs per request, same targets: " + ", ".join(
        f"{f.devices:,}: {f.fping_burst:.1f} at once, {f.fping_paced:.1f} paced"
        for f in results))
    print("growth per 10× devices (1.0 = linear): " + "; ".join(
        f"{a.devices:,}→{b.devices:,}: CPU {b.cpu / a.cpu * a.devices / b.devices:.2f}, "
        f"RSS {b.rss / a.rss * a.devices / b.devices:.2f}, "
        f"/metrics {b.metrics_plain / a.metrics_plain * a.devices / b.devices:.2f}"
        for a, b in zip(results, results[1:])))
    big = results[-1]
    checks = [("no overrun", big.overruns == 0), ("CPU ≤ 0.25 core", big.cores <= 0.25),
              # VmHWM / 1024: MiB already; the peak with the requests without gzip too
              ("peak RSS ≤ 512 MiB", big.rss_all <= 512),
              ("/metrics ≤ 0.5 s (every gzip scrape)", max(big.scrapes) <= 0.5),
              ("ready ≤ 30 s", big.ready <= 30)]
    print(f"at {big.devices:,} devices: " + ", ".join(
        f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks))
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
