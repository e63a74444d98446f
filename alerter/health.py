"""Is the data trustworthy? The causes behind the alerter's own ``MonitoringDegraded``.

Checked at the start of every evaluation cycle, against the same data source as the rules:

- ``datasource_unreachable``: the health query itself failed to reach or get an answer from
  Prometheus (refused, timeout, 5xx, garbage). No rule is queried in that cycle.
- ``exporter_missing``: the ``data_health.targets`` selector (default
  ``up{job="wardops-exporter"}``) returns no series: Prometheus does not scrape the exporter.
- ``exporter_down``: a target of that selector has ``up == 0`` (one alert per instance).
- ``probes_stale``: an exporter instance's newest ``wardops_device_last_probe_timestamp_seconds``
  is older than ``data_health.stale_after``: it answers scrapes but its probes stopped.
- ``health_check_failed``: a health query was rejected (e.g. a bad selector).
- ``rule_failed``: one rule's query failed (added by the evaluator; freezes that rule only).
- ``state_write_failed``: alert state could not be saved to ``state_dir``.

Every cause except ``rule_failed`` and ``state_write_failed`` freezes all alerts: while the
data is not trusted nothing resolves. The classification is pure and table-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alerter.config import DataHealth
from alerter.promapi import DATASOURCE_FAILURES, PromAPI, QueryError, Sample
from wardops_common.durations import format_duration

DEGRADED_ALERTNAME = "MonitoringDegraded"
FREEZE_ALL = {"datasource_unreachable", "exporter_missing", "exporter_down", "probes_stale",
              "health_check_failed"}


@dataclass(frozen=True)
class Cause:
    """One reason the alerter cannot trust its data; becomes one MonitoringDegraded alert."""

    cause: str
    summary: str
    labels: dict[str, str] = field(default_factory=dict)   # identity beyond `cause`

    @property
    def freezes_all(self) -> bool:
        return self.cause in FREEZE_ALL


def classify_targets(samples: list[Sample], selector: str) -> list[Cause]:
    """Causes from the scrape-health query result (pure)."""
    if not samples:
        return [Cause("exporter_missing",
                      f"No series match {selector}: Prometheus is not scraping the exporter, "
                      "so device data is missing; alerts are frozen (nothing resolves)")]
    causes = []
    for sample in samples:
        if sample.value == 0:
            target = {k: v for k, v in sample.labels.items() if k in ("job", "instance")}
            where = target.get("instance", "?")
            causes.append(Cause(
                "exporter_down",
                f"Exporter {where} (job {target.get('job', '?')}) is down (up == 0): its devices "
                "are not being seen; alerts are frozen (nothing resolves)", target))
    return causes


def classify_freshness(samples: list[Sample], stale_after: float) -> list[Cause]:
    """Causes from ``time() - max by (job, instance) (probe timestamp)`` (pure)."""
    causes = []
    for sample in samples:
        if sample.value > stale_after:
            target = {k: v for k, v in sample.labels.items() if k in ("job", "instance")}
            causes.append(Cause(
                "probes_stale",
                f"Exporter {target.get('instance', '?')} has not finished a probe for "
                f"{format_duration(sample.value)} (limit {format_duration(stale_after)}): its "
                "data is stale; alerts are frozen (nothing resolves)", target))
    return causes


def check(api: PromAPI, health: DataHealth, now: float) -> list[Cause]:
    """Run the health queries at ``now`` and return what is wrong (empty when healthy)."""
    selector = health.targets or "vector(1)"  # with the check off, still prove reachability
    try:
        targets = api.query(selector, now)
    except QueryError as exc:
        if exc.reason in DATASOURCE_FAILURES:
            return [Cause("datasource_unreachable",
                          f"Cannot query {api.source.url} ({exc.reason}: {exc}); alerts are "
                          "frozen (nothing resolves) until it answers again")]
        return [Cause("health_check_failed", f"Health query {selector} failed: {exc}",
                      {"check": "targets"})]
    causes = classify_targets(targets, selector) if health.targets else []
    if health.probe_timestamp:
        expr = f"time() - max by (job, instance) ({health.probe_timestamp})"
        try:
            causes += classify_freshness(api.query(expr, now), health.stale_after)
        except QueryError as exc:
            if exc.reason in DATASOURCE_FAILURES:
                return [Cause("datasource_unreachable",
                              f"Cannot query {api.source.url} ({exc.reason}: {exc}); alerts "
                              "are frozen (nothing resolves) until it answers again")]
            causes.append(Cause("health_check_failed", f"Health query {expr} failed: {exc}",
                                {"check": "probe_timestamp"}))
    return causes
