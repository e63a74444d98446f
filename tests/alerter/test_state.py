"""``alerter/state.py``: which external labels the alerter added survives a restart, and a
state directory of an older version (no such column) still opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alerter.evaluation import AlertState
from alerter.state import StateStore


def _alert(added: frozenset[str] | None) -> AlertState:
    return AlertState(rule_key="r", fingerprint="f", labels={"alertname": "A",
                      "monitor": "wardops", "site": "Gori"}, annotations={}, state="firing",
                      active_at=1.0, fired_at=2.0, keep_firing_since=None, value=1.0,
                      added=added)


def test_added_external_labels_survive_a_restart(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_cycle([_alert(frozenset({"monitor"}))], [], [], evaluated_at=3.0)
    store.close()
    active, _ = StateStore(tmp_path).load()
    assert active["r"]["f"].added == frozenset({"monitor"})


def test_state_of_an_older_version_opens_with_added_unknown(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "alerts.sqlite") as db:
        db.execute("CREATE TABLE alerts (rule_key TEXT NOT NULL, fingerprint TEXT NOT NULL,"
                   " labels TEXT NOT NULL, annotations TEXT NOT NULL, state TEXT NOT NULL,"
                   " active_at REAL NOT NULL, fired_at REAL, keep_firing_since REAL,"
                   " value REAL NOT NULL, PRIMARY KEY (rule_key, fingerprint))")
        db.execute("INSERT INTO alerts VALUES ('r', 'f', '{\"alertname\": \"A\"}', '{}',"
                   " 'firing', 1.0, 2.0, NULL, 1.0)")
    store = StateStore(tmp_path)
    active, _ = store.load()
    assert active["r"]["f"].added is None  # the listing falls back to the label values
    store.save_cycle([_alert(frozenset())], [], [], evaluated_at=3.0)
    assert StateStore(tmp_path).load()[0]["r"]["f"].added == frozenset()
