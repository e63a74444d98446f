"""Acknowledgements: an acked alert is not notified again until it resolves or re-fires.

An ack names the alert's fingerprint and the ``starts_at`` of the firing it acknowledges:
when that alert resolves the ack is dropped (the resolved notification still goes
out), and if the same label set fires again later (a new ``starts_at``) it is a new
alert and notifies as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from alerter.model import Alert
from alerter.notify.db import Database


@dataclass(frozen=True)
class Ack:
    fingerprint: str
    starts_at: float
    acked_by: str
    comment: str
    acked_at: float


class AckStore:
    """Durable acks with an in-memory cache; ``acked_by`` is the mute check."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._cache = {row[0]: Ack(*row) for row in db.query(
            "SELECT fingerprint, starts_at, acked_by, comment, acked_at FROM acks")}

    def ack(self, alert: Alert, acked_by: str, comment: str) -> Ack:
        """Acknowledge the current firing of ``alert``."""
        entry = Ack(alert.fingerprint, alert.starts_at, acked_by, comment, self._clock())
        with self._lock, self._db.tx() as conn:
            conn.execute("INSERT OR REPLACE INTO acks VALUES (?, ?, ?, ?, ?)",
                         (entry.fingerprint, entry.starts_at, entry.acked_by, entry.comment,
                          entry.acked_at))
            self._cache[entry.fingerprint] = entry
        return entry

    def get(self, alert: Alert) -> Ack | None:
        """The ack that covers this firing of ``alert``, if any."""
        with self._lock:
            entry = self._cache.get(alert.fingerprint)
        if entry is None or entry.starts_at != alert.starts_at or alert.resolved:
            return None
        return entry

    def acked_by(self, alert: Alert) -> list[str]:
        """``[who]`` when ``alert`` is acked (the mute check), else ``[]``."""
        entry = self.get(alert)
        return [entry.acked_by] if entry else []

    def forget(self, fingerprints: list[str]) -> None:
        """Drop acks of alerts that resolved or fired anew (no-op for unknown ones)."""
        with self._lock:
            gone = [fp for fp in fingerprints if fp in self._cache]
            if not gone:
                return
            with self._db.tx() as conn:
                conn.executemany("DELETE FROM acks WHERE fingerprint = ?", [(fp,) for fp in gone])
            for fp in gone:
                del self._cache[fp]

    def list(self) -> list[Ack]:
        with self._lock:
            return list(self._cache.values())
