"""May a firing alert whose condition no longer returns it resolve? (``evaluation.step``'s
``may_resolve``.)

A rule's query returning nothing is not, by itself, evidence that an outage is over:

- **Unknown is not up.** A device whose probes cannot run (route withdrawn, exporter
  restarted without its state file) has no ``wardops_device_up`` at all; once the rule's
  ``last_over_time`` window has passed, DeviceDown no longer returns it. For the alerts
  listed in ``resolve_evidence`` (DeviceDown and SiteDown by default) a vanished alert
  resolves only when ``resolved_by`` returns a series with its ``on`` labels (the device
  was seen up) or ``inventory`` has stopped returning one (it left the inventory) —
  however long the unknown lasts, and across alerter restarts (the alert is stored firing).
- **Lost history is not recovery.** After Prometheus restarts with an empty TSDB (or a new
  store, or a shard moved), ``increase(...[5m])`` and ``last_over_time(...[10m])`` see
  only the minutes since. Any other rule's vanished alert resolves only when every
  exporter target (``data_health.targets``) present now was present ``lookback`` ago,
  where ``lookback`` is how far back the rule's expression reads
  (``rules.expr_lookback``). Until then the alert is held and ``MonitoringDegraded``
  (cause ``history_lost``) says which rules wait.

Each question costs at most one query per cycle (cached), and only when a firing alert
has vanished. A failing query holds: when in doubt, nothing resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from alerter.alignment import is_series_selector
from alerter.config import AlerterConfig, ResolveEvidence
from alerter.evaluation import AlertState
from alerter.promapi import QueryError, Sample
from alerter.rules import Rule
from wardops_common.durations import format_duration

Keys = frozenset[tuple[str, ...]]


@dataclass
class ResolveGate:
    """Answers ``may_resolve`` for one evaluation cycle at ``now``."""

    query: Callable[[str, float], list[Sample]]
    config: AlerterConfig
    now: float
    #: rule name → lookback of the rules whose resolves waited for history this cycle
    waiting_for_history: dict[str, float] = field(default_factory=dict)
    #: alerts held for want of evidence this cycle (unknown, not proven up)
    held_without_evidence: int = 0
    #: alerts held because the history does not reach back their rule's lookback
    held_for_history: int = 0
    _keys: dict[tuple[str, tuple[str, ...]], Keys | None] = field(default_factory=dict)
    _covered: dict[float, bool] = field(default_factory=dict)

    def for_rule(self, rule: Rule, current: Iterable[Mapping[str, str]] = ()
                 ) -> Callable[[AlertState], bool]:
        """The ``may_resolve`` of ``rule``'s alerts; ``current`` are the label sets the rule
        returns now (an alert whose ``on`` labels are among them was superseded by one
        with other labels — a relabelled rule, a device moved to another site — and
        resolves: the outage itself is still reported)."""
        spec = next((e for e in self.config.resolve_evidence if e.alertname == rule.name), None)
        if spec is not None:
            on = spec.on
            superseded = frozenset(tuple(labels.get(n, "") for n in on) for labels in current)
            return lambda alert: self._evidence(spec, alert, superseded)
        return lambda alert: self._history(rule)

    def _evidence(self, spec: ResolveEvidence, alert: AlertState, superseded: Keys) -> bool:
        key = tuple(alert.labels.get(name, "") for name in spec.on)
        if key in superseded:
            return True
        seen_up = self._series_keys(spec.resolved_by, spec.on)
        if seen_up is not None and key in seen_up:
            return True
        inventory = self._series_keys(spec.inventory, spec.on)
        # An empty inventory is missing data (exporter not scraped), not an empty fleet.
        if inventory and key not in inventory:
            return True
        self.held_without_evidence += 1
        return False

    def _history(self, rule: Rule) -> bool:
        if rule.lookback <= 0 or not self.config.data_health.targets:
            return True
        if rule.lookback not in self._covered:
            self._covered[rule.lookback] = self._history_covers(rule.lookback)
        if not self._covered[rule.lookback]:
            self.waiting_for_history[rule.name] = rule.lookback
            self.held_for_history += 1
        return self._covered[rule.lookback]

    def _history_covers(self, seconds: float) -> bool:
        """Was every exporter target that is scraped now also scraped ``seconds`` ago?"""
        targets = self.config.data_health.targets
        ago = f"{int(seconds + 0.999)}s"
        older = (f"{targets} offset {ago}" if is_series_selector(targets)
                 else f"last_over_time(({targets})[1m:] offset {ago})")
        try:
            return not self.query(f"({targets}) unless on (job, instance) ({older})", self.now)
        except QueryError:
            return False

    def _series_keys(self, expr: str, on: tuple[str, ...]) -> Keys | None:
        cache_key = (expr, on)
        if cache_key not in self._keys:
            try:
                samples = self.query(expr, self.now)
                self._keys[cache_key] = frozenset(
                    tuple(s.labels.get(name, "") for name in on) for s in samples)
            except QueryError:
                self._keys[cache_key] = None
        return self._keys[cache_key]

    def history_summary(self) -> str:
        """MonitoringDegraded's summary while resolves wait for history ("" if none do)."""
        if not self.waiting_for_history:
            return ""
        longest = max(self.waiting_for_history.values())
        rules = ", ".join(sorted(self.waiting_for_history))
        return (f"The data source's history does not reach back {format_duration(longest)} "
                f"(lost, or too young): alerts of {rules} are held firing until it does, "
                "since their queries cannot yet tell an outage that ended from one that "
                "is no longer visible")
