"""The one scheduler for all devices: it decides when each device is probed, nothing else.

Every interval is a cycle. A cycle's probes start spread evenly over the first
``interval - longest probe`` seconds (the splay; a probe lasts up to
``(count - 1) * spacing + timeout``), so thousands of devices never fire at once and
each probe normally finishes before the next cycle begins. Each device is probed
once per cycle; if its previous probe is still running when its turn comes, the turn is
skipped and counted (probe error ``skipped``). A cycle still running when its interval
is up is an overrun: counted, and the schedule goes on. A cycle planned to start earlier
than that (see below) waits for the previous one's last probes instead. The first cycle
uses the short spread of an aligned one, so every device is known seconds after a start;
a cycle whose spread is wider than the previous one's starts that much earlier, so that
no device waits more than an interval.

With ``probe.align_to_scrapes`` (the default) and a :class:`~exporter.alignment.ScrapeLog`
fed by the /metrics handler, cycles move to end just before the scrapes once those are
regular (``exporter.alignment`` decides where, and over how short a window the probes
start); until then, and whenever the scrapes stop or turn irregular, the even splay above.
In an aligned cycle the devices that are down are probed last, ``RECOVERY_LEAD`` before
the others' latest end (see ``Scheduler._late_offset``): a device that answers again is
seen just before the scrape instead of a whole timeout earlier, so its recovery reaches
Prometheus that much sooner; one still down ends its probe after the scrape, which
changes nothing (it was down and stays down).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from exporter.alignment import (
    MARGIN,
    REGULAR_TOLERANCE,
    ScrapeLog,
    aligned_spread,
    aligned_start,
    pick_scraper,
)
from exporter.config import Device, ProbeSettings

log = logging.getLogger("exporter.scheduler")

#: Probe error reasons the scheduler reports through ``on_error``.
SKIPPED, CRASHED = "skipped", "exception"
SCHEDULER_ERROR_REASONS = (SKIPPED, CRASHED)

# Probes whose start times fall within this many seconds go out together: fewer wake-ups
# at 10,000 devices without bunching that matters.
_SLOT = 0.005
# Probes launched at most before the loop runs once more (replies, timers, the web): a
# loop held up for a second (a render holding the GIL, a slow disk) otherwise finds a
# second's starts due at once and launches them in one go, and at 100,000 devices the
# 75,000 probes then in flight cost 90 MiB of RSS, kept after they end (heap
# fragmentation). Starts that are due still go out as fast as the loop takes them.
_BATCH = 500
# Share of (interval - longest probe) used for the splay; the rest is slack for name
# lookups and a busy event loop.
_SPREAD_SHARE = 0.9
#: Seconds a down device's reply has, in an aligned cycle, to arrive and be recorded
#: before the margin ahead of the scrape (a WAN round trip and the loop's delay).
RECOVERY_LEAD = 0.3


def splay_window(interval: float, longest_probe: float) -> float:
    """Seconds over which an unaligned cycle's probe starts are spread."""
    return max(interval - longest_probe, 0.0) * _SPREAD_SHARE


def start_offsets(count: int, interval: float, longest_probe: float) -> list[float]:
    """Seconds after a cycle's start at which each of ``count`` probes starts, so that
    each ends, even after ``longest_probe`` seconds, before the next cycle."""
    return spread_offsets(count, splay_window(interval, longest_probe))


def spread_offsets(count: int, window: float) -> list[float]:
    """``count`` start offsets evenly spread over the first ``window`` seconds."""
    if count == 0:
        return []
    step = window / count
    return [i * step for i in range(count)]


def children_first(devices: Sequence[Device]) -> list[Device]:
    """``devices`` in probing order: every device after the devices behind it (its
    children, by ``Device.parents``), otherwise as given.

    DeviceDown holds back a device whose parents were not probed since its outage began
    (rules/wardops.yml, "Cut off"): probing a parent after its children in each cycle
    means that probe has already come when the children's outage is seen, instead of
    a whole interval later.
    """
    keys = {d.key for d in devices}
    children = dict.fromkeys(keys, 0)
    for device in devices:
        for parent in device.parents:
            if parent in children:
                children[parent] += 1
    height = dict.fromkeys(keys, 0)
    by_key = {d.key: d for d in devices}
    ready = [key for key, count in children.items() if count == 0]  # the leaves
    while ready:  # from the leaves up; the inventory has no cycles (checked at load)
        key = ready.pop()
        for parent in by_key[key].parents:
            if parent in children:
                height[parent] = max(height[parent], height[key] + 1)
                children[parent] -= 1
                if children[parent] == 0:
                    ready.append(parent)
    return sorted(devices, key=lambda d: height[d.key])  # stable: otherwise as given


