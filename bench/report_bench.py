"""wardops-report's wall time and Prometheus query load for a backfilled month.

    .venv/bin/python bench/report_bench.py bank            # tests/data/credobank-devices.csv
    .venv/bin/python bench/report_bench.py 10000 --days 3  # synthetic fleet
    options: --days N (30), --interval S (15), --keep DIR (reuse/keep the TSDB)

Builds the history the exporter would have left in Prometheus (tests/report/history.py:
per device wardops_device_up every scrape; down_since and state_changes for the ~5 % of
devices with outages; two exporters, one unreachable for 40 minutes), backfills it with
`promtool tsdb create-blocks-from openmetrics` in chunks of ~5 M samples (promtool holds
its input in memory), starts Prometheus on it on a loopback port and runs `wardops-report --month`
style over the whole period. The peer in the same run: Prometheus answering the single
cheapest query of the same figure (`avg_over_time(wardops_device_up[period])`, what a
dashboard panel would ask), with the ratio printed.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests

from tests.report.conftest import Prometheus
from tests.report.history import Device, History, write_openmetrics

DAY = 86400
START = 1793491200  # 2026-11-01T00:00:00Z


def fleet(which: str) -> list[Device]:
    """The bank's devices (sites and regions from the CSV) or N synthetic ones."""
    devices: list[Device] = []
    if which == "bank":
        with (REPO / "tests/data/credobank-devices.csv").open(newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                devices.append(Device(row["name"].replace('"', ""), row["ip"],
                                      row["branch"] or row["name"], row["region"],
                                      "a:9469" if i % 2 else "b:9469",
                                      row["device_type"].lower() or "router"))
    else:
        for i in range(int(which)):
            address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
            devices.append(Device(f"Branch{i // 4}-dev{i % 4}", address, f"Branch{i // 4}",
                                  f"Region{i % 12}",
                                  "a:9469" if i % 2 else "b:9469"))
    return devices


def script(devices: list[Device], days: int) -> None:
    """~5 % of devices get outages: one or two a week of 2-120 minutes; one flaps."""
    for i, d in enumerate(devices):
        if i % 20 == 7:
            for k in range(days // 4 + 1):
                at = START + k * 4 * DAY + (i * 7919) % DAY + 13
                d.outages.append((at, at + 120 + (i * 31 + k * 977) % 7080))
    devices[1].outages = [(START + DAY + 1200 * k + 5, START + DAY + 1200 * k + 605)
                          for k in range(30)]


def backfill(devices: list[Device], days: int, interval: int, data: Path, work: Path) -> float:
    """promtool holds its whole input in memory: chunks of about 5 M samples (an hour or
    more each, whole hours dividing a day), so a 10,000-device fleet needs ~1 GB, not 10."""
    began = time.monotonic()
    gaps = {"b:9469": [(START + DAY // 2, START + DAY // 2 + 2400)]}
    per_hour = len(devices) * 3600 // interval
    hours = next(h for h in (24, 12, 8, 6, 4, 3, 2, 1) if h * per_hour <= 5_000_000 or h == 1)
    chunks = days * 24 // hours
    for k in range(chunks):
        first = START + k * hours * 3600 + interval
        last = START + (k + 1) * hours * 3600
        history = History(first=first, last=last, interval=interval, devices=devices,
                          gaps=gaps, sparse=True)
        source = work / f"chunk{k}.om"
        write_openmetrics(history, source)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                        f"--max-block-duration={hours}h", str(source), str(data)],
                       check=True, capture_output=True)
        source.unlink()
        print(f"  backfilled {(k + 1) * hours} h of {days * 24} h "
              f"({time.monotonic() - began:.0f}s)", file=sys.stderr, flush=True)
    return time.monotonic() - began


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("fleet", help="bank, or a number of devices")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--interval", type=int, default=15)
    p.add_argument("--keep", type=Path, help="keep (or reuse) the work directory")
    args = p.parse_args()
    devices = fleet(args.fleet)
    script(devices, args.days)
    work = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    if not data.exists():
        took = backfill(devices, args.days, args.interval, data, work)
        print(f"backfill: {len(devices)} devices x {args.days} d at {args.interval} s: "
              f"{took:.0f} s", flush=True)
    prom = Prometheus(work, data)
    prom.start()
    try:
        end = START + args.days * DAY
        period = f"{args.days * 24}h"
        out = work / "report"
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "report", "--prometheus", prom.url,
             "--scrape-interval", f"{args.interval}s", "--allow-gaps",
             "--from", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START)),
             "--to", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)),
             "--output", str(out)], capture_output=True, text=True, cwd=REPO)
        wall = time.monotonic() - began
        if result.returncode != 0:
            sys.exit(result.stderr)
        load = result.stderr.strip().splitlines()[-1]
        began = time.monotonic()
        peer = requests.post(prom.url + "/api/v1/query", timeout=600, data={
            "query": f"avg_over_time(wardops_device_up[{period}])", "time": end}).json()
        peer_wall = time.monotonic() - began
        assert len(peer["data"]["result"]) == len(devices), "the peer query saw every device"
        print(f"report: {len(devices)} devices, {args.days} d at {args.interval} s "
              f"({len(devices) * args.days * DAY // args.interval:,} samples of "
              f"wardops_device_up): {wall:.1f} s wall")
        print(f"  load: {load.split('wardops-report: ')[-1]}")
        print(f"peer (one avg_over_time query, no outages, no gaps): {peer_wall:.1f} s; "
              f"report / peer = {wall / peer_wall:.1f}")
    finally:
        prom.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
