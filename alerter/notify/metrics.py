"""The notification metrics, registered in the alerter's shared registry.

Counters and histograms are plain prometheus-client metrics; queue depth, oldest
undelivered age, dead letters, groups and silences are read fresh at scrape time by a
custom collector (``NotifyCollector``) from the live objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

SUPPRESS_REASONS = ("inhibited", "silenced", "acked", "mute_time_interval",
                    "active_time_interval")
RESULTS = ("delivered", "failed")
ERROR_REASONS = ("render", "flush", "delivery_store", "worker", "escalation")


class NotifyMetrics:
    """All counters/histograms of the notification side."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "wardops_alerter_notifications", "Notifications by final result: delivered, or "
            "failed (given up and kept as a dead letter).", ["receiver", "result"],
            registry=registry)
        self.queued = Counter(
            "wardops_alerter_notifications_queued", "Notifications queued durably for delivery.",
            ["receiver"], registry=registry)
        self.attempts = Counter(
            "wardops_alerter_notification_attempts", "Delivery attempts by outcome (ok, "
            "http_5xx, http_429, http_4xx, timeout, connection_refused; for e-mail smtp_4xx, "
            "smtp_5xx, no_starttls, tls_error, ...).",
            ["receiver", "outcome"], registry=registry)
        self.attempt_seconds = Histogram(
            "wardops_alerter_notification_attempt_duration_seconds",
            "Duration of one delivery attempt.", ["receiver"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.delivery_seconds = Histogram(
            "wardops_alerter_notification_delivery_seconds",
            "Time from queueing a notification to its successful delivery.", ["receiver"],
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600, 86400))
        self.suppressed = Counter(
            "wardops_alerter_notifications_suppressed", "Alerts left out of a notification, "
            "by reason (inhibited, silenced, acked, mute_time_interval, "
            "active_time_interval).", ["reason"], registry=registry)
        self.storage_errors = Counter(
            "wardops_alerter_notify_storage_errors", "Writes of notification state to "
            "state_dir that failed (disk full, I/O error), by operation (queue, delivery, "
            "acks, escalations); meanwhile notifications are delivered from memory.", ["op"],
            registry=registry)
        for op in ("queue", "delivery", "acks", "escalations"):
            self.storage_errors.labels(op)
        self.errors = Counter(
            "wardops_alerter_notify_errors", "Internal notification errors by reason "
            "(render, flush, delivery_store, worker, escalation).", ["reason"], registry=registry)
        for reason in SUPPRESS_REASONS:
            self.suppressed.labels(reason)
        for reason in ERROR_REASONS:
            self.errors.labels(reason)
        self.escalations = Counter(
            "wardops_alerter_escalations", "Alerts escalated: one per alert and level, by the "
            "level's receiver (an unacknowledged alert notified past the level's delay).",
            ["receiver"], registry=registry)
        self.escalations_stopped = Counter(
            "wardops_alerter_escalations_stopped", "Escalations that ended with levels left, "
            "by reason (acked, resolved).", ["reason"], registry=registry)
        for reason in ("acked", "resolved"):
            self.escalations_stopped.labels(reason)

    def init_receiver(self, receiver: str) -> None:
        """Start a receiver's series at 0 so rate() and alerts see them from the beginning."""
        for result in RESULTS:
            self.notifications.labels(receiver, result)
        self.queued.labels(receiver)
        self.escalations.labels(receiver)


@dataclass(frozen=True)
class LaneStats:
    receiver: str
    depth: int
    oldest_age: float


class NotifyCollector:
    """Scrape-time gauges read from the pipeline's live state."""

    def __init__(self, lanes: Callable[[], Iterable[LaneStats]], dead_letters: Callable[[], int],
                 groups: Callable[[], int], silences: Callable[[], dict[str, int]],
                 receivers: Callable[[], Iterable[str]],
                 escalating: Callable[[], int] = lambda: 0) -> None:
        self._receivers = receivers
        self._escalating = escalating
        self._lanes = lanes
        self._dead = dead_letters
        self._groups = groups
        self._silences = silences

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("wardops_alerter_notification_queue_depth",
                                  "Notifications queued and not yet delivered.",
                                  labels=["receiver"])
        oldest = GaugeMetricFamily("wardops_alerter_notification_oldest_undelivered_age_seconds",
                                   "Age of the oldest undelivered notification (0 when none).",
                                   labels=["receiver"])
        per_receiver: dict[str, tuple[int, float]] = {r: (0, 0.0) for r in self._receivers()}
        for lane in self._lanes():
            d, a = per_receiver.get(lane.receiver, (0, 0.0))
            per_receiver[lane.receiver] = (d + lane.depth, max(a, lane.oldest_age))
        for receiver, (d, a) in sorted(per_receiver.items()):
            depth.add_metric([receiver], d)
            oldest.add_metric([receiver], a)
        yield depth
        yield oldest
        yield GaugeMetricFamily("wardops_alerter_notification_dead_letters",
                                "Notifications given up on, kept for inspection.",
                                value=self._dead())
        yield GaugeMetricFamily("wardops_alerter_aggregation_groups",
                                "Alert groups currently held for notification.",
                                value=self._groups())
        silences = GaugeMetricFamily("wardops_alerter_silences", "Silences by state.",
                                     labels=["state"])
        counts = self._silences()
        for state in ("active", "pending", "expired"):
            silences.add_metric([state], counts.get(state, 0))
        yield silences
        yield GaugeMetricFamily("wardops_alerter_escalating_alerts",
                                "Firing, unacknowledged alerts whose escalation has levels "
                                "left.", value=self._escalating())
