"""The exporter at 10,000 devices, as a process: /metrics time and size, RSS, cycle time.

    scripts/in-netns .venv/bin/python bench/exporter_scale.py [N] [interval]

Writes an inventory of N loopback devices (127.1.x.y, 5% of them dropped with nftables),
starts ``python -m exporter`` on it, waits for the first full cycle (/-/ready), then
scrapes /metrics 5 times (best and worst wall time, size) and reads the exporter's own
process_resident_memory_bytes and cycle metrics. Also times ``probe-once`` over the same
inventory. The ICMP engine in use is whatever exporter/icmp.py is at the time.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import Proc, free_port, python_env, wait_for
from tests.support.nft import Firewall


def value(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    interval = sys.argv[2] if len(sys.argv) > 2 else "30s"
    work = Path(tempfile.mkdtemp(prefix="wardops-scale-"))
    addresses = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(n)]
    rows = ["name,ip,branch,device_type,region"]
    rows += [f"dev{i},{a},Branch{i // 8},Router,Tbilisi" for i, a in enumerate(addresses)]
    (work / "devices.csv").write_text("\n".join(rows) + "\n")
    config = work / "devices.yml"
    config.write_text(f"probe: {{interval: {interval}, timeout: 2s, count: 1}}\n"
                      "inventory_files: [devices.csv]\n")
    firewall = Firewall()
    firewall.drop(*addresses[::20])
    try:
        t = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "exporter", "probe-once", str(config)],
                              capture_output=True, text=True, env=python_env(), check=False)
        print(f"probe-once devices={n} wall_seconds={time.monotonic() - t:.2f} "
              f"exit={done.returncode} summary={done.stderr.strip().splitlines()[-1]!r}")
        port = free_port()
        proc = Proc.python("exporter", "--config", str(config), "--web.listen-address",
                           f"127.0.0.1:{port}", "--state-file", str(work / "state.json"),
                           log=work / "exporter.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: requests.get(url + "/-/ready", timeout=5).status_code == 200,
                     timeout=300, interval=0.5, what="first full cycle")
            times = []
            for _ in range(5):
                t = time.monotonic()
                body = requests.get(url + "/metrics", timeout=30).text
                times.append(time.monotonic() - t)
                time.sleep(0.2)
            down_series = 'wardops_exporter_devices{state="down"}'
            print(f"exporter devices={n} interval={interval} metrics_seconds best={min(times):.3f} "
                  f"worst={max(times):.3f} bytes={len(body.encode())} "
                  f"rss_mb={value(body, 'process_resident_memory_bytes') / 2**20:.0f} "
                  f"cycle_seconds={value(body, 'wardops_exporter_cycle_duration_seconds'):.2f} "
                  f"overruns={value(body, 'wardops_exporter_cycle_overruns_total'):.0f} "
                  f"down={value(body, down_series):.0f}")
        finally:
            proc.stop()
    finally:
        firewall.close()


if __name__ == "__main__":
    main()
