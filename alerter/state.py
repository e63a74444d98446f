"""Durable alert state in ``state_dir/alerts.sqlite`` (standard-library sqlite3).

Two tables:

- ``alerts``: every pending and firing alert (rule, fingerprint, labels, annotations,
  ``active_at`` for the ``for`` progress, ``fired_at`` = startsAt, ``keep_firing_since`` for
  keep_firing_for). After a restart, even ``kill -9``, evaluation resumes from here: a
  firing alert keeps its startsAt and fingerprint (not new), a pending one keeps its
  ``for`` progress, and one whose condition cleared while the alerter was down is
  resolved in the first cycle.
- ``meta``: ``last_evaluation``, the time of the last saved cycle (how long the alerter
  was down, for ``for_outage_tolerance``).
- ``outbox``: resolved alerts not yet handed to the notification pipeline. A resolve is
  written here in the same transaction that removes the alert, and deleted only after
  ``pipeline.process`` returned, so a crash in between re-sends it (at-least-once)
  instead of losing it.

Each evaluation cycle is one transaction (WAL, ``synchronous=FULL``). Errors propagate
as ``sqlite3.Error``/``OSError``: the caller counts them and raises MonitoringDegraded.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from alerter.evaluation import AlertState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    rule_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL, annotations TEXT NOT NULL, state TEXT NOT NULL,
    active_at REAL NOT NULL, fired_at REAL, keep_firing_since REAL, value REAL NOT NULL,
    added TEXT, PRIMARY KEY (rule_key, fingerprint));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rule_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL, annotations TEXT NOT NULL, active_at REAL NOT NULL,
    fired_at REAL, keep_firing_since REAL, value REAL NOT NULL, resolved_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_LAST_EVALUATION = "last_evaluation"


def _row(a: AlertState) -> tuple[object, ...]:
    return (a.rule_key, a.fingerprint, json.dumps(a.labels, sort_keys=True),
            json.dumps(a.annotations, sort_keys=True), a.active_at, a.fired_at, a.keep_firing_since,
            a.value)


def _added(text: str | None) -> frozenset[str] | None:
    """The stored names of added external labels; None when unknown or unreadable (the
    listing then falls back to the label values)."""
    try:
        names = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return frozenset(names)
    return None


class StateStore:
    """The alerter's alert state on disk; one writer (the evaluation loop)."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "alerts.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(alerts)")}
        if "added" not in columns:  # a state_dir of an older version: NULL = not known
            self._db.execute("ALTER TABLE alerts ADD COLUMN added TEXT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def load(self) -> tuple[dict[str, dict[str, AlertState]], list[tuple[int, AlertState]]]:
        """Active alerts by rule key and fingerprint, and the outbox (id, resolved alert)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rule_key, fingerprint, labels, annotations, state, active_at, fired_at,"
                " keep_firing_since, value, added FROM alerts").fetchall()
            out_rows = self._db.execute(
                "SELECT id, rule_key, fingerprint, labels, annotations, active_at, fired_at,"
                " keep_firing_since, value, resolved_at FROM outbox ORDER BY id").fetchall()
        active: dict[str, dict[str, AlertState]] = {}
        for key, fp, labels, notes, state, active_at, fired_at, keep_firing_since, value, \
                added in rows:
            active.setdefault(key, {})[fp] = AlertState(
                rule_key=key, fingerprint=fp, labels=json.loads(labels),
                annotations=json.loads(notes), state=state, active_at=active_at,
                fired_at=fired_at, keep_firing_since=keep_firing_since, value=value,
                added=_added(added))
        outbox = [(row[0], AlertState(
            rule_key=row[1], fingerprint=row[2], labels=json.loads(row[3]),
            annotations=json.loads(row[4]), state="resolved", active_at=row[5],
            fired_at=row[6], keep_firing_since=row[7], value=row[8], resolved_at=row[9]))
            for row in out_rows]
        return active, outbox

    def last_evaluation(self) -> float | None:
        """When the last saved cycle was evaluated (None: never, or an older state)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?",
                                   (_LAST_EVALUATION,)).fetchone()
        return float(row[0]) if row else None

    def save_cycle(self, upserts: Iterable[AlertState], deletes: Iterable[tuple[str, str]],
                   resolved: Iterable[AlertState], evaluated_at: float | None = None) -> list[int]:
        """Write one cycle's changes atomically; return the outbox ids of ``resolved``.

        ``evaluated_at`` (the cycle's time) is kept: after a restart it tells how long the
        alerter was down (``for_outage_tolerance``).
        """
        return self._write(list(upserts), list(deletes), list(resolved), replace_all=False,
                           evaluated_at=evaluated_at)

    def save_snapshot(self, active: Iterable[AlertState], resolved: Iterable[AlertState],
                      evaluated_at: float | None = None) -> list[int]:
        """Replace all active alerts by ``active`` (after a failed save lost changes)."""
        return self._write(list(active), [], list(resolved), replace_all=True,
                           evaluated_at=evaluated_at)

    def _write(self, upserts: list[AlertState], deletes: list[tuple[str, str]],
               resolved: list[AlertState], replace_all: bool,
               evaluated_at: float | None) -> list[int]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if evaluated_at is not None:
                    cur.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                                " DO UPDATE SET value=excluded.value",
                                (_LAST_EVALUATION, repr(float(evaluated_at))))
                if replace_all:
                    cur.execute("DELETE FROM alerts")
                cur.executemany(
                    "INSERT INTO alerts (rule_key, fingerprint, labels, annotations, active_at,"
                    " fired_at, keep_firing_since, value, state, added)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (rule_key, fingerprint) DO UPDATE SET labels=excluded.labels,"
                    " annotations=excluded.annotations, active_at=excluded.active_at,"
                    " fired_at=excluded.fired_at, keep_firing_since=excluded.keep_firing_since,"
                    " value=excluded.value, state=excluded.state, added=excluded.added",
                    [(*_row(a), a.state, None if a.added is None else json.dumps(sorted(a.added)))
                     for a in upserts])
                cur.executemany("DELETE FROM alerts WHERE rule_key=? AND fingerprint=?", deletes)
                ids = []
                for alert in resolved:
                    cur.execute("DELETE FROM alerts WHERE rule_key=? AND fingerprint=?",
                                (alert.rule_key, alert.fingerprint))
                    cur.execute(
                        "INSERT INTO outbox (rule_key, fingerprint, labels, annotations,"
                        " active_at, fired_at, keep_firing_since, value, resolved_at)"
                        " VALUES (?,?,?,?,?,?,?,?,?)", (*_row(alert), alert.resolved_at))
                    ids.append(int(cur.lastrowid or 0))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return ids

    def handed_over(self, outbox_ids: Iterable[int]) -> None:
        """Forget resolved alerts the pipeline has taken."""
        ids = [(i,) for i in outbox_ids]
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM outbox WHERE id=?", ids)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
