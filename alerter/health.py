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

After an outage of the data source or of an exporter target, answering again is not enough:
until Prometheus has scraped the exporter again, it answers from the samples it had before
the outage, whose probe timestamps are by then old (every device would look stale, and a
device that changed meanwhile would show its old state). So ``HealthMonitor`` keeps such a
cause (same identity: MonitoringDegraded stays firing, summary saying what it waits for)
and the rules unqueried (nothing resolves or newly fires) until every affected target has
a sample newer than the last evaluation that saw the outage (``timestamp(<targets>)``).
``hold_until_scraped`` is that decision, pure and table-tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from alerter.config import DataHealth
from alerter.promapi import DATASOURCE_FAILURES, PromAPI, QueryError, Sample
from wardops_common.durations import format_duration

DEGRADED_ALERTNAME = "MonitoringDegraded"
FREEZE_ALL = {"datasource_unreachable", "exporter_missing", "exporter_down", "probes_stale",
              "health_check_failed"}
#: outages after which data is trusted only once the exporter target was scraped again
NEEDS_FRESH_SCRAPE = {"datasource_unreachable", "exporter_missing", "exporter_down"}
#: causes about one exporter target (labels job, instance): with several exporters
#: (``--shard K/N``) only the alerts of the devices that target serves are frozen
PER_TARGET = {"exporter_down", "probes_stale"}


@dataclass(frozen=True)
class Cause:
    """One reason the alerter cannot trust its data; becomes one MonitoringDegraded alert."""

    cause: str
    summary: str
    labels: dict[str, str] = field(default_factory=dict)   # identity beyond `cause`
    #: the outage is over but no scrape newer than it has landed: rules are not queried
    awaiting_scrape: bool = False

    @property
    def target(self) -> tuple[str, str] | None:
        """(job, instance) of the one exporter target this cause is about, if it is."""
        if self.cause in PER_TARGET and "instance" in self.labels:
            return _target(self.labels)
        return None

    @property
    def freezes_all(self) -> bool:
        return self.cause in FREEZE_ALL and self.target is None

    @property
    def skips_queries(self) -> bool:
        """No rule is queried: the answers would be missing or from before an outage."""
        return self.cause == "datasource_unreachable" or (
            self.awaiting_scrape and self.target is None)

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The identity of the MonitoringDegraded alert this cause becomes."""
        return self.cause, tuple(sorted(self.labels.items()))


@dataclass(frozen=True)
class Outage:
    """A cause that needs a fresh scrape once it is over, and when it was last seen."""

    cause: Cause
    last_seen: float


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


def _target(labels: dict[str, str]) -> tuple[str, str]:
    return labels.get("job", ""), labels.get("instance", "")


def hold_until_scraped(outages: dict[tuple, Outage], causes: list[Cause],
                       scraped: dict[tuple[str, str], float] | None, now: float
                       ) -> tuple[list[Cause], dict[tuple, Outage]]:
    """Keep ended outages as causes until their targets were scraped after them (pure).

    ``outages``: the previous cycle's; ``causes``: what this cycle's checks found;
    ``scraped``: newest sample time per (job, instance) of the targets selector, or
    ``None`` if that could not be read (then every ended outage keeps waiting). An ended
    ``exporter_down`` waits for its own target; the other causes wait for every target.
    Returns the causes to act on and the outages to remember.
    """
    current = {c.key: c for c in causes}
    kept: dict[tuple, Outage] = {}
    out = list(causes)
    for cause in causes:
        if cause.cause in NEEDS_FRESH_SCRAPE:
            kept[cause.key] = Outage(cause, now)
    for key, outage in outages.items():
        if key in current:
            continue
        if scraped is not None:
            if outage.cause.cause == "exporter_down":
                target = _target(outage.cause.labels)
                # a target no longer scraped at all (removed) has nothing to wait for
                times = [scraped[target]] if target in scraped else []
            else:
                times = list(scraped.values())
            if not times or min(times) > outage.last_seen:
                continue  # every affected target has a scrape newer than the outage
        seen = datetime.fromtimestamp(outage.last_seen, UTC).strftime("%H:%M:%S UTC")
        out.append(replace(outage.cause, awaiting_scrape=True, summary=(
            f"{outage.cause.summary.split(';')[0]} until {seen}; now answering again, but "
            "waiting for a scrape of the exporter newer than that before trusting the data: "
            "alerts are frozen (nothing resolves or newly fires)")))
        kept[key] = outage
    return out, kept


class HealthMonitor:
    """``check`` across cycles: remembers outages so that their end is trusted only once
    the exporter target was scraped again (see ``hold_until_scraped``)."""

    def __init__(self) -> None:
        self._outages: dict[tuple, Outage] = {}

    def check(self, api: PromAPI, health: DataHealth, now: float) -> list[Cause]:
        """Like ``check``, plus the outages that ended without a fresh scrape yet."""
        causes = check(api, health, now)
        if not health.targets:   # no target to wait for: an outage ends when it ends
            return causes
        scraped: dict[tuple[str, str], float] | None = None
        if any(key not in {c.key for c in causes} for key in self._outages) and not any(
                c.cause == "datasource_unreachable" for c in causes):
            try:
                scraped = {_target(s.labels): s.value
                           for s in api.query(f"timestamp({health.targets})", now)}
            except QueryError as exc:
                causes = causes + [Cause("health_check_failed",
                                         f"Health query timestamp({health.targets}) failed: "
                                         f"{exc}", {"check": "scrape_timestamp"})]
        causes, self._outages = hold_until_scraped(self._outages, causes, scraped, now)
        return causes
