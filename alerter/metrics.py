"""The evaluation side's series on the alerter's /metrics (notify adds its own).

``wardops_alerts{alertname, alertstate, <alert labels>}`` mirrors Prometheus's ``ALERTS``:
one series per pending or firing alert, value 1, built fresh at each scrape by a custom
collector from the evaluator's last snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerter import __version__
from alerter.alignment import FALLBACK_REASONS
from alerter.model import Alert

QUERY_FAILURES = ("unreachable", "timeout", "server_error", "bad_query", "bad_response")
FAILURE_REASONS = (*QUERY_FAILURES, "duplicate_labelset", "limit_exceeded",
                   "skipped_datasource_down")


class AlertsCollector(Collector):
    """``wardops_alerts`` from a callable returning the active alerts."""

    def __init__(self, alerts: Callable[[], list[Alert]]) -> None:
        self._alerts = alerts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("wardops_alerts",
                                   "Active alerts (pending or firing), like Prometheus's ALERTS.")
        for alert in self._alerts():
            labels = {k: v for k, v in alert.labels.items() if k != "alertstate"}
            labels["alertstate"] = alert.state
            family.add_sample("wardops_alerts", labels, 1.0)
        yield family


class GroupEvaluation(NamedTuple):
    """One group's last evaluation, published as one value so a scrape never pairs an
    evaluation time with the scrape timestamp of another evaluation."""

    at: float = 0.0
    scrape: float = 0.0
    duration: float = 0.0


class GroupEvaluationsCollector(Collector):
    """Per-group last evaluation time, the scrape it followed and its duration, from one
    snapshot (three separate gauges could be read half-updated by a concurrent scrape)."""

    def __init__(self) -> None:
        self.groups: dict[str, GroupEvaluation] = {}

    def collect(self) -> Iterator[Metric]:
        groups = dict(self.groups)  # the dict's values are replaced whole, never mutated
        families = (
            ("wardops_alerter_rule_group_last_evaluation_timestamp_seconds",
             "When the group was last evaluated.", "at"),
            ("wardops_alerter_rule_group_last_evaluation_scrape_timestamp_seconds",
             "Start of the exporter scrape the group's last evaluation followed "
             "(0: it ran on the plain cadence).", "scrape"),
            ("wardops_alerter_rule_group_last_duration_seconds",
             "Wall time of the group's last evaluation.", "duration"),
        )
        for name, help_text, field in families:
            family = GaugeMetricFamily(name, help_text, labels=["group"])
            for group, last in groups.items():
                family.add_metric([group], getattr(last, field))
            yield family


class EvalMetrics:
    """Counters and gauges the evaluation loop updates."""

    def __init__(self, registry: CollectorRegistry, alerts: Callable[[], list[Alert]]) -> None:
        self.evaluations = Counter(
            "wardops_alerter_rule_group_evaluations", "Rule group evaluations.",
            ["group"], registry=registry)
        self.rule_failures = Counter(
            "wardops_alerter_rule_evaluation_failures",
            "Rule queries that gave no usable result (their alerts stay frozen), by reason.",
            ["group", "reason"], registry=registry)
        self.cycle_duration = Histogram(
            "wardops_alerter_evaluation_duration_seconds",
            "Wall time of one evaluation cycle (health checks, queries, state, hand-over).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=registry)
        self.group_evaluations = GroupEvaluationsCollector()
        registry.register(self.group_evaluations)
        self.template_errors = Counter(
            "wardops_alerter_template_errors",
            "Label or annotation templates that failed to expand (an error marker was sent).",
            ["alertname"], registry=registry)
        self.state_errors = Counter(
            "wardops_alerter_state_errors", "Failures reading or writing state_dir, by operation.",
            ["op"], registry=registry)
        self.handover_errors = Counter(
            "wardops_alerter_pipeline_handover_errors",
            "Evaluation cycles whose alerts the notification pipeline refused (retried).",
            registry=registry)
        self.held_alerts = Gauge(
            "wardops_alerter_alerts_held",
            "Firing alerts whose condition is gone but that are held, not resolved, in the "
            "last cycle: no_evidence (nothing says the device is up: unknown) or "
            "history_lost (the data source's history is shorter than the rule reads).",
            ["reason"], registry=registry)
        for reason in ("no_evidence", "history_lost"):
            self.held_alerts.labels(reason)
        self.data_healthy = Gauge(
            "wardops_alerter_data_healthy",
            "1 when the data source and exporters are trusted; 0 while alerts are frozen.",
            registry=registry)
        self.last_evaluation = Gauge(
            "wardops_alerter_last_evaluation_timestamp_seconds",
            "When the last evaluation cycle finished.", registry=registry)
        self.reload_ok = Gauge(
            "wardops_alerter_config_last_reload_successful",
            "1 if the last config (re)load worked.", registry=registry)
        self.web_reload_ok = Gauge(
            "wardops_alerter_web_config_last_reload_successful",
            "1 if the last (re)load of --web.config.file and the certificates it names "
            "succeeded (0: the running one is kept).", registry=registry)
        self.web_reload_ok.set(1)
        self.reload_time = Gauge(
            "wardops_alerter_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully.", registry=registry)
        self.aligned = Gauge(
            "wardops_alerter_evaluation_aligned",
            "1 when the next evaluation follows an exporter scrape (evaluation_alignment), "
            "0 when it runs on the plain cadence.", registry=registry)
        self.unaligned = Counter(
            "wardops_alerter_evaluations_unaligned",
            "Evaluations scheduled on the plain cadence although alignment is on, by reason "
            "(the scrape query failed, or the scrapes were too few, irregular, stopped, or "
            "none fitted).", ["reason"], registry=registry)
        for reason in (*QUERY_FAILURES, *FALLBACK_REASONS):
            self.unaligned.labels(reason)
        build = Gauge("wardops_alerter_build_info", "Build information.", ["version"],
                      registry=registry)
        build.labels(__version__).set(1)
        for op in ("save", "handover"):
            self.state_errors.labels(op)
        registry.register(AlertsCollector(alerts))

    def group_evaluated(self, group: str, at: float, scrape: float | None,
                        duration: float) -> None:
        """Publish a group's evaluation: its time, the scrape it followed, its duration."""
        self.group_evaluations.groups[group] = GroupEvaluation(at, scrape or 0.0, duration)

    def forget_groups(self, keep: set[str]) -> None:
        """Drop the series of groups no longer configured."""
        evaluated = self.group_evaluations.groups
        self.group_evaluations.groups = {g: v for g, v in evaluated.items() if g in keep}

    def init_group(self, group: str) -> None:
        """Create the group's series at 0, so a failure is a change, not a new series."""
        self.evaluations.labels(group)
        self.group_evaluations.groups.setdefault(group, GroupEvaluation())
        for reason in FAILURE_REASONS:
            self.rule_failures.labels(group, reason)
