"""/metrics render time and size at N devices, in-process (no network needed).

    .venv/bin/python bench/exporter_render.py [N] [--no-histogram] [--paths]

Builds N devices with site, type and two extra labels, gives every device a probed
state (5% down; the others with three replies of 0.3-0.5 ms in the RTT histogram of the
default bounds and a 2 s timeout), and times the whole /metrics body as the exporter
serves it (per-device families + the registry's), best of 5, and its gzip compression
next to the standard library's zlib at the same level. ``--no-histogram``: as
with ``probe.rtt_buckets: []``. ``--paths``: every device has two ISP paths (Magti,
Silknet) with their own states and histograms (the device's own histogram is then not
served). Side by side, for reference: the same
per-device series through prometheus-client's generate_latest.
"""

from __future__ import annotations

import resource
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from exporter.collector import DeviceMetrics, render_metrics
from exporter.config import Device, IspPath
from exporter.gzipbody import gzipped
from exporter.icmp import Route
from exporter.latency import DEFAULT_BUCKETS, rendered_bounds
from exporter.state import DeviceState, ProbeResult, record


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 10_000
    bounds = None if "--no-histogram" in sys.argv else rendered_bounds(DEFAULT_BUCKETS, 2.0)
    devices = [Device(name=f"Branch{i // 8}-dev{i % 8}", address=f"127.1.{i // 250}.{i % 250 + 1}",
                      site=f"Branch{i // 8}", type="router",
                      labels=(("region", "Tbilisi"), ("vendor", "cisco")),
                      latitude=41.7, longitude=44.8) for i in range(n)]
    if "--paths" in sys.argv:
        devices = [replace(d, paths=(IspPath("Magti", d.address, d.ip),
                                     IspPath("Silknet", f"127.2.{i // 250}.{i % 250 + 1}",
                                             None, Route(mark=0x20))))
                   for i, d in enumerate(devices)]
    states: dict[tuple[str, ...], DeviceState] = {}
    for i, d in enumerate(devices):
        ok = i % 20 != 0
        rtts = (0.0003, 0.0004, 0.0005) if ok else ()
        result = ProbeResult(1.7e9, 1.7e9 + 0.1, 3, len(rtts), 0.0004 if ok else None,
                             rtts=rtts)
        for key in (d.key, *(d.path_key(p) for p in d.paths)):
            states[key] = record(DeviceState(), result, 1, 1)
    metrics = DeviceMetrics(devices, bounds)
    registry = CollectorRegistry()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        body = b"".join(render_metrics(metrics, dict(states), registry))
        best = min(best, time.perf_counter() - t)
    series = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
    print(f"paths={'2' if '--paths' in sys.argv else 'none'} "
          f"histogram={'off' if bounds is None else len(bounds) + 1} buckets "
          f"devices={n} render_seconds={best:.3f} bytes={len(body)} series={series}")

    # gzip, as /metrics compresses for a scraper that asks: the exporter's (ISA-L) next to
    # the standard library's zlib at the same level, on the same body
    def best_of(compress: Callable[[], bytes]) -> tuple[float, int]:
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            size = len(compress())
            runs.append(time.perf_counter() - t)
        return min(runs), size

    ours, ours_size = best_of(lambda: b"".join(gzipped([body])))
    theirs, theirs_size = best_of(lambda: zlib.compress(body, 1, wbits=31))
    print(f"gzip_seconds={ours:.3f} gzip_bytes={ours_size} zlib_level1_seconds={theirs:.3f} "
          f"zlib_bytes={theirs_size} ratio={theirs / ours:.1f}x")

    class Reference:
        def collect(self):  # type: ignore[no-untyped-def]
            names = ["device", "address", "site", "type", "region", "vendor"]
            families = [GaugeMetricFamily(f"ref_{j}", "x", labels=names) for j in range(7)]
            for d in devices:
                values = [d.name, d.address, d.site, d.type, "Tbilisi", "cisco"]
                for f in families:
                    f.add_metric(values, 1.0)
            return families

    ref = CollectorRegistry()
    ref.register(Reference())
    t = time.perf_counter()
    generate_latest(ref)
    ref_seconds = time.perf_counter() - t
    print(f"reference generate_latest_seconds={ref_seconds:.3f} ratio={ref_seconds / best:.1f}x "
          f"max_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
