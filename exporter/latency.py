"""The shape of latency: one probe's reply statistics and the RTT histogram's buckets.

Pure functions, no state: :func:`reply_stats` summarises one probe's round trips (min,
max, mean and the standard deviation, "jitter"), :func:`add_to_buckets` folds them into
a device's running histogram counts, and :func:`rendered_bounds` decides which bucket
bounds are served for a probe timeout.

Bucket bounds (seconds) are chosen for WAN links: sub-millisecond for a LAN or a local
router, 1-2-5 steps to 10 ms, then finer steps through 10-300 ms where mobile, DSL and
fibre uplinks live (a boundary at 200 ms, the HighLatency threshold, so that the
threshold is read exactly and not interpolated), up to the timeout. Replies later than the
timeout are not counted (the engine drops them), so bounds at or above the timeout would
only repeat ``+Inf`` and are not served.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

#: The default ``probe.rtt_buckets``: upper bounds in seconds (``le``), ascending.
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
    1.0, 2.0, 5.0)
#: Most bounds ``probe.rtt_buckets`` may list: each costs one series per device and path.
MAX_BUCKETS = 30


@dataclass(frozen=True, slots=True)
class ReplyStats:
    """The round trips of one probe's replies, in seconds."""

    mean: float
    minimum: float
    maximum: float
    stddev: float | None  # sample standard deviation; None with fewer than two replies


def reply_stats(rtts: Sequence[float]) -> ReplyStats | None:
    """Mean, min, max and standard deviation of ``rtts``; None without replies.

    The standard deviation is the sample one (divided by n - 1): with the usual three
    requests per probe the population form would understate a link's jitter by a fifth.
    """
    n = len(rtts)
    if n == 0:
        return None
    mean = sum(rtts) / n
    stddev = None
    if n > 1:
        squares = 0.0
        for rtt in rtts:  # a plain loop: a generator expression takes half as long again
            squares += (rtt - mean) * (rtt - mean)
        stddev = math.sqrt(squares / (n - 1))
    return ReplyStats(mean, min(rtts), max(rtts), stddev)


def add_to_buckets(counts: tuple[int, ...], bounds: Sequence[float],
                   rtts: Sequence[float]) -> tuple[int, ...]:
    """``counts`` (one per bound plus one for ``+Inf``, not cumulative) with ``rtts`` added.

    A round trip equal to a bound counts in that bound's bucket (``le`` is "less than or
    equal"). ``counts`` of another length (new bounds after a reload) start again from 0.
    """
    size = len(bounds) + 1
    new = list(counts) if len(counts) == size else [0] * size
    for rtt in rtts:
        new[bisect_left(bounds, rtt)] += 1
    return tuple(new)


def rendered_bounds(bounds: Sequence[float], timeout: float) -> tuple[float, ...]:
    """The bounds served for ``timeout``: those below it (no reply is later)."""
    return tuple(b for b in bounds if b < timeout)


def check_bounds(bounds: Sequence[float]) -> str | None:
    """Why ``bounds`` cannot be a bucket list, or None if it can."""
    if len(bounds) > MAX_BUCKETS:
        return f"at most {MAX_BUCKETS} bounds (each is a series per device), not {len(bounds)}"
    for low, high in zip(bounds, bounds[1:]):
        if not low < high:
            return f"must be ascending without repeats ({low:g}s then {high:g}s)"
    if bounds and not bounds[0] > 0:
        return f"bounds must be greater than 0, not {bounds[0]:g}s"
    return None
