"""The notification log: what was last sent per (receiver, integration, group), durable.

Dedup reads it from memory; writes go into the same transaction as the queued
notification they describe, so after kill -9 either both exist or neither.
"""

from __future__ import annotations

import json
import sqlite3
import threading

from alerter.notify.db import Database
from alerter.notify.dedup import LogEntry

LogKey = tuple[str, int, str]  # receiver, integration index, group key
RETENTION = 5 * 86400.0  # like Alertmanager's --data.retention: older entries are dropped


class NotificationLog:
    """In-memory view of the ``nflog`` table."""

    def __init__(self, db: Database, now: float) -> None:
        with db.tx() as conn:
            conn.execute("DELETE FROM nflog WHERE ts < ?", (now - RETENTION,))
        self._lock = threading.Lock()
        self._entries: dict[LogKey, LogEntry] = {
            (r, i, g): LogEntry(frozenset(json.loads(f)), frozenset(json.loads(res)), ts)
            for r, i, g, f, res, ts in db.query(
                "SELECT receiver, integration, group_key, firing, resolved, ts FROM nflog")}

    def get(self, key: LogKey) -> LogEntry | None:
        with self._lock:
            return self._entries.get(key)

    def write(self, conn: sqlite3.Connection, updates: dict[LogKey, LogEntry]) -> None:
        """Persist ``updates`` inside the caller's transaction (call ``apply`` after commit)."""
        conn.executemany(
            "INSERT OR REPLACE INTO nflog VALUES (?, ?, ?, ?, ?, ?)",
            [(r, i, g, json.dumps(sorted(e.firing)), json.dumps(sorted(e.resolved)), e.timestamp)
             for (r, i, g), e in updates.items()])
        # Entries with nothing firing and nothing resolved left carry no information.
        conn.executemany("DELETE FROM nflog WHERE receiver = ? AND integration = ? AND "
                         "group_key = ? AND firing = '[]' AND resolved = '[]'",
                         [k for k, e in updates.items() if not e.firing and not e.resolved])

    def apply(self, updates: dict[LogKey, LogEntry]) -> None:
        with self._lock:
            self._entries.update(updates)
