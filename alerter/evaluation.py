"""Alert state decisions: pure functions, no I/O, time passed in.

One rule's alerts move through inactive → pending (while ``for`` runs) → firing →
resolved, the way Prometheus's rule manager does it, with one addition that is the point
of wardops: **missing data never resolves**. ``step`` receives what the query returned
(``None`` when the query failed) and whether the data source as a whole is trusted
(``frozen``); without trustworthy data nothing is resolved, dropped or promoted.

Each alert's fate in a cycle is a ``Transition`` so tests can read a case table.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace


class Transition(enum.Enum):
    """What happened to one alert in one evaluation."""

    NEW_PENDING = "new_pending"        # condition true for the first time, `for` > 0
    NEW_FIRING = "new_firing"          # condition true for the first time, `for` == 0
    STILL_PENDING = "still_pending"    # condition true, `for` not yet elapsed
    FIRED = "fired"                    # pending → firing: `for` elapsed
    STILL_FIRING = "still_firing"      # condition true, already firing
    KEPT_FIRING = "kept_firing"        # condition false, keep_firing_for not yet over
    RESOLVED = "resolved"              # condition false (with trusted data) → resolved
    PENDING_CLEARED = "pending_cleared"  # condition false before `for` elapsed: forgotten
    FROZEN = "frozen"                  # no trustworthy data: state kept as it was
    HELD = "held"                      # condition gone, but nothing proves it is over


@dataclass
class AlertState:
    """One alert of one rule, as evaluation keeps it between cycles."""

    rule_key: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str                 # "pending" | "firing" | "resolved"
    active_at: float           # first evaluation where the condition held
    fired_at: float | None     # when it started firing (the notification's startsAt)
    keep_firing_since: float | None  # first evaluation without the condition, while kept
    value: float
    resolved_at: float | None = None
    #: names of ``external_labels`` the alerter added to ``labels`` (listed without them,
    #: as Prometheus lists alerts); None: not known (state saved by an older version)
    added: frozenset[str] | None = None


@dataclass(frozen=True)
class Candidate:
    """One result of a rule's query, with labels and annotations already expanded."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    #: names of ``external_labels`` the alerter added (the query result had no such label)
    added: frozenset[str] = frozenset()


@dataclass
class StepResult:
    """The rule's alerts after one evaluation."""

    active: dict[str, AlertState]                 # pending and firing, by fingerprint
    resolved: list[AlertState] = field(default_factory=list)
    transitions: dict[str, Transition] = field(default_factory=dict)
    #: active alerts whose durable fields changed (state, times): what must be saved
    dirty: list[str] = field(default_factory=list)
    #: pending alerts forgotten this cycle: to delete from the store
    cleared: list[str] = field(default_factory=list)


def step(previous: Mapping[str, AlertState], candidates: Mapping[str, Candidate] | None, *,
         rule_key: str, hold: float, keep_firing_for: float, now: float,
         frozen: bool = False,
         may_resolve: Callable[[AlertState], bool] | None = None,
         freeze: Callable[[AlertState], bool] | None = None) -> StepResult:
    """Decide every alert of one rule for the evaluation at ``now``.

    ``candidates`` is the query result by fingerprint, or ``None`` if the query failed:
    then every alert keeps its state exactly (FROZEN). With ``frozen`` (the data source
    is not trusted: unreachable, exporter down, probes stale) alerts present in the
    result are updated and may fire, but absent ones are neither resolved nor dropped,
    and keep_firing_for does not run out. keep_firing_for counts from the first
    evaluation without the condition, as in Prometheus.

    ``may_resolve`` is asked about each firing alert that would resolve: absence of a
    result is not evidence that an outage is over when the series are unknown, or when
    the data source lost the history the expression reads. Where it says no, the alert
    stays firing (HELD) and is asked again next cycle. ``freeze`` is ``frozen`` for
    single alerts (those of one exporter target whose data is not trusted).
    """
    result = StepResult(active={})
    if candidates is None:
        for fp, alert in previous.items():
            result.active[fp] = alert
            result.transitions[fp] = Transition.FROZEN
        return result

    for fp, cand in candidates.items():
        old = previous.get(fp)
        if old is None:
            firing = hold <= 0
            alert = AlertState(rule_key=rule_key, fingerprint=fp, labels=cand.labels,
                               annotations=cand.annotations,
                               state="firing" if firing else "pending", active_at=now,
                               fired_at=now if firing else None, keep_firing_since=None,
                               value=cand.value, added=cand.added)
            result.transitions[fp] = Transition.NEW_FIRING if firing else Transition.NEW_PENDING
            result.dirty.append(fp)
        else:
            alert = replace(old, labels=cand.labels, annotations=cand.annotations,
                            value=cand.value, keep_firing_since=None, added=cand.added)
            if old.state == "firing":
                result.transitions[fp] = Transition.STILL_FIRING
                if old.keep_firing_since is not None:
                    result.dirty.append(fp)
            elif now - old.active_at >= hold:
                alert.state, alert.fired_at = "firing", now
                result.transitions[fp] = Transition.FIRED
                result.dirty.append(fp)
            else:
                result.transitions[fp] = Transition.STILL_PENDING
        result.active[fp] = alert

    for fp, old in previous.items():
        if fp in candidates:
            continue
        if frozen or (freeze is not None and freeze(old)):
            result.active[fp] = old
            result.transitions[fp] = Transition.FROZEN
        elif old.state == "pending":
            result.transitions[fp] = Transition.PENDING_CLEARED
            result.cleared.append(fp)
        elif keep_firing_for > 0 and now - (old.keep_firing_since or now) < keep_firing_for:
            result.active[fp] = old if old.keep_firing_since else replace(
                old, keep_firing_since=now)
            result.transitions[fp] = Transition.KEPT_FIRING
            if old.keep_firing_since is None:
                result.dirty.append(fp)
        elif may_resolve is not None and not may_resolve(old):
            result.active[fp] = old
            result.transitions[fp] = Transition.HELD
        else:
            result.resolved.append(replace(old, state="resolved", resolved_at=now))
            result.transitions[fp] = Transition.RESOLVED
    return result


def orphaned(previous: Mapping[str, AlertState], now: float) -> list[AlertState]:
    """Firing alerts of a rule that no longer exists: resolved, so no resolve is lost.

    Pending ones were never announced and are simply forgotten.
    """
    return [replace(a, state="resolved", resolved_at=now)
            for a in previous.values() if a.state == "firing"]


def restore_after_downtime(alert: AlertState, last_evaluation: float | None, now: float,
                           outage_tolerance: float) -> AlertState:
    """A stored alert at start-up: a pending one restarts its ``for`` (``active_at = now``)
    when the alerter was down longer than ``outage_tolerance``.

    Like Prometheus's ``--rules.alert.for-outage-tolerance``: after a long outage the
    condition's history is unknown, so ``for`` is not credited with it. Within the
    tolerance the progress is kept (the downtime counts, unlike Prometheus, which also
    has a grace period). Firing alerts are never changed (they are not announced again),
    and with no recorded last evaluation (a state from an older version) nothing changes.
    """
    if alert.state != "pending" or last_evaluation is None:
        return alert
    if now - last_evaluation > outage_tolerance:
        return replace(alert, active_at=now)
    return alert