class _Cycle:
    """The probes of one cycle still running, and the future that ends the cycle."""

    __slots__ = ("done", "running")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.running = 0
        self.done: asyncio.Future[None] = loop.create_future()


class Scheduler:
    """Runs ``probe(device)`` for every device once per interval, spread over the interval.

    ``probe`` returns an awaitable: a coroutine (run as a task) or, cheaper at thousands
    of devices, a future it completes itself (no task per probe). It must not fail; if
    it does anyway the error is counted through ``on_error(device, reason, detail)`` and
    logged. When the scheduler stops, probes still running are cancelled.
    """

    def __init__(self, devices: Sequence[Device], settings: ProbeSettings,
                 probe: Callable[[Device], Awaitable[None]],
                 on_error: Callable[[Device, str, str], None],
                 clock: Callable[[], float] = time.monotonic,
                 scrapes: ScrapeLog | None = None,
                 is_down: Callable[[Device], bool] | None = None) -> None:
        self._probe = probe
        self._is_down = is_down
        self._scrapes = scrapes
        self._on_error = on_error
        self._clock = clock
        self._devices: list[Device] = []
        self._current: set[tuple[str, str]] = set()
        self.settings = settings
        self.set_devices(devices, settings)
        self._in_flight: set[tuple[str, str]] = set()
        self._running: set[asyncio.Future[None]] = set()
        self.cycles = 0  # cycles completed
        self.overruns = 0
        self.last_cycle_seconds: float | None = None
        self.first_cycle_done = asyncio.Event()
        #: whether cycles follow the scrapes (``exporter.alignment``), and their period
        self.aligned = False
        self.scrape_period: float | None = None

    def set_devices(self, devices: Sequence[Device], settings: ProbeSettings) -> None:
        """Take a new inventory; it applies from the next cycle, removals at once."""
        self._devices = children_first(devices)
        self._current = {d.key for d in self._devices}
        self.settings = settings

    async def run(self) -> None:
        """Schedule cycles forever (cancel the task to stop)."""
        cycle_start = self._clock()
        # The first cycle spreads its starts as an aligned one does (seconds, not most of
        # the interval): every device is known, and /-/ready answers, that much sooner
        # after a start or restart (13.5 s instead of 32 s at 100,000 devices).
        window = aligned_spread(len(self._devices), self.settings.interval,
                                self.settings.longest_probe)
        running: asyncio.Task[None] | None = None
        try:
            while True:
                late = self._late_offset(window) if self.aligned else None
                running = asyncio.create_task(self._cycle(cycle_start, window, late))
                # the previous cycle's last probe has ended by `earliest` (with the
                # margin a busy loop needs to record it: a cycle started at the very end
                # of the previous one would count an overrun)
                earliest = (cycle_start + max(window, late or 0.0)
                            + self.settings.longest_probe + MARGIN)
                next_start, next_window = self._plan(cycle_start + self.settings.interval,
                                                     earliest)
                if next_window > window:
                    # A wider spread than this cycle's (after the first cycle, or when the
                    # scrapes stop): start that much earlier, so that the devices at the
                    # end of the order still wait at most one interval between probes.
                    next_start = min(next_start,
                                     max(next_start - (next_window - window), earliest))
                previous_start = cycle_start
                cycle_start, window = next_start, next_window
                await self._sleep_until(cycle_start)
                if not running.done():
                    # Planned to start before the last cycle's interval is up (a wider
                    # spread, or a scrape to align to) while its last probes are still
                    # being recorded, by a loop busier than planned: wait for them, so
                    # that no device loses its turn. Only a cycle that outlives its
                    # interval is an overrun.
                    deadline = previous_start + self.settings.interval
                    await asyncio.wait({running}, timeout=max(deadline - self._clock(), 0.0))
                    cycle_start = max(cycle_start, self._clock())
                if not running.done():
                    self.overruns += 1
                    log.warning("probe cycle overran its interval",
                                extra={"interval": self.settings.interval})
                late = self._clock() - cycle_start
                if late > self.settings.interval:
                    # The loop was blocked for whole intervals: start afresh rather than
                    # firing the missed cycles back to back.
                    self.overruns += 1
                    cycle_start = self._clock()
        finally:
            if running is not None:
                running.cancel()
            for future in list(self._running):
                future.cancel()

    def _plan(self, nominal: float, earliest: float) -> tuple[float, float]:
        """The next cycle's start and spread window: aligned to the scrapes when they are
        regular and ``align_to_scrapes`` is on, else the plain cadence and even splay."""
        settings = self.settings
        splay = (nominal, splay_window(settings.interval, settings.longest_probe))
        scraper = None
        if settings.align_to_scrapes and self._scrapes is not None:
            scraper = pick_scraper(self._scrapes.sources(), self._clock())
        if scraper is None:
            if self.aligned:
                log.info("scrapes stopped or irregular; probe cycles use the even splay")
            self.aligned, self.scrape_period = False, None
            return splay
        source, times, period = scraper
        window = aligned_spread(len(self._devices), settings.interval, settings.longest_probe)
        start = aligned_start(times[-1], period, lead=window + settings.longest_probe + MARGIN,
                              nominal=nominal, earliest=earliest, interval=settings.interval)
        if not self.aligned:
            log.info("scrapes are regular; probe cycles align to them", extra={
                "scraper": source, "scrape_period": round(period, 3)})
        self.aligned, self.scrape_period = True, period
        if start is None:
            if period <= settings.interval * (1 + REGULAR_TOLERANCE):
                # No scrape fits this cycle, though one comes every interval or more
                # often: the scrapes' phase lies in the part of the interval this cycle
                # cannot start in (the previous one's probes, the down devices' late ones
                # among them, have not ended). Keeping the cadence would keep that phase
                # for ever; starting as early as allowed moves toward the scrapes, and a
                # later cycle fits.
                return min(earliest, nominal), window
            # scrapes rarer than probes: this cycle keeps the cadence, with the short
            # spread, and a later one aligns to the next scrape
            return nominal, window
        return start, window

    def _late_offset(self, window: float) -> float | None:
        """When, in an aligned cycle, the down devices' probes start: so that a reply
        ends the probe ``RECOVERY_LEAD`` before the others' latest end. None: not later
        than the others (a timeout that short), or nobody says which devices are down."""
        if self._is_down is None:
            return None
        late = window + self.settings.timeout - RECOVERY_LEAD
        return late if late > window else None

    async def _cycle(self, cycle_start: float, window: float,
                     late: float | None = None) -> None:
        devices = self._devices
        offsets = spread_offsets(len(devices), window)
        if late is not None and self._is_down is not None:
            up: list[Device] = []
            down: list[Device] = []
            for device in devices:
                (down if self._is_down(device) else up).append(device)
            if down:
                devices = up + down
                offsets = spread_offsets(len(up), window) + [late] * len(down)
        cycle = _Cycle(asyncio.get_running_loop())
        cycle.running = 1  # the launching below; done when it and every probe have ended
        index = 0
        while index < len(devices):
            now = self._clock()
            due = cycle_start + offsets[index]
            if due > now:
                await self._sleep_until(max(due, now + _SLOT))
                now = self._clock()
            end = min(len(devices), index + _BATCH)
            while index < end and cycle_start + offsets[index] <= now + _SLOT:
                device = devices[index]
                index += 1
                key = device.key
                if key not in self._current:
                    continue  # removed by a reload during this cycle
                if key in self._in_flight:
                    self._on_error(device, SKIPPED, "previous probe still running")
                    continue
                self._launch(device, cycle)
            if index == end < len(devices):
                await asyncio.sleep(0)  # a full batch: let the loop run before the next
        self._ended(cycle)
        await cycle.done
        self.cycles += 1
        self.last_cycle_seconds = self._clock() - cycle_start
        self.first_cycle_done.set()

    def _launch(self, device: Device, cycle: _Cycle) -> None:
        try:
            future = asyncio.ensure_future(self._probe(device))
        except Exception as exc:
            self._crashed(device, exc)
            return
        self._in_flight.add(device.key)
        self._running.add(future)
        cycle.running += 1
        future.add_done_callback(lambda f: self._probe_done(f, device, cycle))

    def _probe_done(self, future: asyncio.Future[None], device: Device,
                    cycle: _Cycle) -> None:
        self._running.discard(future)
        self._in_flight.discard(device.key)
        if not future.cancelled():
            exc = future.exception()
            if exc is not None:
                self._crashed(device, exc)
        self._ended(cycle)

    def _crashed(self, device: Device, exc: BaseException) -> None:
        log.error("probe crashed", exc_info=exc, extra={"device": device.name})
        self._on_error(device, CRASHED, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _ended(cycle: _Cycle) -> None:
        cycle.running -= 1
        if cycle.running == 0 and not cycle.done.done():
            cycle.done.set_result(None)

    async def _sleep_until(self, when: float) -> None:
        delay = when - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
