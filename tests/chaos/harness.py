"""The chaos harness: the whole stack through a seeded schedule of real outages and faults.

A ``Schedule`` (derived from the seed only) gives every device its real outages (nftables
drops in the test's namespace; each device's outages are far enough apart that it never
counts as flapping) and a fault every few seconds, from:

- ``alerter_kill9`` / ``alerter_term``: kill -9 or SIGTERM of the alerter, restarted after
  a moment;
- ``exporter_kill9``: kill -9 of the exporter, down ``gap`` seconds, restarted with its
  state file; ``exporter_nostate``: stopped and restarted without its state file;
- ``prometheus_wipe``: Prometheus stopped for ``gap`` seconds and restarted with an empty
  TSDB;
- ``prometheus_kill9`` / ``prometheus_term``: Prometheus killed (-9) or stopped for
  ``gap`` seconds and restarted on its TSDB (WAL replay);
- ``receiver_down``: the webhook sink stopped for a while and restarted on the same port;
- ``alerter_disk_full``: the alerter's state directory (a small tmpfs in a mount
  namespace that outlives alerter restarts) filled to the last byte for a while, then
  freed: notifications must still go out (from memory), and nothing be lost;
- ``receiver_429`` / ``receiver_500`` / ``receiver_slow``: for a while the receiver answers
  429 with Retry-After, or 500, or takes the request but answers after the sender's
  timeout (so the sender retries what was delivered: the sink drops the repeat).

``run`` plays it against ``faultstack.Stack`` (exporter, Prometheus, alerter with the
default rules, the example sink), lets it settle with every device up, and hands the
truth and the sink's records to ``oracle.violations``. The same seed gives the same
schedule; the printed summary says what happened.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "stack"), str(Path(__file__).parent)]

from faultstack import Stack  # noqa: E402
from oracle import Truth, applied_events, violations  # noqa: E402
from stackparts import Prometheus, WebhookSink  # noqa: E402

FAULTS = ("alerter_kill9", "alerter_term", "exporter_kill9", "exporter_nostate",
          "prometheus_wipe", "prometheus_kill9", "prometheus_term", "receiver_down",
          "receiver_429", "receiver_500", "receiver_slow", "alerter_disk_full")
#: faults that leave no data for ``gap`` seconds (the schedule spaces the next one out)
LONG = ("exporter_kill9", "prometheus_wipe", "prometheus_kill9", "prometheus_term")


@dataclass(frozen=True)
class Schedule:
    """Offsets (seconds from the start) of every outage and fault: a pure function of the seed."""

    seed: int
    devices: dict[str, str]
    outages: dict[str, list[tuple[float, float]]]
    faults: list[tuple[float, str]]
    duration: float

    @classmethod
    def make(cls, seed: int, *, devices: int, duration: float, fault_every: float,
             gap: float = 14.0) -> Schedule:
        rng = random.Random(seed)
        # one device per site, so every outage is a DeviceDown (not a SiteDown)
        names = {f"Site{i:03d}-Device": f"127.43.{i // 250}.{i % 250 + 1}"
                 for i in range(devices)}
        outages: dict[str, list[tuple[float, float]]] = {}
        for name in names:
            t, spans = rng.uniform(2, 20), []
            while True:
                length = rng.uniform(18, 35)
                if t + length > duration - 5:
                    break
                spans.append((round(t, 1), round(t + length, 1)))
                t += length + rng.uniform(40, 60)  # >= 40 s apart: never flapping
            outages[name] = spans
        faults, t = [], rng.uniform(5, fault_every)
        while t < duration - gap - 5:
            faults.append((round(t, 1), rng.choice(FAULTS)))
            t += rng.uniform(0.7 * fault_every, 1.3 * fault_every) + (
                gap if faults[-1][1] in LONG else 0)
        return cls(seed, names, outages, faults, duration)


@dataclass
class Run:
    """What happened in one run: the truth in absolute time, and the verdict."""

    schedule: Schedule
    start: float = 0.0
    gaps: list[tuple[float, float]] = field(default_factory=list)
    faults_done: list[tuple[float, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)


def _restart_receiver(stack: Stack, down_for: float) -> None:
    port = stack.sink.port
    stack.sink.stop()
    time.sleep(down_for)
    stack.sink = WebhookSink(stack.workdir / "sink", port=port)


def _restart_prometheus_empty(stack: Stack, down_for: float) -> None:
    stack.prom.stop()
    shutil.rmtree(stack.prom_dir / "data", ignore_errors=True)
    time.sleep(down_for)
    stack.prom = Prometheus(stack.prom_dir, stack.prom_config, port=stack.prom.port)


def _restart_prometheus(stack: Stack, down_for: float, *, kill: bool) -> None:
    stack.prom.proc.stop(kill=kill)
    time.sleep(down_for)
    stack.prom = Prometheus(stack.prom_dir, stack.prom_config, port=stack.prom.port)


def _inject(stack: Stack, fault: str, gap: float) -> tuple[float, float] | None:
    """Do ``fault``; return the data gap it made (start, end) or None."""
    started = time.time()
    if fault in ("alerter_kill9", "alerter_term"):
        stack.alerter.stop(kill=fault == "alerter_kill9")
        time.sleep(1.0)
        stack.alerter = stack.start_alerter()
        return (started, time.time())
    if fault == "exporter_kill9":
        stack.exporter.stop(kill=True)
        time.sleep(gap)
        stack.exporter = stack.start_exporter()
        return (started, time.time())
    if fault == "exporter_nostate":
        stack.exporter.stop()
        stack.state_file().unlink(missing_ok=True)
        stack.exporter = stack.start_exporter()
        return (started, time.time())
    if fault == "prometheus_wipe":
        _restart_prometheus_empty(stack, gap)
        return (started, time.time())
    if fault in ("prometheus_kill9", "prometheus_term"):
        _restart_prometheus(stack, gap, kill=fault == "prometheus_kill9")
        return (started, time.time())
    if fault == "receiver_down":
        _restart_receiver(stack, 6.0)
        return None
    if fault == "alerter_disk_full":
        assert stack.disk is not None
        stack.disk.fill()
        time.sleep(10.0)
        stack.disk.free()
        return None
    if fault.startswith("receiver_"):
        stack.receiver.set_mode(fault.removeprefix("receiver_"))
        time.sleep(8.0)
        stack.receiver.set_mode("ok")
        return None
    raise ValueError(fault)


def run(workdir: Path, schedule: Schedule, *, settle: float = 90.0, gap: float = 14.0,
        log: Callable[[str], None] = lambda line: None) -> Run:
    """Play ``schedule`` against a fresh stack in ``workdir``; return the verdict."""
    # group_interval 8 s: a resolve waits up to that long in its group, so alerter
    # restarts land in that window (where a stop used to lose the resolve)
    stack = Stack(workdir, schedule.devices, group_interval="8s", small_disk=True)
    result = Run(schedule)
    try:
        result.start = t0 = time.time()
        events: list[tuple[float, str, str]] = []
        for device, spans in schedule.outages.items():
            for a, b in spans:
                events += [(a, "drop", device), (b, "restore", device)]
        events += [(at, "fault", name) for at, name in schedule.faults]
        events.sort()
        down: set[str] = set()
        for at, kind, what in events:
            delay = t0 + at - time.time()
            if delay > 0:
                time.sleep(delay)
            if kind == "drop":
                stack.firewall.drop(schedule.devices[what])
                down.add(what)
            elif kind == "restore":
                stack.firewall.restore(schedule.devices[what])
                down.discard(what)
            else:
                log(f"  t={time.time() - t0:5.1f}s fault {what}")
                window = _inject(stack, what, gap)
                result.faults_done.append((time.time() - t0, what))
                if window:
                    # the alerter needs a few cycles after any restart before it sees again
                    result.gaps.append((window[0], window[1] + 3.0))
        for device in list(down):
            stack.firewall.restore(schedule.devices[device])
        end = time.time()
        truth = Truth(outages={d: [(t0 + a, t0 + b) for a, b in spans]
                               for d, spans in schedule.outages.items()},
                      gaps=result.gaps, end=end)
        # Settle: every device is up; wait until the receiver believes nothing is firing.
        deadline = end + settle
        while time.time() < deadline:
            applied, _, _ = applied_events(stack.sink.requests())
            if not _still_firing(applied) and time.time() > end + 10:
                break
            time.sleep(1.0)
        records = stack.sink.requests()
        applied, stale, duplicates = applied_events(records)
        result.problems = violations(truth, applied)
        result.summary = {
            "seed": schedule.seed, "devices": len(schedule.devices),
            "outages": sum(len(s) for s in schedule.outages.values()),
            "faults": _count(name for _, name in result.faults_done),
            "notifications": len(records), "stale_ignored": stale,
            "duplicates_dropped": duplicates,
            "false_resolves": sum(p.startswith("false resolve") for p in result.problems),
            "lost": sum(p.startswith(("lost firing", "lost resolve"))
                        for p in result.problems),
            "violations": len(result.problems)}
        (workdir / "chaos-summary.json").write_text(json.dumps(
            {**result.summary, "problems": result.problems,
             "schedule": {"outages": schedule.outages, "faults": schedule.faults}}, indent=1))
    finally:
        stack.stop()
    return result


def _still_firing(events: list) -> bool:  # type: ignore[type-arg]
    last: dict[tuple[str, str], str] = {}
    for e in events:
        last[(e.alertname, e.subject)] = e.status
    return any(status == "firing" and name == "DeviceDown"
               for (name, _), status in last.items())


def _count(names: object) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in names:  # type: ignore[attr-defined]
        out[name] = out.get(name, 0) + 1
    return dict(sorted(out.items()))
