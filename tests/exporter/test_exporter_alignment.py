"""Probe cycles aligned to the scrapes: the decisions (pure, injected times) and the
scheduler following a regular scraper while still probing each device once per cycle."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from exporter.alignment import (
    ALIGNED_RATE,
    MARGIN,
    ScrapeLog,
    aligned_spread,
    aligned_start,
    pick_scraper,
    regular_period,
)
from exporter.config import Device, ProbeSettings
from exporter.scheduler import Scheduler


@pytest.mark.parametrize("times, now, expected", [
    ([], 10.0, None),                                   # never scraped
    ([0.0, 5.0], 6.0, None),                            # two are not enough
    ([0.0, 5.0, 10.0], 11.0, 5.0),                      # three with a stable period
    ([0.0, 5.02, 9.98, 15.01], 16.0, 5.02 - 0.0),       # jitter within 10%: median gap
    ([0.0, 5.0, 10.0, 10.3, 15.0], 16.0, None),         # someone else's scrape in between
    ([0.0, 5.0, 10.0, 15.0], 25.5, None),               # stopped: last is > 2 periods old
    ([0.0, 5.0, 10.0, 15.0], 24.9, 5.0),                # one missed scrape is still going
    ([0.0, 0.0, 0.0], 0.5, None),                       # no period at all
    ([100.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0], 26.0, 5.0),  # only the last KEEP count
])
def test_regular_period(times: list[float], now: float, expected: float | None) -> None:
    got = regular_period(times, now)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_pick_scraper_follows_the_lowest_regular_address() -> None:
    regular = [0.0, 5.0, 10.0, 15.0]
    other_phase = [2.0, 7.0, 12.0, 17.0]
    sources = {
        "10.0.0.9 Prometheus/2.42.0": regular,
        "10.0.0.10 Prometheus/2.42.0": other_phase,   # numerically higher than .9
        "10.0.0.1 curl/8.0": [3.0, 16.0],             # a person: not regular
    }
    source, times, period = pick_scraper(sources, now=18.0)  # type: ignore[misc]
    assert source == "10.0.0.9 Prometheus/2.42.0" and times == regular and period == 5.0
    # the lowest one stops: the other takes over
    sources["10.0.0.9 Prometheus/2.42.0"] = [0.0, 5.0, 10.0]
    assert pick_scraper(sources, now=21.0)[0] == "10.0.0.10 Prometheus/2.42.0"  # type: ignore
    assert pick_scraper({"a curl": [1.0, 9.0, 9.5]}, now=10.0) is None


def test_scrape_log_keeps_recent_arrivals_per_source_and_bounds_sources() -> None:
    log = ScrapeLog()
    for i in range(10):
        log.note("10.0.0.1 Prometheus", float(i))
    assert log.sources()["10.0.0.1 Prometheus"] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    for i in range(40):
        log.note(f"10.1.0.{i} curl", float(i))
    assert len(log.sources()) == 16 and "10.1.0.39 curl" in log.sources()


@pytest.mark.parametrize("count, interval, longest, expected", [
    (25, 5.0, 1.0, 25 / ALIGNED_RATE),       # a few devices: practically at once
    (10_000, 10.0, 1.2, 2.0),                # 10,000: over 2 s (the engine's pace)
    (10_000, 5.0, 1.0, 1.0),                 # at most 20% of the interval
    (50_000, 3.0, 2.5, 0.45),                # and room for the probe itself
])
def test_aligned_spread(count: int, interval: float, longest: float, expected: float) -> None:
    assert aligned_spread(count, interval, longest) == pytest.approx(expected)


# Scrapes every `period` from `last`; lead = spread + longest probe + margin = 1.5 s.
@pytest.mark.parametrize("case, last, period, nominal, earliest, interval, expected", [
    # scrape period = probe interval: the start stays on the scrape phase
    ("steady", 100.0, 5.0, 103.5, 100.0, 5.0, 103.5),
    # a wobble of the scrapes moves the start a little later, not a whole period
    ("wobble later", 100.2, 5.0, 103.5, 100.0, 5.0, 103.7),
    # alignment begins with the scrape before the plain cadence (here 2 s earlier) ...
    ("begin earlier", 100.0, 5.0, 105.5, 102.0, 5.0, 103.5),
    # ... but never before the previous cycle's probes ended, and never later than the
    # cadence: then this cycle keeps the cadence and the next one starts early
    ("begin, previous still running", 100.0, 5.0, 105.5, 104.0, 5.0, None),
    ("never late", 100.0, 5.0, 102.0, 99.0, 5.0, None),
    ("scrapes moved later", 100.0, 5.0, 107.0, 104.0, 5.0, None),
    ("catch up early", 100.0, 5.0, 112.0, 107.0, 5.0, 108.5),
    # scrapes every 15 s, probes every 30 s: the scrape before each cadence
    ("rarer probes", 100.0, 15.0, 130.0, 110.0, 30.0, 128.5),
    # scrapes every 60 s, probes every 30 s: every other cycle fits a scrape ...
    ("rarer scrapes, fits", 100.0, 60.0, 158.5, 140.0, 30.0, 158.5),
    # ... the one between keeps the cadence (None)
    ("rarer scrapes, between", 100.0, 60.0, 128.5, 110.0, 30.0, None),
    # scrapes every 15 s, probes every 10 s (not a multiple): cycles at the cadence and
    # on every scrape, never more than an interval apart
    ("15 s scrapes, 10 s probes, fits", 100.0, 15.0, 115.0, 111.0, 10.0, 113.5),
    ("15 s scrapes, 10 s probes, between", 100.0, 15.0, 123.5, 116.0, 10.0, None),
    # scrapes every 1 s, probes every 5 s: the scrape just before the cadence
    ("frequent scrapes", 100.0, 1.0, 104.7, 101.0, 5.0, 104.5),
])
def test_aligned_start(case: str, last: float, period: float, nominal: float, earliest: float,
                       interval: float, expected: float | None) -> None:
    got = aligned_start(last, period, lead=1.5, nominal=nominal, earliest=earliest,
                        interval=interval)
    if expected is None:
        assert got is None, case
    else:
        assert got == pytest.approx(expected), case
        # never before the previous cycle's probes ended, never later than the cadence
        # (plus a tenth of the period for the scrapes' wobble)
        assert earliest <= got <= nominal + 0.1 * min(period, interval), case


@pytest.mark.parametrize("period_share", [1.5, 0.7, 2.0])
def test_probe_gaps_never_exceed_the_interval_whatever_the_scrape_period(
        period_share: float) -> None:
    """The promise (docs/exporter.md, "Probe timing and scrapes"), with scrapes that are not a
    multiple of the probe interval (CI saw 10 s probes and 15 s scrapes leave probes 16 s
    apart): simulated, a device is never probed more than one interval (and the scrapes'
    wobble) after its previous probe, and each scrape finds results younger than the
    interval."""
    interval = 1.0
    period = period_share * interval
    settings = ProbeSettings(interval=interval, timeout=0.05, count=1)
    devs = [Device(name=f"d{i}", address=f"127.0.0.{i + 1}", site="", type="")
            for i in range(5)]
    log = ScrapeLog()
    starts: dict[str, list[float]] = {d.name: [] for d in devs}
    finished: dict[str, float] = {}
    ages: list[float] = []

    async def probe(device: Device) -> None:
        loop = asyncio.get_running_loop()
        starts[device.name].append(loop.time())
        await asyncio.sleep(settings.longest_probe)
        finished[device.name] = loop.time()

    async def main() -> Scheduler:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(devs, settings, probe, lambda *a: None, clock=loop.time,
                              scrapes=log)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.23)
        begin = loop.time()
        for k in range(int(14 / period_share)):
            await asyncio.sleep(max(0.0, begin + k * period - loop.time()))
            if scheduler.aligned and len(finished) == len(devs):
                ages.append(loop.time() - min(finished.values()))
            log.note("127.0.0.1 Prometheus/2.53.2", loop.time())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.aligned
    wobble = 0.1 * min(period, interval) + 0.1  # + the event loop's lateness on a busy host
    for name, times in starts.items():
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert gaps and max(gaps) <= interval + wobble, (name, [round(g, 2) for g in gaps])
    assert ages and max(ages) < interval + wobble, ages


def test_a_regular_scraper_gets_fresh_results_and_each_device_is_probed_once_per_cycle() -> None:
    """A simulated Prometheus scrapes every interval at its own phase; once it is regular
    the cycles end just before its scrapes, and every device is probed once per cycle."""
    interval = 1.0
    settings = ProbeSettings(interval=interval, timeout=0.05, count=1)
    devs = [Device(name=f"d{i}", address=f"127.0.0.{i + 1}", site="", type="")
            for i in range(30)]
    log = ScrapeLog()
    probed: Counter[str] = Counter()
    errors: list[tuple[str, str]] = []
    finished: dict[str, float] = {}   # device → end of its latest probe
    fresh_at_scrape: list[float] = []  # per scrape after alignment: age of the oldest result

    async def probe(device: Device) -> None:
        probed[device.name] += 1
        await asyncio.sleep(settings.longest_probe)
        finished[device.name] = asyncio.get_running_loop().time()

    async def scraper(scheduler: Scheduler) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.37)  # a phase unrelated to the exporter's start
        start = loop.time()
        for k in range(13):
            await asyncio.sleep(max(0.0, start + k * interval - loop.time()))
            now = loop.time()
            if scheduler.aligned and k >= 7:
                fresh_at_scrape.append(now - min(finished.values()))
            log.note("127.0.0.1 Prometheus/2.42.0", now)

    async def main() -> Scheduler:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(devs, settings, probe, lambda d, r, m: errors.append((d.name, r)),
                              clock=loop.time, scrapes=log)
        task = asyncio.create_task(scheduler.run())
        await scraper(scheduler)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.aligned and scheduler.scrape_period == pytest.approx(interval, rel=0.1)
    assert errors == [] and scheduler.overruns == 0
    # once per cycle: every device has as many probes as the cycles started (± the one
    # running when stopped)
    assert max(probed.values()) - min(probed.values()) <= 1
    assert max(probed.values()) <= scheduler.cycles + 1
    # every result a scrape sees comes from the cycle that ended just before it (about
    # spread + margin = 0.26 s old), not from up to an interval ago as with the even splay;
    # the bound leaves the busy test machine a quarter of a second
    assert len(fresh_at_scrape) >= 4
    lead = aligned_spread(len(devs), interval, settings.longest_probe) + MARGIN
    assert lead < 0.3
    assert max(fresh_at_scrape) < interval / 2, fresh_at_scrape


def test_alignment_off_keeps_the_even_splay() -> None:
    settings = ProbeSettings(interval=0.3, timeout=0.05, count=1, align_to_scrapes=False)
    log = ScrapeLog()
    for k in range(5):
        log.note("127.0.0.1 Prometheus", k * 0.3)

    async def main() -> Scheduler:
        loop = asyncio.get_running_loop()

        async def probe(device: Device) -> None:
            log.note("127.0.0.1 Prometheus", loop.time())  # keeps the source alive

        scheduler = Scheduler([Device(name="d", address="127.0.0.1", site="", type="")],
                              settings, probe, lambda *a: None, clock=loop.time, scrapes=log)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    assert asyncio.run(main()).aligned is False


def test_down_devices_are_probed_last_so_a_recovery_lands_just_before_the_scrape() -> None:
    """In aligned cycles a device that is down is probed RECOVERY_LEAD before the
    others' latest end, not a whole timeout before the scrape: if it answers again, the
    scrape right after already says so. Its probe may end after the scrape when it is
    still down; that costs no overrun and no skipped turn."""
    from exporter.scheduler import RECOVERY_LEAD
    interval = 2.0
    settings = ProbeSettings(interval=interval, timeout=0.8, count=1)
    devs = [Device(name=f"d{i}", address=f"127.0.0.{i + 1}", site="", type="")
            for i in range(20)]
    down = {"d3", "d11"}
    log = ScrapeLog()
    starts: dict[str, list[float]] = {d.name: [] for d in devs}
    errors: list[tuple[str, str]] = []
    scrapes: list[float] = []

    async def probe(device: Device) -> None:
        starts[device.name].append(asyncio.get_running_loop().time())
        # a down device does not answer: its probe lasts the whole timeout
        await asyncio.sleep(settings.longest_probe if device.name in down else 0.01)

    async def main() -> Scheduler:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(devs, settings, probe, lambda d, r, m: errors.append((d.name, r)),
                              clock=loop.time, scrapes=log,
                              is_down=lambda d: d.name in down)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.37)
        start = loop.time()
        for k in range(13):
            await asyncio.sleep(max(0.0, start + k * interval - loop.time()))
            if scheduler.aligned:
                scrapes.append(loop.time())
            log.note("127.0.0.1 Prometheus/2.42.0", loop.time())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return scheduler

    scheduler = asyncio.run(main())
    assert errors == [] and scheduler.overruns == 0
    assert len(scrapes) >= 6
    checked = 0
    # the first cycles after the scrapes turned regular still move to their phase (each
    # starts at most as early as the previous one's end allows)
    for scrape in scrapes[4:]:
        def last_start(name: str, scrape: float = scrape) -> float:
            return max(t for t in starts[name] if t < scrape)
        up_gap = scrape - min(last_start(d.name) for d in devs if d.name not in down)
        down_gaps = [scrape - last_start(name) for name in down]
        # the others start a whole probe (0.8 s) and the margin before the scrape; the
        # down ones RECOVERY_LEAD and the margin before it (0.55 s), give or take the loop
        assert up_gap >= settings.longest_probe + MARGIN - 0.05, up_gap
        assert all(RECOVERY_LEAD + MARGIN - 0.05 <= g <= RECOVERY_LEAD + MARGIN + 0.15
                   for g in down_gaps), (down_gaps, up_gap)
        checked += 1
    assert checked >= 4


def test_cycles_reach_the_scrapes_whatever_their_phase() -> None:
    """Whatever the scrapes' phase against the exporter's start, cycles come to end just
    before them. A phase inside the part of the interval a cycle cannot start in (the
    previous cycle's down devices still probing) once kept the plain cadence for ever:
    flagged aligned, yet ending anywhere before the scrape; a cycle now starts as early as
    allowed and a later one fits. Four exporters, each scraped at its own phase."""
    interval = 1.0
    settings = ProbeSettings(interval=interval, timeout=0.4, count=1)
    devs = [Device(name=f"d{i}", address=f"127.0.0.{i + 1}", site="", type="")
            for i in range(10)]
    down = {"d4"}

    async def one(phase: float) -> tuple[list[float], list[float], Scheduler]:
        loop = asyncio.get_running_loop()
        log = ScrapeLog()
        up_starts: list[float] = []
        scrapes: list[float] = []

        async def probe(device: Device) -> None:
            if device.name not in down:
                up_starts.append(loop.time())
            await asyncio.sleep(settings.longest_probe if device.name in down else 0.01)

        scheduler = Scheduler(devs, settings, probe, lambda *a: None, clock=loop.time,
                              scrapes=log, is_down=lambda d: d.name in down)
        began = loop.time()
        task = asyncio.create_task(scheduler.run())
        for k in range(14):
            await asyncio.sleep(max(0.0, began + phase + k * interval - loop.time()))
            scrapes.append(loop.time())
            log.note("127.0.0.1 Prometheus/2.42.0", loop.time())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return up_starts, scrapes, scheduler

    async def main() -> list[tuple[list[float], list[float], Scheduler]]:
        return list(await asyncio.gather(*(one(p) for p in (0.1, 0.35, 0.6, 0.85))))

    for phase, (up_starts, scrapes, scheduler) in zip((0.1, 0.35, 0.6, 0.85), asyncio.run(main())):
        assert scheduler.aligned and scheduler.overruns == 0, phase
        for scrape in scrapes[-4:]:
            # the up devices start a whole probe and the margin before each scrape
            gap = scrape - max(t for t in up_starts if t < scrape)
            assert settings.longest_probe + MARGIN - 0.05 <= gap, (phase, gap)
            assert gap <= settings.longest_probe + MARGIN + 0.1, (phase, gap)
