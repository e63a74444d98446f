"""Delivery decisions, as pure functions: what an attempt's result means and what comes next.

``classify`` maps one attempt (an HTTP status or a transport error) to an ``Outcome``;
``next_step`` turns it, with the attempt count and the notification's age, into
deliver / retry-after-delay / give-up. Nothing here touches the network or the clock.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

INITIAL_BACKOFF = 0.5   # seconds before the second attempt
MAX_BACKOFF = 300.0     # never wait longer between attempts
MAX_RETRY_AFTER = 3600.0


class TransportError(enum.Enum):
    """Failures below HTTP, mapped from ``requests`` exceptions in ``delivery``."""

    TIMEOUT = "timeout"
    REFUSED = "connection_refused"
    CONNECTION = "connection_error"
    INVALID = "invalid_request"  # bad URL, bad header: retrying cannot help


@dataclass(frozen=True)
class Outcome:
    """One attempt's verdict; ``reason`` is the metrics label."""

    delivered: bool
    retryable: bool
    reason: str
    retry_after: float | None = None
    detail: str = ""  # what the server said (e-mail: the SMTP step and reply), for logs

    @property
    def explained(self) -> str:
        """``reason``, with ``detail`` when there is one (the dead letter's last error)."""
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when - now), MAX_RETRY_AFTER)


def classify(status: int | None, error: TransportError | None = None,
             retry_after: str | None = None, now: float = 0.0) -> Outcome:
    """2xx delivered; 429, 408 and 5xx retried; other 4xx (and 1xx/3xx) not; transport
    errors retried except an invalid request."""
    if error is not None:
        return Outcome(False, error is not TransportError.INVALID, error.value)
    assert status is not None
    if 200 <= status < 300:
        return Outcome(True, False, "ok")
    if status == 429:
        return Outcome(False, True, "http_429", parse_retry_after(retry_after, now))
    if status == 408:
        return Outcome(False, True, "http_408")
    if status >= 500:
        return Outcome(False, True, "http_5xx", parse_retry_after(retry_after, now))
    if 400 <= status < 500:
        return Outcome(False, False, "http_4xx")
    return Outcome(False, False, f"http_{status // 100}xx")


def backoff(attempts: int, rand: float, initial: float = INITIAL_BACKOFF,
            maximum: float = MAX_BACKOFF) -> float:
    """Delay after ``attempts`` failed attempts: exponential with "equal jitter".

    ``rand`` in [0, 1) picks the point in [d/2, d) where d = initial * 2^(attempts-1),
    capped at ``maximum``: retries of many notifications spread out instead of
    hammering a receiver that just came back in lockstep.
    """
    delay = min(maximum, initial * (2 ** max(0, attempts - 1)))
    return delay / 2 + rand * delay / 2


class Action(enum.Enum):
    DONE = "delivered"
    RETRY = "retry"
    GIVE_UP = "failed"


@dataclass(frozen=True)
class Step:
    action: Action
    delay: float = 0.0
    why: str = ""


def next_step(outcome: Outcome, attempts: int, age: float, max_attempts: int, max_age: float,
              rand: float | None = None) -> Step:
    """What to do after attempt number ``attempts`` of a notification queued ``age`` s ago."""
    if outcome.delivered:
        return Step(Action.DONE)
    if not outcome.retryable:
        return Step(Action.GIVE_UP, why=f"{outcome.explained} is not retried")
    if max_attempts and attempts >= max_attempts:
        return Step(Action.GIVE_UP, why=f"{outcome.explained} after {attempts} attempts")
    delay = backoff(attempts, random.random() if rand is None else rand)
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    if age + delay > max_age:
        return Step(Action.GIVE_UP, why=f"{outcome.explained}; next attempt would exceed "
                    "max_age")
    return Step(Action.RETRY, delay=delay, why=outcome.explained)
