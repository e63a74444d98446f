"""Escalation: a firing alert nobody acknowledged is notified to the next level's receiver.

A route's ``escalation`` lists levels, each ``after`` a delay and naming a ``receiver``::

    escalation:
      - {after: 15m, receiver: oncall-email}   # 15 minutes after the route first notified
      - {after: 45m, receiver: manager}

The clock of one alert on one route starts when a flush of that route first sees it
firing and unmuted (the moment its first notification is decided). Level *i* is due
``after_i`` later; it is sent once, to its receiver, while the alert still fires, is not
acknowledged and is not muted (silence, inhibition, time interval: a muted alert waits,
and is escalated when the mute ends if it is still unacknowledged). An acknowledgement
stops the escalation; a resolve ends it and forgets it. Alertmanager has no escalation;
this is wardops's own key, not inherited by child routes (a catch-all child such as the
Watchdog's must not page a manager).

The state (``escalations`` table) is written in the same transaction as the notification
it causes, so after kill -9 a level was either queued and recorded, or neither: at least
once, never twice by the decision (the delivery itself is at-least-once as for every
notification). ``decide`` is the pure decision, table-tested with an injected clock.
"""

from __future__ import annotations

import enum
import sqlite3
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from alerter.notify.db import Database
from wardops_common.readers import read_duration, read_list, read_mapping, read_str

#: (route key, alert fingerprint): one alert's escalation on one route
EscalationKey = tuple[str, str]
#: the header of an escalation's webhook or e-mail: its level (1, 2 ...)
ESCALATION_HEADER = "X-Wardops-Escalation-Level"


@dataclass(frozen=True)
class EscalationLevel:
    """One level: ``after`` seconds since the route first notified, send to ``receiver``."""

    after: float
    receiver: str


def parse_escalation(raw: object, path: str,
                     receivers: Collection[str]) -> tuple[EscalationLevel, ...]:
    """A route's ``escalation`` list; ``ValueError("route.routes[0].escalation[1].after:
    ...")`` for a missing/unknown receiver, a bad delay or delays not increasing."""
    items = read_list(raw, path)
    if not items:
        raise ValueError(f"{path}: must list at least one level ({{after, receiver}})")
    levels: list[EscalationLevel] = []
    previous = ""
    for i, item in enumerate(items):
        p = f"{path}[{i}]"
        m = read_mapping(item, p, ("after", "receiver"))
        for key in ("after", "receiver"):
            if key not in m:
                raise ValueError(f"{p}.{key}: required")
        after = read_duration(m["after"], f"{p}.after", positive=True)
        receiver = read_str(m["receiver"], f"{p}.receiver")
        if receiver not in receivers:
            raise ValueError(f"{p}.receiver: unknown receiver {receiver!r}")
        if levels and after <= levels[-1].after:
            raise ValueError(f"{p}.after: {m['after']} must be later than the level before "
                             f"it ({previous})")
        levels.append(EscalationLevel(after, receiver))
        previous = str(m["after"])
    return tuple(levels)


@dataclass(frozen=True)
class Escalation:
    """The durable state of one alert's escalation on one route."""

    route_key: str
    fingerprint: str
    starts_at: float       # the firing it belongs to (a new firing starts over)
    notified_at: float     # when the route first notified it: the levels count from here
    level: int = 0         # levels sent so far
    stopped: str = ""      # "acked" once an acknowledgement stopped it

    @property
    def key(self) -> EscalationKey:
        return self.route_key, self.fingerprint


class Action(enum.Enum):
    """What ``decide`` says to do with one escalation now."""

    SEND = "send"          # send the levels ``Decision.levels``
    WAIT = "wait"          # the next level is due at ``Decision.at``
    HOLD = "hold"          # a level is due but the alert is muted: wait for the mute to end
    STOP_ACKED = "acked"   # acknowledged with levels left: stop (count once)
    DONE = "done"          # every level sent, or already stopped: nothing more to do


