"""When a probe cycle starts, so that its results are fresh when Prometheus scrapes.

With an even splay over the interval, a probe result waits on average half an interval
for the next scrape. Once the scrapes are seen to be regular (``MIN_SCRAPES`` in a row
with a stable period), a cycle instead starts so that its last probe ends ``MARGIN``
before the next expected scrape: ``start = next_scrape - (spread + longest_probe +
MARGIN)``, with the probe starts spread over a short window (``aligned_spread``: about
``ALIGNED_RATE`` probes a second, at most ``ALIGNED_SPREAD_SHARE`` of the interval), so
thousands of devices are still not one burst.

Scrapes are told apart by their source (address and User-Agent): with several
Prometheus servers (an HA pair) the schedule follows the regular source whose address
sorts lowest; a person's ``curl`` of /metrics is a source of its own and not regular.

Everything here is pure except :class:`ScrapeLog` (a thread-safe record of arrivals);
the scheduler supplies the clock.
"""

from __future__ import annotations

import ipaddress
import statistics
import threading
from collections import deque
from collections.abc import Sequence

#: Scrapes a source needs, with a stable period, before cycles align to it.
MIN_SCRAPES = 3
#: Arrivals kept per source (the period is the median of their gaps).
KEEP = 6
#: A gap may differ from the median by this share of it and still count as regular.
REGULAR_TOLERANCE = 0.1
#: The last probe of an aligned cycle ends this long before the expected scrape: room for
#: a busy event loop to record the results.
MARGIN = 0.25
#: Probe starts per second in an aligned cycle (the ICMP engine sends 10,000 probes in about
#: 1.5 s); 10,000 devices start over 2 s.
ALIGNED_RATE = 5000.0
#: An aligned cycle's starts never take more than this share of the interval.
ALIGNED_SPREAD_SHARE = 0.2
#: Sources remembered at most (a stray scraper must not grow memory).
MAX_SOURCES = 16


class ScrapeLog:
    """Arrival times of /metrics requests by source; written by web threads, read by the
    scheduler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_source: dict[str, deque[float]] = {}

    def note(self, source: str, when: float) -> None:
        """Record a scrape from ``source`` (e.g. ``"10.0.0.5 Prometheus/2.42.0"``) at
        ``when`` (the scheduler's clock)."""
        with self._lock:
            times = self._by_source.pop(source, None) or deque(maxlen=KEEP)
            times.append(when)
            self._by_source[source] = times  # re-inserted: the dict is oldest-first
            while len(self._by_source) > MAX_SOURCES:
                del self._by_source[next(iter(self._by_source))]

    def sources(self) -> dict[str, list[float]]:
        """A copy: source → its recent arrival times, oldest first."""
        with self._lock:
            return {source: list(times) for source, times in self._by_source.items()}


def regular_period(times: Sequence[float], now: float) -> float | None:
    """The scrape period if ``times`` (oldest first) are regular and still going, else None.

    Regular: at least ``MIN_SCRAPES`` arrivals whose gaps all lie within
    ``REGULAR_TOLERANCE`` of their median. Still going: the last one is less than two
    periods old.
    """
    recent = list(times)[-KEEP:]
    if len(recent) < MIN_SCRAPES:
        return None
    gaps = [later - earlier for earlier, later in zip(recent, recent[1:], strict=False)]
    period = statistics.median(gaps)
    if period <= 0 or any(abs(gap - period) > REGULAR_TOLERANCE * period for gap in gaps):
        return None
    if now - recent[-1] > 2 * period:
        return None
    return period


def _address_order(source: str) -> tuple[int, object, str]:
    address = source.split(" ", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return (1, address, source)
    return (0, (ip.version, int(ip)), source)


def pick_scraper(sources: dict[str, list[float]],
                 now: float) -> tuple[str, list[float], float] | None:
    """The source to align to: among the regular ones, the lowest address (then name).

    Returns ``(source, times, period)``, or None when no source scrapes regularly.
    """
    for source in sorted(sources, key=_address_order):
        period = regular_period(sources[source], now)
        if period is not None:
            return source, sources[source][-KEEP:], period
    return None


def aligned_spread(count: int, interval: float, longest_probe: float) -> float:
    """Seconds over which an aligned cycle's ``count`` probe starts are spread."""
    room = max(interval - longest_probe, 0.0) * 0.9
    return min(count / ALIGNED_RATE, ALIGNED_SPREAD_SHARE * interval, room)


def aligned_start(last_scrape: float, period: float, *, lead: float, nominal: float,
                  earliest: float, interval: float) -> float | None:
    """The start of the next cycle so that it ends ``lead`` before a scrape, or None.

    Scrapes are expected at ``last_scrape + k * period``; a cycle aligned to one starts at
    ``scrape - lead`` (lead = spread + longest probe + margin). The latest such start that
    is no later than ``nominal`` (the plain cadence: previous start + interval, plus a
    wobble of the scrapes' timing) and no earlier than ``earliest`` (the previous cycle's
    last probe has ended) is taken. So a device never waits more than one interval (and
    the wobble) between probes, whatever the scrape period; to catch up with a scrape
    phase a cycle starts early instead, once. None: no scrape fits, keep the cadence.
    """
    if period <= 0:
        return None
    # a wobble of a few percent must not turn into a skipped alignment
    slack = REGULAR_TOLERANCE * min(period, interval)
    latest = nominal + slack
    first = last_scrape - lead
    k = (latest - first) // period  # floor: the last candidate not after `latest`
    start = first + k * period
    return start if start >= earliest else None
