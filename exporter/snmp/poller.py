"""SNMP poller: its own schedule, beside the ICMP probes.

Each device with SNMP settings gets one asyncio task that polls it every ``interval``,
starting at a stable offset inside the interval (a splay derived from name and address,
so a thousand routers do not all fire in the same second, and a reload does not move
them). A semaphore bounds how many polls run at once. Results are immutable
:class:`~exporter.snmp.poll.PollResult` objects swapped in whole, so the collector,
which may run in the HTTP server's thread, always reads a consistent snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from exporter.snmp.client import Session, SnmpClient, SnmpError, probe_unreachable
from exporter.snmp.collector import collect_metrics
from exporter.snmp.poll import POLL_ERROR_REASONS, NamesCache, PollResult, poll_device
from exporter.snmp.settings import SnmpSettings

log = logging.getLogger(__name__)

DEFAULT_MAX_CONCURRENCY = 100


def device_key(device: Any) -> tuple[str, str]:
    """Name and address together identify a device."""
    return (device.name, device.address)


def splay(key: tuple[str, str], interval: float) -> float:
    """A stable start offset in [0, interval) for a device."""
    return (zlib.crc32("\0".join(key).encode()) % 10_000) / 10_000 * interval


def failure_reason(reason: str, icmp_up: bool | None) -> str:
    """The reason a failed poll is counted under: ``device_down`` while ICMP says down,
    so an outage shows up once as DeviceDown instead of piling up SNMP timeouts."""
    return "device_down" if icmp_up is False else reason


@dataclass
class DeviceState:
    """What the poller keeps per device between polls."""

    device: Any
    settings: SnmpSettings
    session: Session | None = None
    names: NamesCache | None = None
    last_ticks: int | None = None
    result: PollResult | None = None
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLL_ERROR_REASONS, 0))
    task: asyncio.Task[None] | None = None


class SnmpPoller:
    """Polls the devices that have SNMP settings and keeps their latest results.

    ``devices`` are ``exporter.config.Device`` objects; those with ``snmp`` set are polled.
    ``icmp_up`` is a callable ``(device) -> bool | None`` so an ICMP-down device's SNMP
    failures are not piled up as errors. ``max_concurrency`` bounds polls in flight.
    """

    def __init__(self, devices: Sequence[Any], icmp_up: Callable[[Any], bool | None] | None = None,
                 *, max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
                 client: SnmpClient | None = None) -> None:
        self._icmp_up = icmp_up
        self._client = client or SnmpClient()
        self._max_concurrency = max_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._states: dict[tuple[str, str], DeviceState] = {}
        self._running = False
        self.set_devices(devices)

    def set_devices(self, devices: Sequence[Any]) -> None:
        """Replace the polled set on reload; kept devices keep their results.

        A kept device whose SNMP settings changed keeps its last result but starts a
        fresh session (new credentials or port) and re-reads its interface names.
        Call from the event loop's thread once :meth:`run` is running.
        """
        wanted = {device_key(d): d for d in devices if getattr(d, "snmp", None) is not None}
        for key, state in self._states.items():
            if key not in wanted and state.task is not None:
                state.task.cancel()
        # A new dict swapped in whole: the collector may be iterating the old one from
        # the web server's thread.
        states: dict[tuple[str, str], DeviceState] = {}
        for key, device in wanted.items():
            kept = self._states.get(key)
            if kept is None:
                states[key] = fresh = DeviceState(device=device, settings=device.snmp)
                self._start(fresh)
                continue
            states[key] = state = kept
            state.device = device
            if state.settings != device.snmp:
                state.settings = device.snmp
                state.session = None
                state.names = None
                if state.task is not None:
                    state.task.cancel()  # the new interval and splay apply from now
                    state.task = None
                self._start(state)
        self._states = states

    def _start(self, state: DeviceState) -> None:
        if self._running:
            state.task = asyncio.get_running_loop().create_task(
                self._device_loop(state), name=f"snmp {state.device.name}")

    async def run(self) -> None:
        """Poll forever on the configured intervals (cancel the task to stop)."""
        self._semaphore = asyncio.Semaphore(self._max_concurrency)
        self._running = True
        try:
            await self._open_sessions()
            for state in self._states.values():
                self._start(state)
            await asyncio.Event().wait()
        finally:
            self._running = False
            tasks = [s.task for s in self._states.values() if s.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for state in self._states.values():
                state.task = None
            self.close()

    def close(self) -> None:
        """Close the SNMP sockets (done by :meth:`run` when it is cancelled)."""
        self._client.close()

    async def _device_loop(self, state: DeviceState) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(splay(device_key(state.device), state.settings.interval))
        while True:
            started = loop.time()
            await self.poll(state)
            await asyncio.sleep(max(0.0, state.settings.interval - (loop.time() - started)))

    async def _open_sessions(self) -> None:
        """Resolve every device and register the SNMPv3 ones with pysnmp before the
        first poll.

        pysnmp rebuilds its transport-to-community map whenever a target is added, on
        the next response; adding a thousand targets between responses costs O(n^2)
        (30 s of CPU for 1,000 devices). Adding them all first costs one rebuild.
        A device whose session fails here gets another try, counted, at its poll.
        """
        async def open_one(state: DeviceState) -> None:
            try:
                state.session = await self._open_session(state)
            except SnmpError:
                pass  # poll() opens it again and counts the failure with its reason

        await asyncio.gather(*(open_one(s) for s in list(self._states.values())
                               if s.session is None))

    async def _open_session(self, state: DeviceState) -> Session:
        settings = state.settings
        return await self._client.session(state.device.address, settings.port,
                                          settings.credentials, settings.timeout,
                                          settings.retries)

    async def poll_all(self) -> None:
        """Poll every device once, concurrently within the bound (tests, benchmarks)."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._max_concurrency)
        await self._open_sessions()
        await asyncio.gather(*(self.poll(state) for state in list(self._states.values())))

    async def poll(self, state: DeviceState) -> None:
        """Poll one device and store its result; every failure is counted and logged."""
        assert self._semaphore is not None
        async with self._semaphore:
            start = time.monotonic()
            settings = state.settings
            try:
                if state.session is None:
                    state.session = await self._open_session(state)
                result = await poll_device(self._client, state.session, settings,
                                           state.names, state.last_ticks)
            except SnmpError as exc:
                reason = exc.reason
                icmp_up = self._icmp_verdict(state)
                if (reason == "timeout" and icmp_up is not False
                        and await probe_unreachable(state.device.address, settings.port)):
                    reason = "unreachable"
                self._failed(state, failure_reason(reason, icmp_up), exc.detail, start)
                if reason == "resolve":
                    state.session = None
                return
            except Exception as exc:  # a bug must not stop the loop; counted
                log.exception("snmp poll crashed", extra=self._log_fields(state))
                self._failed(state, "internal", repr(exc), start)
                return
        if state.result is not None and not state.result.up:
            log.info("snmp answers again", extra=self._log_fields(state))
        state.names = result.names
        state.last_ticks = result.uptime_ticks
        state.result = result

    @staticmethod
    def _log_fields(state: DeviceState, **more: str) -> dict[str, str]:
        return {"device": state.device.name, "address": state.device.address, **more}

    def _icmp_verdict(self, state: DeviceState) -> bool | None:
        """What ICMP says about the device: True up, False down, None unknown."""
        if self._icmp_up is None:
            return None
        try:
            return self._icmp_up(state.device)
        except Exception:  # the core's callback; logged, then "unknown"
            log.exception("icmp_up callback failed", extra=self._log_fields(state))
            return None

    def _failed(self, state: DeviceState, counted: str, detail: str, start: float) -> None:
        state.errors[counted] += 1
        # Warn when a device starts failing or fails differently; repeats (every interval)
        # and failures of ICMP-down devices only at debug: the counter has them all.
        previous = state.result.error if state.result is not None else None
        level = logging.DEBUG if counted in (previous, "device_down") else logging.WARNING
        log.log(level, "snmp poll failed",
                extra=self._log_fields(state, reason=counted, detail=detail))
        state.result = PollResult(finished_at=time.time(), duration=time.monotonic() - start,
                                  error=counted)

    def snapshot(self) -> list[DeviceState]:
        """The device states, for the collector and the status page."""
        return list(self._states.values())

    def collect(self) -> Iterable[Metric]:
        """Metric families for /metrics, built from the latest results, and the count of
        SNMPv2c datagrams the client ignored."""
        yield from collect_metrics(self.snapshot())
        ignored = CounterMetricFamily(
            "wardops_snmp_ignored_datagrams",
            "SNMPv2c datagrams read and ignored, by reason: unmatched (a late or duplicate "
            "reply, or one from an address or to a request-id not waiting; the request it "
            "may belong to ends as a timeout error), socket_error (an error the kernel "
            "queued on the socket).", labels=["reason"])
        for reason, count in self._client.ignored.items():
            ignored.add_metric([reason], count)
        yield ignored
