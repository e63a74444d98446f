"""The one scheduler for all devices: it decides when each device is probed, nothing else.

Every interval is a cycle. A cycle's probes start spread evenly over the first
``interval - longest probe`` seconds (the splay; a probe lasts up to
``(count - 1) * spacing + timeout``), so thousands of devices never fire at once and
each probe normally finishes before the next cycle begins. Each device is probed
once per cycle; if its previous probe is still running when its turn comes, the turn is
skipped and counted (probe error ``skipped``). A cycle still running when the next one
is due is an overrun: counted, and the schedule goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from exporter.config import Device, ProbeSettings

log = logging.getLogger("exporter.scheduler")

#: Probe error reasons the scheduler reports through ``on_error``.
SKIPPED, CRASHED = "skipped", "exception"
SCHEDULER_ERROR_REASONS = (SKIPPED, CRASHED)

# Probes whose start times fall within this many seconds go out together: fewer wake-ups
# at 10,000 devices without bunching that matters.
_SLOT = 0.005
# Share of (interval - longest probe) used for the splay; the rest is slack for name
# lookups and a busy event loop.
_SPREAD_SHARE = 0.9


def start_offsets(count: int, interval: float, longest_probe: float) -> list[float]:
    """Seconds after a cycle's start at which each of ``count`` probes starts, so that
    each ends, even after ``longest_probe`` seconds, before the next cycle."""
    window = max(interval - longest_probe, 0.0) * _SPREAD_SHARE
    if count == 0:
        return []
    step = window / count
    return [i * step for i in range(count)]


class Scheduler:
    """Runs ``probe(device)`` for every device once per interval, spread over the interval.

    ``probe`` must not raise; if it does anyway the error is counted through
    ``on_error(device, reason, detail)`` and logged.
    """

    def __init__(self, devices: Sequence[Device], settings: ProbeSettings,
                 probe: Callable[[Device], Awaitable[None]],
                 on_error: Callable[[Device, str, str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._probe = probe
        self._on_error = on_error
        self._clock = clock
        self._devices: list[Device] = []
        self._current: set[tuple[str, str]] = set()
        self.settings = settings
        self.set_devices(devices, settings)
        self._in_flight: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.cycles = 0  # cycles completed
        self.overruns = 0
        self.last_cycle_seconds: float | None = None
        self.first_cycle_done = asyncio.Event()

    def set_devices(self, devices: Sequence[Device], settings: ProbeSettings) -> None:
        """Take a new inventory; it applies from the next cycle, removals at once."""
        self._devices = list(devices)
        self._current = {d.key for d in self._devices}
        self.settings = settings

    async def run(self) -> None:
        """Schedule cycles forever (cancel the task to stop)."""
        cycle_start = self._clock()
        running: asyncio.Task[None] | None = None
        try:
            while True:
                running = asyncio.create_task(self._cycle(cycle_start))
                cycle_start += self.settings.interval
                await self._sleep_until(cycle_start)
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
            for task in list(self._tasks):
                task.cancel()

    async def _cycle(self, cycle_start: float) -> None:
        devices = self._devices
        settings = self.settings
        offsets = start_offsets(len(devices), settings.interval, settings.longest_probe)
        started: list[asyncio.Task[None]] = []
        index = 0
        while index < len(devices):
            now = self._clock()
            due = cycle_start + offsets[index]
            if due > now:
                await self._sleep_until(max(due, now + _SLOT))
                now = self._clock()
            while index < len(devices) and cycle_start + offsets[index] <= now + _SLOT:
                device = devices[index]
                index += 1
                if device.key not in self._current:
                    continue  # removed by a reload during this cycle
                if device.key in self._in_flight:
                    self._on_error(device, SKIPPED, "previous probe still running")
                    continue
                started.append(self._launch(device))
        if started:
            await asyncio.wait(started)
        self.cycles += 1
        self.last_cycle_seconds = self._clock() - cycle_start
        self.first_cycle_done.set()

    def _launch(self, device: Device) -> asyncio.Task[None]:
        self._in_flight.add(device.key)
        task = asyncio.create_task(self._guarded(device))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, device: Device) -> None:
        try:
            await self._probe(device)
        except Exception as exc:
            log.exception("probe crashed", extra={"device": device.name})
            self._on_error(device, CRASHED, f"{type(exc).__name__}: {exc}")
        finally:
            self._in_flight.discard(device.key)

    async def _sleep_until(self, when: float) -> None:
        delay = when - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)
