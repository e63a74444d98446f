"""Grouping and its timers: alerts collect in aggregation groups, flushed on schedule.

A group is (route, values of the route's ``group_by`` labels). Its first flush comes
``group_wait`` after it was created (at once if its oldest alert started longer ago
than that, e.g. after a restart), then one every ``group_interval``; whether a flush
actually sends anything is the dedup stage's call (``repeat_interval`` lives there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from alerter.model import Alert
from alerter.notify.config import Route

log = logging.getLogger("alerter.notify")


def next_flush_at(created_at: float, earliest_start: float, last_flush_at: float | None,
                  group_wait: float, group_interval: float) -> float:
    """When a group flushes next (pure; Unix seconds)."""
    if last_flush_at is None:
        return max(created_at, min(created_at + group_wait, earliest_start + group_wait))
    return last_flush_at + group_interval


@dataclass
class Group:
    """One aggregation group: its alerts by fingerprint and its timer state."""

    key: str
    route: Route
    labels: dict[str, str]
    created_at: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    earliest_start: float = float("inf")
    last_flush_at: float | None = None

    def add(self, alert: Alert) -> None:
        self.alerts[alert.fingerprint] = alert
        self.earliest_start = min(self.earliest_start, alert.starts_at)

    def due_at(self) -> float:
        return next_flush_at(self.created_at, self.earliest_start, self.last_flush_at,
                             self.route.group_wait, self.route.group_interval)


@dataclass(frozen=True)
class GroupSnapshot:
    """What one flush sees: the group's alerts at that moment."""

    key: str
    route: Route
    labels: dict[str, str]
    alerts: tuple[Alert, ...]


class Worker:
    """A daemon thread running ``_run`` until ``stop``; ``_cond`` guards its state."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)


class Ticker(Worker):
    """Calls ``tick(now) -> next wake time`` from its thread when asked to, or when woken
    (``wake``); at least once a second, since mutes end unannounced."""

    def __init__(self, tick: Callable[[float], float], clock: Callable[[], float],
                 name: str, on_error: Callable[[], None]) -> None:
        super().__init__(name)
        self._tick = tick
        self._clock = clock
        self._on_error = on_error
        self._woken = False

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._woken = False
            try:
                next_at = self._tick(self._clock())
            except Exception:  # counted and logged by on_error; the next tick retries
                self._on_error()
                log.exception("timer task failed", extra={"task": self._name})
                next_at = self._clock() + 1.0
            with self._cond:
                if self._stopping:
                    return
                if not self._woken:
                    self._cond.wait(timeout=max(0.01, min(next_at - self._clock(), 1.0)))


class Dispatcher(Worker):
    """Keeps the groups and calls ``flush(snapshots, now)`` from its thread when they are due.

    ``flush`` gets every due group of one wake-up at once so their notifications can be
    queued in one transaction. Resolved alerts a flush saw leave the group afterwards,
    except in the groups ``flush`` returns as held (muted by a time interval: their
    resolves are told when the interval ends); empty groups are dropped.
    """

    def __init__(self, flush: Callable[[list[GroupSnapshot], float], set[str]],
                 clock: Callable[[], float] = time.time,
                 on_error: Callable[[str], None] = lambda reason: None) -> None:
        super().__init__("notify-dispatch")
        self._flush = flush
        self._clock = clock
        self._on_error = on_error
        self._groups: dict[str, Group] = {}

    def insert(self, route: Route, key: str, labels: dict[str, str], alert: Alert,
               now: float) -> None:
        """Put ``alert`` in its group (created on first use). Call with ``lock`` held."""
        group = self._groups.get(key)
        if group is None:
            group = Group(key=key, route=route, labels=labels, created_at=now)
            self._groups[key] = group
        elif group.route is not route:
            group.route = route  # reloaded: same route key, maybe new timers; alerts stay
        group.add(alert)

    @property
    def lock(self) -> threading.Condition:
        return self._cond

    def wake(self) -> None:
        """Re-check timers (after inserts). Call with ``lock`` held."""
        self._cond.notify_all()

    def drop_routes_not_in(self, keys: set[str]) -> None:
        """After a reload: forget groups whose route no longer exists. Call with ``lock`` held."""
        for key in [k for k, g in self._groups.items() if g.route.key not in keys]:
            del self._groups[key]

    def groups(self) -> list[Group]:
        with self._cond:
            return list(self._groups.values())

    def pending_resolves(self) -> set[str]:
        """Fingerprints of resolved alerts in some group that no flush has taken yet."""
        with self._cond:
            return {fp for group in self._groups.values()
                    for fp, alert in group.alerts.items() if alert.resolved}

    def _due(self, now: float) -> tuple[list[GroupSnapshot], float]:
        due: list[GroupSnapshot] = []
        next_at = now + 1.0
        for group in self._groups.values():
            at = group.due_at()
            if at <= now:
                due.append(GroupSnapshot(group.key, group.route, group.labels,
                                         tuple(group.alerts.values())))
                group.last_flush_at = now
                next_at = min(next_at, now + group.route.group_interval)
            else:
                next_at = min(next_at, at)
        return due, next_at

    def _forget_flushed_resolved(self, flushed: list[GroupSnapshot]) -> None:
        for snap in flushed:
            group = self._groups.get(snap.key)
            if group is None:
                continue
            for alert in snap.alerts:
                # Only if it is still the same resolved alert (not fired again since).
                if alert.resolved and group.alerts.get(alert.fingerprint) is alert:
                    del group.alerts[alert.fingerprint]
            if not group.alerts:
                del self._groups[snap.key]
            else:
                group.earliest_start = min(a.starts_at for a in group.alerts.values())

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = self._clock()
                due, next_at = self._due(now)
                if not due:
                    self._cond.wait(timeout=max(0.01, min(next_at - now, 1.0)))
                    continue
            try:
                held = self._flush(due, now)
            except Exception:  # counted and logged; the next flush retries
                self._on_error("flush")
                log.exception("notification flush failed; groups are retried at the next "
                              "group_interval")
                continue
            with self._cond:
                self._forget_flushed_resolved([s for s in due if s.key not in held])
