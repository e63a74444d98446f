"""Inhibition: a firing source alert mutes target alerts that share its ``equal`` labels.

As in Alertmanager, an alert that matches both the source and the target side of a rule
does not inhibit itself; another source alert is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from alerter.model import Alert
from alerter.notify.config import InhibitRule
from alerter.notify.matchers import matches_all


class Inhibitor:
    """Holds the firing source alerts of each rule, indexed by their ``equal`` values."""

    def __init__(self, rules: Iterable[InhibitRule]) -> None:
        self._rules = tuple(rules)
        self._lock = threading.Lock()
        # per rule: equal-label values -> fingerprints of firing source alerts
        self._sources: list[dict[tuple[str, ...], set[str]]] = [{} for _ in self._rules]

    def update(self, firing: Iterable[Alert]) -> None:
        """Replace the set of firing alerts the rules look at."""
        sources: list[dict[tuple[str, ...], set[str]]] = [{} for _ in self._rules]
        for alert in firing:
            for index, rule in enumerate(self._rules):
                if matches_all(rule.source_matchers, alert.labels):
                    key = tuple(alert.labels.get(name, "") for name in rule.equal)
                    sources[index].setdefault(key, set()).add(alert.fingerprint)
        with self._lock:
            self._sources = sources

    def inhibited_by(self, alert: Alert) -> list[str]:
        """Fingerprints of the firing source alerts that mute ``alert`` (empty: not muted)."""
        with self._lock:
            sources = self._sources
        found: set[str] = set()
        for index, rule in enumerate(self._rules):
            if not matches_all(rule.target_matchers, alert.labels):
                continue
            key = tuple(alert.labels.get(name, "") for name in rule.equal)
            found |= sources[index].get(key, set()) - {alert.fingerprint}
        return sorted(found)
