"""One probe of one device: resolve its address, ask the ICMP engine, build the result.

Everything that stops a probe from running (a name that does not resolve, a send or
socket error, a crash in the engine, a probe skipped because the previous one is still
running) is counted in :class:`ProbeErrors` by reason and logged with the device.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial

from exporter.config import Device, ProbeSettings
from exporter.icmp import DEFAULT_ROUTE, PROBE_ERROR_REASONS, IcmpProber, ProbeOutcome, Route
from exporter.resolve import RESOLVE_ERROR_REASONS, resolve
from exporter.scheduler import CRASHED, SCHEDULER_ERROR_REASONS
from exporter.state import ProbeResult

log = logging.getLogger("exporter.probe")

# Every reason a probe can fail to run, from the modules that report them (name lookup,
# ICMP engine, scheduler), so each wardops_probe_errors_total series exists at 0 from
# the start. A reason missing here would still be counted, from its first occurrence.
KNOWN_ERROR_REASONS = tuple(dict.fromkeys(
    (*RESOLVE_ERROR_REASONS, *PROBE_ERROR_REASONS, *SCHEDULER_ERROR_REASONS)))


class ProbeErrors:
    """Counts probe errors by reason and logs them.

    The first error of a device's run of same-reason errors is logged as a warning and
    repeats at debug level, so a DNS outage over 10,000 names does not flood the log
    every cycle while every single error is still counted.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(KNOWN_ERROR_REASONS, 0)
        self._last_reason: dict[tuple[str, ...], str] = {}

    def count(self, device: Device, reason: str, detail: str, isp: str = "") -> None:
        """Count one error of ``device`` (of its path ``isp``, if given) and log it."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        key = device.key + ((isp,) if isp else ())
        repeated = self._last_reason.get(key) == reason
        self._last_reason[key] = reason
        extra = {"device": device.name, "address": device.address, "reason": reason,
                 "detail": detail}
        if isp:
            extra["isp"] = isp
        log.log(logging.DEBUG if repeated else logging.WARNING, "probe failed to run",
                extra=extra)

    def current(self) -> dict[tuple[str, ...], str]:
        """{device key: reason} of the devices whose latest probe could not run (and
        {path key: reason} of such paths)."""
        return dict(self._last_reason)

    def retain(self, keys: set[tuple[str, str]]) -> None:
        """Forget the error runs of devices (and their paths) no longer in the inventory."""
        for key in [k for k in self._last_reason if k[:2] not in keys]:
            del self._last_reason[key]

    def clear(self, device: Device, isp: str = "") -> None:
        """The device's (or its path's) probe ran: the next error is news again."""
        if self._last_reason:
            self._last_reason.pop(device.key + ((isp,) if isp else ()), None)


async def probe_device(device: Device, prober: IcmpProber, settings: ProbeSettings,
                       errors: ProbeErrors, clock: Callable[[], float] = time.time
                       ) -> ProbeResult:
    """Probe ``device`` once with ``settings.count`` echo requests; never raises."""
    return await _probe_address(device, device.address, device.ip, DEFAULT_ROUTE, prober,
                                settings, errors, clock, "")


async def probe_paths(device: Device, prober: IcmpProber, settings: ProbeSettings,
                      errors: ProbeErrors, clock: Callable[[], float] = time.time
                      ) -> tuple[ProbeResult, list[ProbeResult]]:
    """Probe every path of ``device`` at once; the device's result and each path's.

    The device's result is its best path's (:func:`best_of`): the device is reachable
    while any path is, and its RTT and loss are those of the way it is best reached.
    """
    results = list(await asyncio.gather(*(
        _probe_address(device, path.address, path.ip, path.route, prober, settings, errors,
                       clock, path.isp) for path in device.paths)))
    return best_of(results), results


def best_of(results: list[ProbeResult]) -> ProbeResult:
    """The result of the path that did best: most of its requests answered, then the
    shortest mean round trip. Paths whose probe could not run say nothing; if none ran,
    the first one's error (the device is judged neither up nor down)."""
    ran = [r for r in results if r.error is None]
    if not ran:
        return results[0]
    return max(ran, key=lambda r: (r.received / r.sent if r.sent else 0.0,
                                   -(r.rtt if r.rtt is not None else float("inf"))))


async def _probe_address(device: Device, address: str, ip: str | None, route: Route,
                         prober: IcmpProber, settings: ProbeSettings, errors: ProbeErrors,
                         clock: Callable[[], float], isp: str) -> ProbeResult:
    started = clock()
    resolved = await resolve(address, ip, settings.timeout)
    if resolved.ip is None:
        reason = resolved.error or "dns"
        errors.count(device, reason, resolved.detail, isp)
        return ProbeResult(started, clock(), 0, 0, None, error=reason)
    try:
        outcome = await prober.probe(resolved.ip, settings.count, settings.timeout, route)
    except Exception as exc:  # counted and logged, device stays unjudged
        errors.count(device, CRASHED, f"{type(exc).__name__}: {exc}", isp)
        return ProbeResult(started, clock(), 0, 0, None, error=CRASHED)
    return _result(device, outcome, started, clock(), errors, isp)


def _result(device: Device, outcome: ProbeOutcome, started: float, finished: float,
            errors: ProbeErrors, isp: str) -> ProbeResult:
    """The engine's outcome as the state machine's result; a probe that could not run is
    counted."""
    if outcome.error is not None:
        errors.count(device, outcome.error, outcome.detail, isp)
        return ProbeResult(started, finished, outcome.sent, outcome.received, None,
                           error=outcome.error)
    errors.clear(device, isp)
    rtts = outcome.rtts
    return ProbeResult(started, finished, outcome.sent, outcome.received,
                       sum(rtts) / len(rtts) if rtts else None, rtts=rtts)


def launch_probe(device: Device, prober: IcmpProber, settings: ProbeSettings,
                 errors: ProbeErrors,
                 on_results: Callable[[ProbeResult, list[ProbeResult]], None],
                 clock: Callable[[], float] = time.time) -> bool:
    """Start probing ``device`` (all its paths at once) without a coroutine or a task.

    Only for devices whose addresses (the device's, or every path's) are IP literals:
    returns False, starting nothing, when a name must be resolved first (use
    :func:`probe_device` / :func:`probe_paths`). Otherwise ``on_results(device's result,
    each path's)`` is called once, in the loop's thread, when every address is probed,
    with the same results as :func:`probe_paths` (no paths: the device's, and ``[]``).
    At 10,000 devices a task and its coroutines per probe cost more than the packets.
    """
    settings_count, timeout = settings.count, settings.timeout
    started = clock()
    if not device.paths:
        if device.ip is None:
            return False

        def one(outcome: ProbeOutcome) -> None:
            on_results(_result(device, outcome, started, clock(), errors, ""), [])

        prober.launch(device.ip, settings_count, timeout, DEFAULT_ROUTE, one)
        return True
    if any(path.ip is None for path in device.paths):
        return False
    results: list[ProbeResult | None] = [None] * len(device.paths)
    waiting = [len(results)]

    def each(index: int, isp: str, outcome: ProbeOutcome) -> None:
        results[index] = _result(device, outcome, started, clock(), errors, isp)
        waiting[0] -= 1
        if waiting[0] == 0:
            done = [r for r in results if r is not None]
            on_results(best_of(done), done)

    for index, path in enumerate(device.paths):
        assert path.ip is not None
        prober.launch(path.ip, settings_count, timeout, path.route,
                      partial(each, index, path.isp))
    return True
