"""One probe of one device: resolve its address, ask the ICMP engine, build the result.

Everything that stops a probe from running (a name that does not resolve, a send or
socket error, a crash in the engine, a probe skipped because the previous one is still
running) is counted in :class:`ProbeErrors` by reason and logged with the device.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from exporter.config import Device, ProbeSettings
from exporter.icmp import PROBE_ERROR_REASONS, IcmpProber
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
        self._last_reason: dict[tuple[str, str], str] = {}

    def count(self, device: Device, reason: str, detail: str) -> None:
        """Count one error of ``device`` and log it."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        repeated = self._last_reason.get(device.key) == reason
        self._last_reason[device.key] = reason
        log.log(logging.DEBUG if repeated else logging.WARNING, "probe failed to run",
                extra={"device": device.name, "address": device.address, "reason": reason,
                       "detail": detail})

    def current(self) -> dict[tuple[str, str], str]:
        """{device key: reason} of the devices whose latest probe could not run."""
        return dict(self._last_reason)

    def retain(self, keys: set[tuple[str, str]]) -> None:
        """Forget the error runs of devices no longer in the inventory."""
        for key in [k for k in self._last_reason if k not in keys]:
            del self._last_reason[key]

    def clear(self, device: Device) -> None:
        """The device's probe ran: the next error is news again."""
        if self._last_reason:
            self._last_reason.pop(device.key, None)


async def probe_device(device: Device, prober: IcmpProber, settings: ProbeSettings,
                       errors: ProbeErrors, clock: Callable[[], float] = time.time
                       ) -> ProbeResult:
    """Probe ``device`` once with ``settings.count`` echo requests; never raises."""
    started = clock()
    resolved = await resolve(device.address, device.ip, settings.timeout)
    if resolved.ip is None:
        reason = resolved.error or "dns"
        errors.count(device, reason, resolved.detail)
        return ProbeResult(started, clock(), 0, 0, None, error=reason)
    try:
        outcome = await prober.probe(resolved.ip, settings.count, settings.timeout)
    except Exception as exc:  # counted and logged, device stays unjudged
        errors.count(device, CRASHED, f"{type(exc).__name__}: {exc}")
        return ProbeResult(started, clock(), 0, 0, None, error=CRASHED)
    if outcome.error is not None:
        errors.count(device, outcome.error, outcome.detail)
        return ProbeResult(started, clock(), outcome.sent, outcome.received, None,
                           error=outcome.error)
    errors.clear(device)
    rtt = sum(outcome.rtts) / len(outcome.rtts) if outcome.rtts else None
    return ProbeResult(started, clock(), outcome.sent, outcome.received, rtt,
                       rtts=outcome.rtts)
