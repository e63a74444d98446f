"""The chaos test: the whole stack through seeded outages and faults, judged by the oracle.

Each seed gives a reproducible schedule (tests/chaos/harness.py): real outages by
nftables in the test's namespace, and every few seconds a fault — kill -9 or SIGTERM of
the alerter, kill -9 of the exporter or a restart without its state file, Prometheus
killed, stopped or restarted with an empty TSDB, the receiver down, answering 429 or 500,
or too slow, the alerter's state disk full. The CI seeds together inject every kind of
fault. The oracle (tests/chaos/oracle.py)
fails the run on any false resolve, lost firing or resolve, duplicate, or data gap
without MonitoringDegraded. Seeds: WARDOPS_CHAOS_SEEDS (comma-separated) overrides the
fixed CI set; the soak (bench/chaos_soak.py) runs the same harness for an hour.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import Schedule, run

SEEDS = [int(s) for s in os.environ.get("WARDOPS_CHAOS_SEEDS", "3,15,52").split(",")]


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_chaos(netns: None, seed: int, tmp_path: Path) -> None:
    schedule = Schedule.make(seed, devices=4, duration=75.0, fault_every=9.0)
    result = run(tmp_path, schedule, log=print)
    print(f"chaos seed {seed}: {result.summary}")
    assert result.summary["faults"], "the schedule injected no fault"
    assert result.summary["outages"], "the schedule had no outage"
    assert not result.problems, (
        f"seed {seed} (rerun: WARDOPS_CHAOS_SEEDS={seed} scripts/test tests/chaos; "
        f"logs in {tmp_path}):\n" + "\n".join(result.problems)
        + f"\nfaults: {result.faults_done}\nsummary: {result.summary}")


def test_schedule_is_a_function_of_the_seed() -> None:
    one = Schedule.make(5, devices=3, duration=75.0, fault_every=9.0)
    assert one == Schedule.make(5, devices=3, duration=75.0, fault_every=9.0)
    assert one != Schedule.make(6, devices=3, duration=75.0, fault_every=9.0)
    for spans in one.outages.values():
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start - end >= 40, "outages close together would be flapping"
