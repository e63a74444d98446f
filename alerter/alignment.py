"""When to evaluate next: just after the exporter's scrape lands in Prometheus.

On a plain cadence an evaluation waits on average half an interval after the scrape that
brought a device's new state. With ``evaluation_alignment`` (on by default) the alerter
asks Prometheus for the exporter's recent scrapes, ``SELECTOR[lookback]`` on
``scrape_duration_seconds`` (its sample timestamps are the scrape starts, its values the
durations), and schedules each evaluation at ``scrape start + longest recent duration +
margin``, for the scrape nearest before the plain cadence's time.

:func:`next_evaluation` decides (pure, table-tested); it falls back to the cadence
(previous evaluation + interval) when there are fewer than ``MIN_SCRAPES`` scrapes, they
are irregular or have stopped, or no scrape fits. An evaluation is never later than the
cadence by more than ``min(10% of the interval, 0.25 s)``; when the scrapes' phase moves,
one evaluation may come early, never late.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Scrapes needed, with a stable period, before evaluations align to them.
MIN_SCRAPES = 3
#: Scrapes looked at (the period is the median of their gaps).
KEEP = 6
#: A gap may differ from the median by this share of it and still count as regular.
REGULAR_TOLERANCE = 0.1
#: Lateness allowed past the cadence, and the least gap after the previous evaluation.
MAX_WOBBLE = 0.25

#: Reasons an evaluation is scheduled on the plain cadence (metric label values); the
#: query's own failures use ``alerter.promapi`` reasons.
TOO_FEW, IRREGULAR, STOPPED, NO_FIT = "too_few_scrapes", "irregular", "stopped", "no_fit"
FALLBACK_REASONS = (TOO_FEW, IRREGULAR, STOPPED, NO_FIT)

_SELECTOR = re.compile(r"^\s*(?:[a-zA-Z_:][a-zA-Z0-9_:]*\s*(?:\{[^{}]*\})?|\{[^{}]+\})\s*$")
_UP = re.compile(r"^\s*up\s*(\{[^{}]*\})?\s*$")


@dataclass(frozen=True)
class EvaluationAlignment:
    """``evaluation_alignment:`` in the alerter config."""

    enabled: bool = True
    #: how long after a scrape's end the evaluation runs (room for Prometheus to commit it)
    margin: float = 0.5
    #: series selector of the exporter's ``scrape_duration_seconds``; "" = cannot align
    selector: str = 'scrape_duration_seconds{job="wardops-exporter"}'


def is_series_selector(text: str) -> bool:
    """True for a plain selector (``name{matchers}``) that a ``[range]`` can follow."""
    return bool(_SELECTOR.match(text))


def selector_from_targets(targets: str) -> str:
    """``up{job="x"}`` (data_health.targets) → ``scrape_duration_seconds{job="x"}``; ""
    when the targets selector is not of that form."""
    match = _UP.match(targets)
    if not match:
        return ""
    return "scrape_duration_seconds" + (match.group(1) or "")


@dataclass(frozen=True)
class Plan:
    """When to evaluate next, and why."""

    at: float
    #: start of the scrape the evaluation follows; None on the plain cadence
    scrape: float | None
    #: "" when aligned, else one of ``FALLBACK_REASONS``
    fallback: str = ""


def scrape_period(starts: Sequence[float], now: float) -> tuple[float | None, str]:
    """The period of regular, still running scrapes (starts oldest first), or a reason."""
    recent = list(starts)[-KEEP:]
    if len(recent) < MIN_SCRAPES:
        return None, TOO_FEW
    gaps = [later - earlier for earlier, later in zip(recent, recent[1:], strict=False)]
    period = statistics.median(gaps)
    if period <= 0 or any(abs(gap - period) > REGULAR_TOLERANCE * period for gap in gaps):
        return None, IRREGULAR
    if now - recent[-1] > 2 * period:
        return None, STOPPED
    return period, ""


def last_in_round(series: Sequence[Sequence[tuple[float, float]]], now: float
                  ) -> Sequence[tuple[float, float]]:
    """Of several exporter targets' scrapes (shards), the target scraped last in each
    round: evaluating after its scrapes means no shard's results are read a round late.

    Each round, the targets land in the same order; the one whose latest scrape ends
    furthest after the round's first start is the last. Targets whose scrapes are not
    regular (too few, stopped) are left out unless no target is regular.
    """
    if not series:
        return []
    regular = [s for s in series if s and scrape_period([p[0] for p in s], now)[0] is not None]
    if not regular:
        return series[0]
    period = scrape_period([p[0] for p in regular[0]], now)[0] or 1.0
    first = min(s[-1][0] for s in regular)
    return max(regular, key=lambda s: (s[-1][0] + s[-1][1] - first) % period)


def next_evaluation(scrapes: Sequence[tuple[float, float]], *, previous: float,
                    cadence: float, interval: float, margin: float, now: float) -> Plan:
    """Decide the next evaluation time.

    ``scrapes``: (start, duration) of the exporter's recent scrapes, oldest first.
    ``previous``: the evaluation just done; ``cadence``: when the plain cadence would
    evaluate next. Scrapes are expected at ``last start + k * period``, each landing
    ``longest recent duration + margin`` later; the latest such time within
    ``[previous + wobble, cadence + wobble]`` and after ``now`` is taken.
    """
    starts = [start for start, _ in scrapes]
    period, reason = scrape_period(starts, now)
    if period is None:
        return Plan(cadence, None, reason)
    wobble = min(REGULAR_TOLERANCE * min(period, interval), MAX_WOBBLE)
    landed = max(duration for _, duration in list(scrapes)[-KEEP:]) + margin
    last = starts[-1]
    lowest = max(previous + wobble, now)
    latest = cadence + wobble
    k = (latest - landed - last) // period  # the last scrape landing by `latest`
    at = last + k * period + landed
    if at <= lowest:
        return Plan(cadence, None, NO_FIT)
    return Plan(at, last + k * period)
