"""The scheduler: spread, once per cycle per device, overruns and skips, reload."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

from exporter.alignment import MARGIN
from exporter.config import Device, ProbeSettings
from exporter.scheduler import Scheduler, start_offsets


def devices(n: int, prefix: str = "d") -> list[Device]:
    return [Device(name=f"{prefix}{i}", address=f"127.0.0.{i + 1}", site="", type="")
            for i in range(n)]


def test_start_offsets_spread_evenly_and_leave_room_for_the_whole_probe() -> None:
    settings = ProbeSettings(interval=30.0, timeout=2.0, count=3)
    assert settings.longest_probe == 2.2  # the third request leaves 0.2 s after the first
    offsets = start_offsets(10_000, settings.interval, settings.longest_probe)
    assert offsets[0] == 0.0
    steps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert len(steps) == 1  # evenly spaced
    # the last probe starts early enough to finish (all requests, then the timeout)
    # before the next cycle
    assert offsets[-1] + 2.2 < 30.0
    assert start_offsets(0, 30.0, 2.2) == []
    # interval 3s, timeout 2s, count 3: a spread over interval - timeout would end at 3.1 s
    tight = start_offsets(100, 3.0, ProbeSettings(interval=3.0, timeout=2.0).longest_probe)
    assert tight[-1] + 2.2 < 3.0


def test_probes_as_long_as_their_requests_and_timeout_do_not_overrun() -> None:
    # 6 requests 0.1 s apart and a 0.5 s timeout: 1 s for a device that does not answer
    settings = ProbeSettings(interval=2.0, timeout=0.5, count=6)
    starts: dict[str, list[float]] = {}

    async def unanswered(device: Device) -> None:
        starts.setdefault(device.name, []).append(asyncio.get_running_loop().time())
        await asyncio.sleep(settings.longest_probe)

    async def main() -> tuple[Scheduler, float]:
        scheduler = Scheduler(devices(10), settings, unanswered, lambda *a: None)
        began = asyncio.get_running_loop().time()
        await _run_for(scheduler, 6.5)  # the quick first cycle and three or four more
        return scheduler, began

    scheduler, began = asyncio.run(main())
    assert set(starts) == {f"d{i}" for i in range(10)}
    # the first cycle starts every device at once (ready sooner after a start)
    assert max(times[0] for times in starts.values()) - began < 0.1
    for times in starts.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(gaps) >= 3
        # a probe has ended before the device's next one starts, and no device waits
        # more than an interval when the spread widens after the first cycle (0.9 s
        # wider here; in so tight an interval, give or take the margin the first cycle's
        # end is given)
        assert all(settings.longest_probe < gap <= settings.interval + MARGIN
                   for gap in gaps), gaps
    assert scheduler.overruns == 0 and scheduler.cycles >= 3
    assert scheduler.last_cycle_seconds is not None
    assert scheduler.last_cycle_seconds < settings.interval


async def _run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_each_device_once_per_cycle_and_reload_applies() -> None:
    probed: Counter[str] = Counter()
    errors: list[tuple[str, str]] = []

    async def probe(device: Device) -> None:
        probed[device.name] += 1
        await asyncio.sleep(0.01)

    async def main() -> Scheduler:
        settings = ProbeSettings(interval=0.5, timeout=0.1, count=1)
        scheduler = Scheduler(devices(20), settings, probe,
                              lambda d, reason, detail: errors.append((d.name, reason)))
        task = asyncio.create_task(scheduler.run())
        # the first cycle starts all 20 at once (20 starts take 4 ms at the aligned
        # rate); the second starts at 0.35 s, once the first has ended
        await asyncio.sleep(0.2)
        assert scheduler.first_cycle_done.is_set()
        counts = dict(probed)
        assert set(counts) == {f"d{i}" for i in range(20)}
        assert set(counts.values()) == {1}
        # reload: d0..d9 removed, e0..e4 added
        scheduler.set_devices(devices(20)[10:] + devices(5, "e"), settings)
        probed.clear()
        await asyncio.sleep(0.9)  # the cycles of t=1.0 and t=1.5
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    scheduler = asyncio.run(main())
    assert not any(name in probed for name in (f"d{i}" for i in range(10)))
    assert {f"d{i}" for i in range(10, 20)} | {f"e{i}" for i in range(5)} == set(probed)
    assert scheduler.overruns == 0 and errors == []
    assert scheduler.last_cycle_seconds is not None and scheduler.last_cycle_seconds > 0


def test_overrun_counted_and_busy_device_skipped() -> None:
    errors: list[tuple[str, str]] = []

    async def slow_probe(device: Device) -> None:
        await asyncio.sleep(0.5)  # longer than the interval: a hung engine

    async def main() -> Scheduler:
        scheduler = Scheduler(devices(3), ProbeSettings(interval=0.2, timeout=0.1, count=1),
                              slow_probe, lambda d, reason, detail: errors.append((d.name, reason)))
        await _run_for(scheduler, 0.5)
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.overruns >= 1
    assert ("d0", "skipped") in errors


def test_a_crashing_probe_is_counted_and_the_schedule_goes_on() -> None:
    errors: list[tuple[str, str]] = []
    calls = Counter[str]()

    async def broken(device: Device) -> None:
        calls[device.name] += 1
        raise RuntimeError("engine bug")

    async def main() -> None:
        scheduler = Scheduler(devices(2), ProbeSettings(interval=0.1, timeout=0.05, count=1),
                              broken, lambda d, reason, detail: errors.append((d.name, reason)))
        await _run_for(scheduler, 0.35)

    asyncio.run(main())
    assert calls["d0"] >= 3
    assert errors.count(("d0", "exception")) == calls["d0"]


def test_probes_that_are_futures_run_without_tasks_and_their_failures_count() -> None:
    """The exporter's probes return futures the engine completes (no task per probe):
    the cycle waits for them, a failed one is counted, a busy device is skipped, and
    stopping the scheduler cancels the ones still running."""
    errors: list[tuple[str, str]] = []
    running: list[asyncio.Future[None]] = []
    settings = ProbeSettings(interval=0.2, timeout=0.05, count=1)

    def probe(device: Device) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        running.append(future)
        if device.name == "d1":
            loop.call_later(0.01, future.set_exception, RuntimeError("callback bug"))
        elif device.name != "d2":  # d2 never ends: skipped from its second turn on
            loop.call_later(0.01, future.set_result, None)
        return future

    async def main() -> Scheduler:
        scheduler = Scheduler(devices(3), settings, probe,
                              lambda d, reason, detail: errors.append((d.name, reason)))
        await _run_for(scheduler, 0.5)
        return scheduler

    scheduler = asyncio.run(main())
    assert errors.count(("d1", "exception")) >= 2
    assert errors.count(("d2", "skipped")) >= 1
    assert not [e for e in errors if e[0] == "d0"]
    # the first cycle waits for d2's probe forever (an overrun); later ones skip d2
    assert scheduler.overruns >= 1 and scheduler.cycles >= 1
    assert all(f.done() for f in running)  # stopped: d2's probe was cancelled


def test_parents_are_probed_after_the_devices_behind_them() -> None:
    """DeviceDown waits for a parent's probe newer than the child's outage: probing
    parents last in each cycle makes that probe come in the same cycle."""
    from exporter.scheduler import children_first

    def dev(name: str, *parents: str) -> Device:
        return Device(name=name, address=f"127.0.0.{len(name)}", site="s", type="",
                      parents=tuple((p, f"127.0.0.{len(p)}") for p in parents))

    router, switch = dev("R"), dev("SW", "R")
    atm, ap, nvr = dev("ATM", "SW"), dev("APAP", "R"), dev("NVRNVR")
    order = [d.name for d in children_first([router, switch, atm, ap, nvr])]
    assert order == ["ATM", "APAP", "NVRNVR", "SW", "R"]
    # a parent outside this exporter's shard does not matter
    assert [d.name for d in children_first([atm, ap])] == ["ATM", "APAP"]
    # a long chain (a hostile inventory) needs no recursion
    chain = [dev("x" * (i + 1), *(["x" * i] if i else [])) for i in range(1, 3000)]
    assert [d.name for d in children_first(chain)] == [d.name for d in reversed(chain)]


def test_a_cycle_that_ends_late_but_within_its_interval_is_no_overrun() -> None:
    """At 100,000 devices the first cycle's last results were recorded a second after
    its planned end, by a busy loop. The next cycle, planned to start early (its spread
    is wider), found it still running: that was logged as "overran its interval" for a
    cycle of 12 s in a 30 s interval, and its still-running probes lost their turn. The
    next cycle waits for the last one to end instead; only a cycle that outlives its
    interval is an overrun."""
    settings = ProbeSettings(interval=2.0, timeout=0.3, count=1)
    errors: list[tuple[str, str]] = []
    spans: dict[str, list[tuple[float, float]]] = {}
    first = True

    async def probe(device: Device) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        # the first cycle's probes end 0.5 s past their timeout (a loop too busy to
        # record them); later ones take their timeout
        await asyncio.sleep(settings.longest_probe + (0.5 if first else 0.0))
        spans.setdefault(device.name, []).append((began, loop.time()))

    async def main() -> Scheduler:
        nonlocal first
        scheduler = Scheduler(devices(5), settings, probe,
                              lambda d, reason, detail: errors.append((d.name, reason)))
        task = asyncio.create_task(scheduler.run())
        await scheduler.first_cycle_done.wait()
        first = False
        await asyncio.sleep(3.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.overruns == 0 and errors == []
    for name, times in spans.items():
        assert len(times) >= 2, name
        # each probe starts after the device's previous one has ended
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(times)), (name, times)


def test_a_cycle_that_outlives_its_interval_is_an_overrun() -> None:
    settings = ProbeSettings(interval=0.5, timeout=0.1, count=1)
    errors: list[tuple[str, str]] = []
    slow = {"d1"}

    async def probe(device: Device) -> None:
        await asyncio.sleep(0.8 if device.name in slow else 0.05)
        slow.discard(device.name)

    async def main() -> Scheduler:
        scheduler = Scheduler(devices(3), settings, probe,
                              lambda d, reason, detail: errors.append((d.name, reason)))
        await _run_for(scheduler, 1.2)
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.overruns >= 1
    assert ("d1", "skipped") in errors


def test_starts_found_due_at_once_go_out_in_batches_with_the_loop_run_between() -> None:
    """A loop held up (a render holding the GIL, a slow disk) finds many starts due at
    once. Launched in one go they are all in flight together - at 100,000 devices a
    one-second hold put 75,000 probes in flight, 90 MiB of RSS kept after they ended -
    so they go out a batch at a time, the loop running (replies, timers) in between."""
    settings = ProbeSettings(interval=30.0, timeout=1.0, count=1)
    in_flight = most = 0

    def probe(device: Device) -> asyncio.Future[None]:
        """A probe that ends at the loop's next turn, as a loopback reply would."""
        nonlocal in_flight, most
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        in_flight += 1
        most = max(most, in_flight)

        def end() -> None:
            nonlocal in_flight
            in_flight -= 1
            future.set_result(None)
        loop.call_soon(end)
        return future

    async def main() -> Scheduler:
        # 10,000 devices start over 2 s; the loop is held for 1 s after 0.2 s
        scheduler = Scheduler(devices_many(10_000), settings, probe, lambda *a: None)
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, time.sleep, 1.0)
        task = asyncio.create_task(scheduler.run())
        await asyncio.wait_for(scheduler.first_cycle_done.wait(), 20)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.cycles == 1 and in_flight == 0
    # about 5,000 were due when the hold ended; never more than a batch (500) out at once
    assert most <= 500, most


def devices_many(n: int) -> list[Device]:
    return [Device(name=f"d{i}", address=f"127.0.{i // 250}.{i % 250 + 1}", site="", type="")
            for i in range(n)]
