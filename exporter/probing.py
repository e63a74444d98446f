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

from exporter.config import Device, ProbeSettings
from exporter.icmp import DEFAULT_ROUTE, PROBE_ERROR_REASONS, IcmpProber, Route
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
    if outcome.error is not None:
        errors.count(device, outcome.error, outcome.detail, isp)
        return ProbeResult(started, clock(), outcome.sent, outcome.received, None,
                           error=outcome.error)
    errors.clear(device, isp)
    rtt = sum(outcome.rtts) / len(outcome.rtts) if outcome.rtts else None
    return ProbeResult(started, clock(), outcome.sent, outcome.received, rtt,
                       rtts=outcome.rtts)