@dataclass(frozen=True)
class Decision:
    action: Action
    levels: tuple[int, ...] = ()   # indices into the route's levels (SEND)
    at: float = 0.0                # when to look again (WAIT)


def decide(entry: Escalation, levels: tuple[EscalationLevel, ...], now: float, *,
           acked: bool, muted: bool) -> Decision:
    """The escalation decision for a still-firing alert (pure; ``now`` injected).

    Every level already due is sent at once (a mute that ended late, or a restart,
    must not make the manager wait for the on-call's delay again)."""
    if entry.stopped or entry.level >= len(levels):
        return Decision(Action.DONE)
    if acked:
        return Decision(Action.STOP_ACKED)
    due = tuple(i for i in range(entry.level, len(levels))
                if entry.notified_at + levels[i].after <= now)
    if not due:
        return Decision(Action.WAIT, at=entry.notified_at + levels[entry.level].after)
    if muted:
        return Decision(Action.HOLD)
    return Decision(Action.SEND, levels=due)


class EscalationStore:
    """The ``escalations`` table with an in-memory copy; writes go into the caller's
    transaction (``write``), the copy is updated after the commit (``apply``)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._entries: dict[EscalationKey, Escalation] = {
            (row[0], row[1]): Escalation(*row) for row in db.query(
                "SELECT route_key, fingerprint, starts_at, notified_at, level, stopped "
                "FROM escalations")}

    def get(self, key: EscalationKey) -> Escalation | None:
        with self._lock:
            return self._entries.get(key)

    def all(self) -> list[Escalation]:
        with self._lock:
            return list(self._entries.values())

    def for_alert(self, fingerprint: str) -> list[Escalation]:
        with self._lock:
            return [e for e in self._entries.values() if e.fingerprint == fingerprint]

    @staticmethod
    def write(conn: sqlite3.Connection, entries: Collection[Escalation]) -> None:
        """Persist ``entries`` inside the caller's transaction."""
        conn.executemany("INSERT OR REPLACE INTO escalations VALUES (?, ?, ?, ?, ?, ?)",
                         [(e.route_key, e.fingerprint, e.starts_at, e.notified_at, e.level,
                           e.stopped) for e in entries])

    def apply(self, entries: Collection[Escalation]) -> None:
        with self._lock:
            for e in entries:
                self._entries[e.key] = e

    def save(self, entries: Collection[Escalation]) -> None:
        """Write and apply in a transaction of its own."""
        if entries:
            with self._db.tx() as conn:
                self.write(conn, entries)
            self.apply(entries)

    @staticmethod
    def delete(conn: sqlite3.Connection, entries: Collection[Escalation]) -> None:
        """Delete ``entries`` (their alerts resolved) inside the caller's transaction."""
        conn.executemany("DELETE FROM escalations WHERE route_key = ? AND fingerprint = ?",
                         [e.key for e in entries])

    def discard(self, entries: Collection[Escalation]) -> None:
        """Drop ``entries`` from memory (after ``delete`` committed)."""
        with self._lock:
            for e in entries:
                self._entries.pop(e.key, None)


def status_json(entries: list[Escalation], levels_of: Mapping[str, tuple[EscalationLevel, ...]],
                acked: bool, rfc3339: Callable[[float], str]) -> dict[str, Any] | None:
    """The API's ``escalation`` of one alert (None when no route of it escalates):
    the level reached, the receivers told, when the next level is due, whether stopped."""
    best: dict[str, Any] | None = None
    for e in entries:
        levels = levels_of.get(e.route_key, ())
        if not levels:
            continue
        stopped = e.stopped or ("acked" if acked else "")
        nxt = None if stopped or e.level >= len(levels) else e.notified_at + levels[e.level].after
        item = {"level": e.level, "levels": len(levels),
                "escalatedTo": [lv.receiver for lv in levels[:e.level]],
                "nextLevelAt": rfc3339(nxt) if nxt is not None else None,
                "nextReceiver": levels[e.level].receiver if nxt is not None else None,
                "stopped": stopped or None}
        if best is None or item["level"] > best["level"]:
            best = item
    return best

