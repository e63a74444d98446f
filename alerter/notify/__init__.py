"""Notification: from evaluated alerts to delivered webhooks and e-mails.

The stages, each in its own module, in the order an alert meets them::

    process(alerts) ── route.match_routes ──▶ dispatch (groups; group_wait/interval timers)
        flush ──▶ timeinterval (route's active/mute time intervals: hold the whole group)
              ──▶ mute (inhibit, silence, ack) ──▶ dedup (nflog) ──▶ render (formats/ for
                  webhooks, email/message for e-mail)
              ──▶ queue (SQLite, with the nflog entry, one transaction) ──▶ delivery lanes
                  (retry with backoff, signing, dead letters)
    escalation tick ──▶ escalation.decide (per alert: unacked past a level's delay, not muted)
              ──▶ render ──▶ queue (with the escalation state, one transaction) ──▶ lanes

``flush_groups`` and ``escalate`` below are the whole pipeline, one function each.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alerter.model import Alert
from alerter.notify.acks import AckStore
from alerter.notify.config import EmailConfig, Integration, NotifyConfig, Route, WebhookConfig
from alerter.notify.db import Database
from alerter.notify.dedup import LogEntry, Reason, logged_entry, needs_update
from alerter.notify.delivery import (
    STORAGE_ERRORS,
    Deliverer,
    Notification,
    Queue,
    StorageHealth,
    send,
)
from alerter.notify.dispatch import Dispatcher, GroupSnapshot, Ticker
from alerter.notify.email.message import RenderError, build_message
from alerter.notify.escalation import (
    ESCALATION_HEADER,
    Action,
    Escalation,
    EscalationStore,
    decide,
    status_json,
)
from alerter.notify.formats import renderers
from alerter.notify.formats.alertmanager import build_payload, rfc3339
from alerter.notify.inhibit import Inhibitor
from alerter.notify.metrics import NotifyCollector, NotifyMetrics
from alerter.notify.mute import Muter, mute_stage, mute_status
from alerter.notify.nflog import LogKey, NotificationLog
from alerter.notify.retry import Outcome
from alerter.notify.route import am_group_key, group_key, group_labels, match_routes, walk
from alerter.notify.silences import SilenceStore
from alerter.notify.timeinterval import route_muted
from wardops_common.httpclient import ClientSession

log = logging.getLogger("alerter.notify")
DB_FILE = "notify.sqlite"
SEQUENCE_HEADER = "X-Wardops-Sequence"
RENDERERS = renderers()
HOSTNAME = socket.gethostname() or "wardops"  # the right-hand side of e-mail Message-Ids


class NotificationPipeline:
    """Takes every evaluation's alerts and delivers notifications in its own threads.

    ``process`` is called after every evaluation cycle with every alert that is firing,
    plus the alerts resolved in that cycle (``state == "resolved"``, ``ends_at`` set),
    including the alerter's own ``MonitoringDegraded``. It does no network I/O and is
    thread-safe.

    Extensions of the original interface: ``clock`` (tests inject time), ``silences`` and
    ``acks`` and ``escalations`` (the stores the API serves), ``mute_status``,
    ``escalation_status``, ``dead_letters``, ``send_test``.
    """

    def __init__(self, config: NotifyConfig, state_dir: Path, *, external_url: str,
                 registry: Any = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.state_dir = Path(state_dir)
        self.external_url = external_url
        self.registry = registry if registry is not None else CollectorRegistry()
        self._clock = clock
        self._db = Database(self.state_dir / DB_FILE)
        self.metrics = NotifyMetrics(self.registry)
        self.silences = SilenceStore(self._db, clock)
        self.acks = AckStore(self._db, clock)
        self.escalations = EscalationStore(self._db)
        # escalation state is written by flushes, escalation ticks and resolves: one at a time
        self._escalation_lock = threading.Lock()
        self._escalator = Ticker(self.escalate, clock, "notify-escalate",
                                 lambda: self.metrics.errors.labels("escalation").inc())
        self._nflog = NotificationLog(self._db, clock())
        self._queue = Queue(self._db)
        self.storage = StorageHealth(self.metrics, self.state_dir, clock)
        self._delivery = Deliverer(self._queue, self._hook, self.metrics, clock,
                                   storage=self.storage)
        self._dispatcher = Dispatcher(self.flush_groups, clock,
                                      on_error=lambda r: self.metrics.errors.labels(r).inc())
        self._firing: dict[str, Alert] = {}
        self._sequences: dict[LogKey, int] = {}
        self._route_cache: dict[str, list[tuple[Route, str, dict[str, str]]]] = {}
        self._routes = _routes_by_key(config)
        self._inhibitor = Inhibitor(config.inhibit_rules)
        self._muters = self._make_muters()
        for name in config.receivers:
            self.metrics.init_receiver(name)
        self.registry.register(NotifyCollector(
            self._delivery.lane_stats, self._queue.dead_count,
            lambda: len(self._dispatcher.groups()), self._silence_counts,
            lambda: list(self.config.receivers), self._escalating_count))

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start delivery workers (resumes undelivered notifications from state_dir)."""
        self._delivery.start()
        self._dispatcher.start()
        self._escalator.start()

    def stop(self) -> None:
        """Stop workers; undelivered notifications stay queued on disk."""
        self._escalator.stop()
        self._dispatcher.stop()
        self._delivery.stop()

    def reload(self, config: NotifyConfig) -> None:
        """Switch to a new, already validated config; firing alerts are regrouped."""
        with self._dispatcher.lock:
            self.config = config
            self._inhibitor = Inhibitor(config.inhibit_rules)
            self._inhibitor.update(self._firing.values())
            self._muters = self._make_muters()
            self._route_cache.clear()
            self._routes = _routes_by_key(config)
            keys = {r.key for r in walk(config.route)} if config.route else set()
            self._dispatcher.drop_routes_not_in(keys)
            now = self._clock()
            for alert in self._firing.values():
                self._insert(alert, now)
            self._dispatcher.wake()
        for name in config.receivers:
            self.metrics.init_receiver(name)

    # --- input ---------------------------------------------------------------------------

    def process(self, alerts: list[Alert]) -> None:
        """Hand over one evaluation cycle's alerts (firing, and resolved this cycle)."""
        now = self._clock()
        resolved: list[str] = []
        with self._dispatcher.lock:
            for alert in alerts:
                if alert.state == "pending":
                    continue  # pending alerts are not notified
                if alert.resolved:
                    self._firing.pop(alert.fingerprint, None)
                    resolved.append(alert.fingerprint)
                else:
                    self._firing[alert.fingerprint] = alert
                self._insert(alert, now)
            self._inhibitor.update(self._firing.values())
            self._dispatcher.wake()
        if resolved:
            try:
                self.acks.forget(resolved)  # an ack lasts until its alert resolves
            except STORAGE_ERRORS as exc:
                self.storage.failed("acks", exc, self._clock())
            self._end_escalations([a for a in alerts if a.resolved])

    def pending_resolves(self) -> set[str]:
        """Fingerprints of resolved alerts still waiting in a group for their flush."""
        return self._dispatcher.pending_resolves()

    def _insert(self, alert: Alert, now: float) -> None:
        route = self.config.route
        if route is None:
            return
        targets = self._route_cache.get(alert.fingerprint)
        if targets is None:
            if len(self._route_cache) > 200_000:
                self._route_cache.clear()
            targets = []
            for r in match_routes(route, alert.labels):
                labels = group_labels(r, alert.labels)
                targets.append((r, group_key(r, labels), labels))
            self._route_cache[alert.fingerprint] = targets
        for r, key, labels in targets:
            self._dispatcher.insert(r, key, labels, alert, now)

    # --- the pipeline ----------------------------------------------------------------------

    def flush_groups(self, groups: list[GroupSnapshot], now: float) -> set[str]:
        """Time intervals → mute → dedup → render → queue (with the nflog, in one commit)
        → deliver. Returns the keys of the groups a time interval held back."""
        config = self.config
        queued: list[Notification] = []
        failed: list[Notification] = []
        log_updates: dict[LogKey, LogEntry] = {}
        started: list[Escalation] = []
        held: set[str] = set()
        for group in groups:
            receiver = config.receivers.get(group.route.receiver)
            if receiver is None:
                continue
            timed = self._time_muted(group.route, now)
            if timed is not None:
                # As Alertmanager: the group notifies nothing and the notification log is
                # left as it was, so what fires when the interval ends is news then.
                self.metrics.suppressed.labels(timed[0]).inc(len(group.alerts))
                held.add(group.key)
                continue
            alerts = mute_stage(group.alerts, self._muters,
                                lambda reason, n: self.metrics.suppressed.labels(reason).inc(n))
            firing = frozenset(a.fingerprint for a in alerts if not a.resolved)
            muted = frozenset(a.fingerprint for a in group.alerts
                              if not a.resolved and a.fingerprint not in firing)
            resolved = frozenset(a.fingerprint for a in alerts if a.resolved)
            acked = frozenset(a.fingerprint for a in alerts if self.acks.acked_by(a))
            if group.route.escalation:
                started.extend(self._escalations_to_start(group.route, alerts, now))
            for index, hook in enumerate(receiver.integrations):
                log_key = (receiver.name, index, group.key)
                entry = self._nflog.get(log_key)
                reason = needs_update(entry, firing, resolved, hook.send_resolved,
                                      group.route.repeat_interval, now, acked, muted)
                if reason is Reason.SKIP_ACKED:
                    self.metrics.suppressed.labels("acked").inc(len(acked))
                if not reason.send:
                    continue
                log_updates[log_key] = logged_entry(entry, firing, resolved, muted, now)
                to_send = [a for a in alerts if not a.resolved or hook.send_resolved]
                if to_send:
                    n, ok = self._render(receiver.name, index, hook, group, to_send, now,
                                         self._next_sequence(log_key, now))
                    (queued if ok else failed).append(n)
        with self._escalation_lock:
            # re-checked under the lock: an escalation tick may have written one meanwhile
            started = [e for e in started if self._escalation_is_new(e)]
            self._commit(queued, failed, log_updates, started)
        if started:
            self._escalator.wake()
        return held

    def _commit(self, queued: list[Notification], failed: list[Notification],
                log_updates: dict[LogKey, LogEntry], escalations: list[Escalation],
                ended: list[Escalation] | None = None) -> None:
        """Queue notifications with the state that decided them (notification log,
        escalations written or ``ended``) in one transaction, then hand them to delivery."""
        ended = ended or []
        try:
            with self._db.tx() as conn:
                self._queue.insert(conn, queued)
                self._queue.insert(conn, failed, status="dead")
                self._nflog.write(conn, log_updates)
                self.escalations.write(conn, escalations)
                self.escalations.delete(conn, ended)
        except STORAGE_ERRORS as exc:
            # The state directory is full or broken. Losing its storage is exactly when the
            # alerter must still try to tell someone: deliver from memory (with retries,
            # not across a restart), count it, and let /-/healthy say why.
            self.storage.failed("queue", exc, self._clock())
            for n in queued:
                n.id = 0  # the transaction rolled back: no row behind it
            for n in failed:
                log.error("dead letter not stored (storage failing)",
                          extra={"receiver": n.receiver, "reason": n.last_error})
        else:
            self.storage.ok("queue")
        self._nflog.apply(log_updates)
        self.escalations.apply(escalations)
        self.escalations.discard(ended)
        for n in queued:
            self.metrics.queued.labels(n.receiver).inc()
        for n in failed:
            self.metrics.notifications.labels(n.receiver, "failed").inc()
        self._delivery.submit(queued)

    # --- escalation ----------------------------------------------------------------------------

    def escalate(self, now: float) -> float:
        """Escalation decision → render → queue (with the escalation state, one
        transaction) → deliver. Returns when to look again (the escalation thread's tick)."""
        next_at = now + 1.0
        with self._escalation_lock:
            with self._dispatcher.lock:
                firing = dict(self._firing)
            routes = self._routes
            updates: list[Escalation] = []
            due: dict[tuple[str, int], list[Alert]] = {}
            for entry in self.escalations.all():
                route = routes.get(entry.route_key)
                alert = firing.get(entry.fingerprint)
                if route is None or not route.escalation or alert is None \
                        or alert.starts_at != entry.starts_at:
                    continue  # not firing (a resolve forgets it), or no longer escalated
                decision = decide(entry, route.escalation, now, acked=bool(self.acks.get(alert)),
                                  muted=self._escalation_muted(route, alert, now))
                if decision.action is Action.WAIT:
                    next_at = min(next_at, decision.at)
                elif decision.action is Action.STOP_ACKED:
                    updates.append(replace(entry, stopped="acked"))
                    self.metrics.escalations_stopped.labels("acked").inc()
                elif decision.action is Action.SEND:
                    for level in decision.levels:
                        due.setdefault((route.key, level), []).append(alert)
                    updates.append(replace(entry, level=decision.levels[-1] + 1))
            if not updates:
                return next_at
            queued: list[Notification] = []
            failed: list[Notification] = []
            for (route_key, level), alerts in sorted(due.items()):
                route = routes[route_key]
                receiver = route.escalation[level].receiver
                self.metrics.escalations.labels(receiver).inc(len(alerts))
                self._render_escalation(route, level, alerts, now, queued, failed)
                log.info("escalated unacknowledged alerts", extra={
                    "route": route_key, "level": level + 1, "receiver": receiver,
                    "alerts": len(alerts)})
            self._commit(queued, failed, {}, updates)
        return now

    def _render_escalation(self, route: Route, level: int, alerts: list[Alert], now: float,
                           queued: list[Notification], failed: list[Notification]) -> None:
        """The notifications of one level for ``alerts`` (firing, or resolved: then only
        to integrations with ``send_resolved``), one per group, with the level header."""
        receiver = route.escalation[level].receiver
        found = self.config.receivers.get(receiver)
        for group in _escalation_groups(route, level, alerts):
            for index, hook in enumerate(found.integrations if found else ()):
                if alerts[0].resolved and not hook.send_resolved:
                    continue
                n, ok = self._render(receiver, index, hook, group, list(group.alerts), now,
                                     self._next_sequence((receiver, index, group.key), now),
                                     escalation_level=level + 1)
                n.headers[ESCALATION_HEADER] = str(level + 1)
                (queued if ok else failed).append(n)

    def _escalations_to_start(self, route: Route, alerts: list[Alert],
                              now: float) -> list[Escalation]:
        """Clocks for the firing, unmuted alerts of a flush whose route escalates and
        that have none for this firing yet."""
        return [Escalation(route.key, a.fingerprint, a.starts_at, now) for a in alerts
                if not a.resolved and self._escalation_is_new(
                    Escalation(route.key, a.fingerprint, a.starts_at, now))]

    def _escalation_is_new(self, entry: Escalation) -> bool:
        known = self.escalations.get(entry.key)
        return known is None or known.starts_at != entry.starts_at

    def _escalation_muted(self, route: Route, alert: Alert, now: float) -> bool:
        """Whether a silence, an inhibition or the route's time intervals hold the alert
        back now: its escalation waits (an ack stops it, a mute only pauses it)."""
        return (self._time_muted(route, now) is not None
                or any(m.muted_by(alert) for m in self._muters))

    def _end_escalations(self, resolved: list[Alert]) -> None:
        """A resolve ends its alert's escalations: the levels that were told it fired are
        told it resolved (``send_resolved``), queued in the transaction that deletes them."""
        by_fp = {a.fingerprint: a for a in resolved}
        now = self._clock()
        queued: list[Notification] = []
        failed: list[Notification] = []
        with self._escalation_lock:
            ended = [e for fp in by_fp for e in self.escalations.for_alert(fp)]
            if not ended:
                return
            for entry in ended:
                route = self._routes.get(entry.route_key)
                alert = by_fp[entry.fingerprint]
                if route is None or alert.starts_at != entry.starts_at:
                    continue
                if not entry.stopped and entry.level < len(route.escalation):
                    self.metrics.escalations_stopped.labels("resolved").inc()
                for level in range(min(entry.level, len(route.escalation))):
                    self._render_escalation(route, level, [alert], now, queued, failed)
            self._commit(queued, failed, {}, [], ended)

    def _escalating_count(self) -> int:
        """Firing alerts whose escalation still has levels to go (not acked)."""
        with self._dispatcher.lock:
            firing = dict(self._firing)
        count = 0
        for entry in self.escalations.all():
            route = self._routes.get(entry.route_key)
            alert = firing.get(entry.fingerprint)
            if (route is not None and alert is not None and alert.starts_at == entry.starts_at
                    and not entry.stopped and entry.level < len(route.escalation)
                    and not self.acks.get(alert)):
                count += 1
        return count

    def escalation_status(self, alert: Alert) -> dict[str, Any] | None:
        """The API's view of ``alert``'s escalation (``escalation.status_json``), or None
        when no route escalates it or its clock has not started."""
        entries = [e for e in self.escalations.for_alert(alert.fingerprint)
                   if e.starts_at == alert.starts_at]
        levels = {k: r.escalation for k, r in self._routes.items() if r.escalation}
        return status_json(entries, levels, self.acks.get(alert) is not None, rfc3339)

    def _time_muted(self, route: Route, now: float) -> tuple[str, list[str]] | None:
        if not route.mute_time_intervals and not route.active_time_intervals:
            return None
        return route_muted(route.mute_time_intervals, route.active_time_intervals,
                           self.config.time_intervals, datetime.fromtimestamp(now, UTC))

    def time_muted_by(self, route: Route) -> list[str]:
        """The time intervals holding back ``route``'s groups now (Alertmanager API v2's
        ``mutedBy``); empty when it notifies."""
        timed = self._time_muted(route, self._clock())
        return timed[1] if timed else []

    def _next_sequence(self, key: LogKey, now: float) -> int:
        """The ordering number of a notification decided now for this group and integration.

        Microseconds of the decision time, bumped past the previous one: strictly
        increasing per group within a run and across restarts (time moves on) without
        storing anything more; a receiver drops one that is not above the last it applied
        (a late retry overtaken by a newer state). Assumes the clock does not step back.
        """
        seq = max(int(now * 1_000_000), self._sequences.get(key, 0) + 1)
        self._sequences[key] = seq
        return seq

    def _render(self, receiver: str, index: int, hook: Integration, group: GroupSnapshot,
                alerts: list[Alert], now: float, sequence: int = 0, escalation_level: int = 0,
                ) -> tuple[Notification, bool]:
        """Render one notification; a failing template becomes a dead letter (with the
        Alertmanager payload as its body, so nothing is lost) instead of stopping the flush.

        ``sequence`` (see ``_next_sequence``) goes into the Alertmanager-format payload as
        ``sequence`` and into every format's ``X-Wardops-Sequence`` header; retries send
        the stored body and headers, so it never changes for one notification."""
        data = build_payload(receiver=receiver, group_key=am_group_key(group.route, group.labels),
                             group_labels=group.labels,
                             alerts=alerts, external_url=self.external_url,
                             max_alerts=hook.max_alerts if isinstance(hook, WebhookConfig) else 0,
                             sequence=sequence, escalation_level=escalation_level)
        if isinstance(hook, EmailConfig):
            return self._render_email(receiver, index, hook, group, data, now)
        try:
            rendered = RENDERERS[hook.format](data, hook, self.config.templates)
        except Exception as exc:  # any template failure: a counted dead letter
            self.metrics.errors.labels("render").inc()
            log.error("template rendering failed; notification kept as dead letter",
                      extra={"receiver": receiver, "integration": index, "error": str(exc)})
            rendered = RENDERERS["alertmanager"](data, hook, {})
            n = Notification(receiver, index, hook.format, group.key, rendered.body,
                             _sequenced(rendered.headers, sequence), len(alerts), now,
                             last_error=f"render: {exc}")
            return n, False
        return Notification(receiver, index, hook.format, group.key, rendered.body,
                            _sequenced(rendered.headers, sequence), len(alerts), now,
                            next_attempt_at=now), True

    def _render_email(self, receiver: str, index: int, hook: EmailConfig,
                      group: GroupSnapshot, data: dict[str, Any], now: float
                      ) -> tuple[Notification, bool]:
        """The e-mail as queued: the whole message, whose Message-Id is the notification's
        idempotency key. A failing template makes it a dead letter (its body the
        Alertmanager payload, so nothing is lost), as for webhooks."""
        key = uuid.uuid4().hex
        count = len(data["alerts"])
        try:
            body = build_message(data, hook, message_id=key, now=now, hostname=HOSTNAME)
        except RenderError as exc:
            self.metrics.errors.labels("render").inc()
            log.error("e-mail template failed; notification kept as dead letter",
                      extra={"receiver": receiver, "integration": index, "error": str(exc)})
            payload = RENDERERS["alertmanager"](data, WebhookConfig(), {}).body
            return Notification(receiver, index, "email", group.key, payload, {}, count, now,
                                idempotency_key=key, last_error=f"render: {exc}"), False
        return Notification(receiver, index, "email", group.key, body, {}, count, now,
                            idempotency_key=key, next_attempt_at=now), True

    # --- helpers for delivery, the API and the CLI -----------------------------------------

    def _hook(self, receiver: str, index: int) -> Integration | None:
        found = self.config.receivers.get(receiver)
        if found is None or index >= len(found.integrations):
            return None
        return found.integrations[index]

    def _make_muters(self) -> tuple[Muter, ...]:
        """The mute stage's muters (acks are not among them: see ``mute``)."""
        return (Muter("inhibited", self._inhibitor.inhibited_by),
                Muter("silenced", self.silences.silenced_by))

    def _silence_counts(self) -> dict[str, int]:
        now = self._clock()
        counts: dict[str, int] = {}
        for s in self.silences.list():
            counts[s.state(now)] = counts.get(s.state(now), 0) + 1
        return counts

    def now(self) -> float:
        """The pipeline's clock (the API dates silences and acks by it)."""
        return self._clock()

    def mute_status(self, alert: Alert) -> dict[str, list[str]]:
        """``{"inhibited": [source fingerprints], "silenced": [silence ids], "acked": [who],
        "muted": [time intervals]}``; ``muted`` names the intervals that hold back the
        alert's notification on every route it takes (empty if any route notifies it)."""
        return mute_status(alert, (*self._muters, Muter("acked", self.acks.acked_by),
                                   Muter("muted", self._muted_everywhere)))

    def _muted_everywhere(self, alert: Alert) -> list[str]:
        route = self.config.route
        if route is None or not self.config.time_intervals:
            return []
        names: list[str] = []
        for r in match_routes(route, alert.labels):
            by = self.time_muted_by(r)
            if not by:
                return []
            names.extend(n for n in by if n not in names)
        return names

    def dead_letters(self, limit: int = 100) -> list[dict[str, object]]:
        """Notifications given up on, newest first."""
        return self._queue.dead_letters(limit)

    def send_test(self, receiver_name: str) -> str:
        """Send a sample firing notification to every integration of ``receiver_name`` now,
        bypassing queue, timers and retries (``wardops-alerter test-receiver``).

        Returns a one-line summary such as ``"slack #0: ok"``. Raises ``KeyError`` for an
        unknown receiver and ``DeliveryFailed`` (naming each failing integration and the
        reason, never the URL) if any integration did not accept it.
        """
        receiver = self.config.receivers[receiver_name]
        now = self._clock()
        alert = Alert(labels={"alertname": "WardopsTestNotification", "severity": "none",
                              "receiver": receiver_name},
                      annotations={"summary": f"Test notification from wardops-alerter to "
                                              f"{receiver_name}; no action needed."},
                      state="firing", starts_at=now, generator_url=self.external_url)
        route = Route(key="{}", receiver=receiver_name)
        group = GroupSnapshot(key=f'{{}}:{{receiver="{receiver_name}"}}', route=route,
                              labels={"receiver": receiver_name}, alerts=(alert,))
        results: list[str] = []
        failed = False
        with ClientSession() as session:
            for index, hook in enumerate(receiver.integrations):
                n, ok = self._render(receiver_name, index, hook, group, [alert], now)
                outcome = send(session, n, hook, now) if ok else Outcome(False, False, n.last_error)
                failed |= not outcome.delivered
                results.append(f"{n.format} #{index}: {outcome.explained}")
        if not results:
            raise DeliveryFailed(f"receiver {receiver_name!r} has no webhook_configs or "
                                 "email_configs")
        if failed:
            raise DeliveryFailed("; ".join(results))
        return "; ".join(results)


def _routes_by_key(config: NotifyConfig) -> dict[str, Route]:
    return {r.key: r for r in walk(config.route)} if config.route is not None else {}


def _escalation_groups(route: Route, level: int, alerts: list[Alert]) -> list[GroupSnapshot]:
    """The alerts of one escalation level, in the route's groups (one notification per
    group, like the route's own); the key keeps them in a delivery lane of their own."""
    groups: dict[str, GroupSnapshot] = {}
    for alert in alerts:
        labels = group_labels(route, alert.labels)
        key = f"{group_key(route, labels)}#escalation-{level + 1}"
        found = groups.get(key)
        groups[key] = GroupSnapshot(key, route, labels,
                                    (*found.alerts, alert) if found else (alert,))
    return list(groups.values())


def _sequenced(headers: dict[str, str], sequence: int) -> dict[str, str]:
    return {**headers, SEQUENCE_HEADER: str(sequence)} if sequence else dict(headers)


class DeliveryFailed(RuntimeError):
    """``send_test`` could not deliver to at least one integration."""
