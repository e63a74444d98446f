"""The chaos soak: the chaos test's harness for a long run (default one hour, 1,000
devices, a fault every ~30 s), in the private network namespace.

    sudo scripts/in-netns .venv/bin/python bench/chaos_soak.py                 # the hour
    sudo scripts/in-netns .venv/bin/python bench/chaos_soak.py --duration 600 --devices 200

Prints the faults injected by kind, outages, notifications, and the oracle's verdict
(false resolves, lost notifications, duplicates, data gaps without MonitoringDegraded);
exits 1 on any violation. Everything stays on loopback addresses inside the namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests" / "chaos")]

from harness import Schedule, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds of chaos")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--fault-every", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep logs and the summary here (default: a temp dir)")
    args = parser.parse_args()
    if os.environ.get("WARDOPS_NETNS") != "1":
        print("chaos_soak: run it inside scripts/in-netns (it drops packets with nftables)",
              file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="wardops-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    schedule = Schedule.make(args.seed, devices=args.devices, duration=args.duration,
                             fault_every=args.fault_every)
    print(f"soak: seed {args.seed}, {args.devices} devices, {args.duration:.0f} s, "
          f"{len(schedule.faults)} faults, "
          f"{sum(len(s) for s in schedule.outages.values())} outages; logs in {workdir}",
          flush=True)
    started = time.time()
    result = run(workdir, schedule, settle=180.0,
                 log=lambda line: print(line, flush=True))
    print(json.dumps({**result.summary, "wall_seconds": round(time.time() - started)},
                     indent=1))
    for problem in result.problems:
        print("VIOLATION", problem)
    return 1 if result.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
