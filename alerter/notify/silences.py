"""Silences: mute alerts whose labels match, between ``startsAt`` and ``endsAt``.

Kept in SQLite (``Database``) and cached in memory, so the mute check is cheap. The store
speaks in plain values (matchers, Unix times), not in any API's JSON, so both the
wardops API and a later Alertmanager-API-v2 layer (amtool, Grafana) can serve it.
"""

from __future__ import annotations

import builtins
import json
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alerter.model import Alert
from alerter.notify.db import Database
from alerter.notify.matchers import Matcher, matches_all

RETENTION = 5 * 86400.0  # expired silences stay visible this long, like Alertmanager


@dataclass(frozen=True)
class Silence:
    """One silence; ``state`` is pending, active or expired at a given time."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> str:
        if now >= self.ends_at:
            return "expired"
        if now < self.starts_at:
            return "pending"
        return "active"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.state(now) == "active" and matches_all(self.matchers, labels)


class SilenceNotFound(KeyError):
    """No silence with that id."""


def validate(matchers: tuple[Matcher, ...], starts_at: float, ends_at: float,
             created_by: str, comment: str) -> None:
    """Raise ``ValueError`` for a silence Alertmanager would also refuse."""
    if not matchers:
        raise ValueError("matchers: at least one matcher is required")
    if all(m.matches({}) for m in matchers):
        raise ValueError("matchers: at least one matcher must not match the empty string "
                         "(a silence must not mute every alert)")
    if ends_at <= starts_at:
        raise ValueError("endsAt: must be after startsAt")
    if not created_by.strip():
        raise ValueError("createdBy: required")
    if not comment.strip():
        raise ValueError("comment: required")


class SilenceStore:
    """Create, update, expire and query silences; ``silenced_by`` is the mute check."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, Silence] = {}
        for row in db.query("SELECT id, matchers, starts_at, ends_at, created_by, comment, "
                            "updated_at FROM silences"):
            silence = _from_row(row)
            self._cache[silence.id] = silence

    def create(self, matchers: tuple[Matcher, ...], starts_at: float, ends_at: float,
               created_by: str, comment: str, silence_id: str | None = None) -> Silence:
        """Store a new silence, or update ``silence_id`` if it exists and has not expired.

        Returns the stored silence. Raises ``ValueError`` on bad values and
        ``SilenceNotFound`` for an unknown ``silence_id``.
        """
        now = self._clock()
        validate(matchers, starts_at, ends_at, created_by, comment)
        with self._lock:
            if silence_id is not None:
                old = self._cache.get(silence_id)
                if old is None:
                    raise SilenceNotFound(silence_id)
                if old.state(now) == "expired":
                    raise ValueError(f"silence {silence_id} has expired and cannot be changed")
            silence = Silence(id=silence_id or str(uuid.uuid4()), matchers=tuple(matchers),
                              starts_at=starts_at, ends_at=ends_at, created_by=created_by,
                              comment=comment, updated_at=now)
            self._save(silence)
            return silence

    def expire(self, silence_id: str) -> Silence:
        """End a silence now (a pending one ends before it began). Idempotent for expired ones."""
        now = self._clock()
        with self._lock:
            old = self._cache.get(silence_id)
            if old is None:
                raise SilenceNotFound(silence_id)
            if old.state(now) == "expired":
                return old
            start = min(old.starts_at, now)
            silence = replace(old, starts_at=start, ends_at=now, updated_at=now)
            self._save(silence)
            return silence

    def get(self, silence_id: str) -> Silence:
        with self._lock:
            try:
                return self._cache[silence_id]
            except KeyError:
                raise SilenceNotFound(silence_id) from None

    def list(self) -> builtins.list[Silence]:
        """All silences not yet garbage-collected, newest first."""
        self.gc()
        with self._lock:
            return sorted(self._cache.values(), key=lambda s: s.updated_at, reverse=True)

    def silenced_by(self, alert: Alert) -> builtins.list[str]:
        """Ids of the active silences that mute ``alert``."""
        now = self._clock()
        with self._lock:
            return [s.id for s in self._cache.values() if s.mutes(alert.labels, now)]

    def gc(self) -> int:
        """Forget silences expired longer than ``RETENTION`` ago."""
        cutoff = self._clock() - RETENTION
        with self._lock:
            old = [s.id for s in self._cache.values() if s.ends_at < cutoff]
            if old:
                with self._db.tx() as conn:
                    conn.executemany("DELETE FROM silences WHERE id = ?", [(i,) for i in old])
                for silence_id in old:
                    del self._cache[silence_id]
            return len(old)

    def _save(self, s: Silence) -> None:
        matchers = json.dumps([[m.name, m.op, m.value] for m in s.matchers])
        with self._db.tx() as conn:
            conn.execute("INSERT OR REPLACE INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (s.id, matchers, s.starts_at, s.ends_at, s.created_by, s.comment,
                          s.updated_at))
        self._cache[s.id] = s


def _from_row(row: Sequence[Any]) -> Silence:
    sid, matchers, starts_at, ends_at, created_by, comment, updated_at = row
    return Silence(id=sid, matchers=tuple(Matcher(*m) for m in json.loads(matchers)),
                   starts_at=starts_at, ends_at=ends_at, created_by=created_by,
                   comment=comment, updated_at=updated_at)
