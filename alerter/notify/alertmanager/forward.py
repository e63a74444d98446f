"""Forwarding to Alertmanager: the ``alertmanager_configs`` receiver type.

A receiver may list Alertmanagers next to (or instead of) webhooks::

    receivers:
      - name: am-cluster
        alertmanager_configs:
          - url: http://alertmanager-1:9093     # or url_env / url_file
          - url_env: AM2_URL
            timeout: 10s
            resend_delay: 1m
            basic_auth: {username: wardops, password_env: AM_PASSWORD}
            # or bearer_token / bearer_token_env / bearer_token_file

Alerts routed to such a receiver (by the route tree; its grouping timers do not apply:
Alertmanager groups) are posted to ``<url>/api/v2/alerts`` the way Prometheus does it:

- a firing alert goes out at once, then again every ``resend_delay``, with
  ``endsAt = now + 4 × max(evaluation interval, resend_delay)``, so Alertmanager keeps
  it while we keep sending and resolves it by itself if this alerter dies;
- a resolved alert goes out at once with its real ``endsAt``, then again every
  ``resend_delay`` for 15 minutes (a lost resolve is repaired by the next one).

Silences, inhibition and acks of wardops do not apply here: the Alertmanager mutes
(the same as an Alertmanager fed by Prometheus). Several alerters pointed at the same
Alertmanagers give one notification, since Alertmanager deduplicates by fingerprint.

Each Alertmanager has its own worker thread; a failed post is counted
(``wardops_alerter_forward_errors_total{reason}``), logged and retried with backoff
until it goes through. Resolved alerts still to be re-sent are kept in
``state_dir/am_forward.json`` so a restart does not lose a resolve.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Counter, Gauge

from alerter.model import Alert
from alerter.notify.alertmanager.config import AlertmanagerConfig
from alerter.notify.config import NotifyConfig
from alerter.notify.delivery import USER_AGENT, transport_error
from alerter.notify.formats.alertmanager import rfc3339
from alerter.notify.retry import Outcome, classify
from alerter.notify.route import match_routes
from wardops_common.atomicfile import write_atomic
from wardops_common.httpclient import ClientSession

log = logging.getLogger("alerter.forward")

RESOLVED_RETENTION = 15 * 60.0  # Prometheus keeps re-sending a resolved alert this long
ENDS_AT_FACTOR = 4              # endsAt = now + 4 × max(eval interval, resend delay)
BATCH = 256                     # alerts per POST
MAX_BACKOFF = 30.0
STATE_FILE = "am_forward.json"
ERROR_REASONS = ("connection_refused", "connection_error", "timeout", "http_5xx", "http_4xx",
                 "http_429")  # start at 0 so rate() and alerts see the first failure


def targets_of(config: NotifyConfig) -> dict[tuple[str, int], AlertmanagerConfig]:
    """(receiver, index) -> Alertmanager, for every receiver that forwards."""
    return {(r.name, i): am for r in config.receivers.values()
            for i, am in enumerate(r.alertmanager_configs)}


# --- decisions (pure) ---------------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """What one Alertmanager last got for one alert."""

    at: float
    resolved: bool


def needs_sending(last: Sent | None, resolved: bool, now: float, resend_delay: float) -> bool:
    """Prometheus's rule: send when never sent, when the state changed since (firing ↔
    resolved), or when ``resend_delay`` has passed since the last send."""
    if last is None or last.resolved != resolved:
        return True
    return now - last.at >= resend_delay


def firing_ends_at(now: float, eval_interval: float, resend_delay: float) -> float:
    """The ``endsAt`` a firing alert is sent with: Alertmanager resolves it by itself then
    unless we send again (4 × the larger of evaluation interval and resend delay)."""
    return now + ENDS_AT_FACTOR * max(eval_interval, resend_delay)


def postable(alert: Alert, now: float, eval_interval: float, resend_delay: float) -> dict[str, Any]:
    """The alert as Alertmanager's ``postableAlert``."""
    ends = alert.ends_at if alert.resolved and alert.ends_at else \
        firing_ends_at(now, eval_interval, resend_delay)
    return {"labels": dict(alert.labels), "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.starts_at), "endsAt": rfc3339(ends),
            "generatorURL": alert.generator_url}


def next_backoff(failures: int) -> float:
    """Wait before retrying after ``failures`` failed posts in a row: 1 s doubling to 30 s."""
    return min(MAX_BACKOFF, 2.0 ** max(0, failures - 1))


# --- the forwarder --------------------------------------------------------------------------

class ForwardMetrics:
    """Counters of the forwarding side, labelled by receiver and integration index."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["receiver", "integration"]
        self.alerts = Counter("wardops_alerter_forward_alerts_sent",
                              "Alerts posted to an Alertmanager (firing and resolved, "
                              "re-sends included).", labels, registry=registry)
        self.errors = Counter("wardops_alerter_forward_errors",
                              "Failed posts to an Alertmanager, by reason (HTTP status or "
                              "transport error); retried.", [*labels, "reason"],
                              registry=registry)
        self.last_success = Gauge("wardops_alerter_forward_last_success_timestamp_seconds",
                                  "Unix time of the last successful post to an Alertmanager.",
                                  labels, registry=registry)
        self.state_errors = Counter("wardops_alerter_forward_state_errors",
                                    "Failures to save or load the forwarder's resolved-alert "
                                    "file.", ["op"], registry=registry)


class _Worker:
    """Posts due alerts to one Alertmanager, in its own thread."""

    def __init__(self, key: tuple[str, int], owner: Forwarder) -> None:
        self.key = key
        self.owner = owner
        self.sent: dict[str, Sent] = {}
        self.failures = 0
        self.retry_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"am-forward-{key[0]}-{key[1]}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            wait = self.owner._tick(self)
            self._wake.wait(max(0.05, wait))


class Forwarder:
    """Tracks what goes to each Alertmanager and re-sends it on Prometheus's schedule.

    ``process`` takes the same batches as the notification pipeline (every firing alert
    each cycle, resolved ones once) and does no network I/O.
    """

    def __init__(self, config: NotifyConfig, state_dir: Path, *, eval_interval: float,
                 registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.eval_interval = eval_interval
        self.metrics = ForwardMetrics(registry if registry is not None else CollectorRegistry())
        self._clock = clock
        self._state_file = Path(state_dir) / STATE_FILE
        self._lock = threading.Lock()
        self._targets = targets_of(config)
        self._firing: dict[str, Alert] = {}
        self._resolved: dict[str, Alert] = self._load()
        self._routes: dict[str, frozenset[str]] = {}  # fingerprint -> receiver names
        self._workers: dict[tuple[str, int], _Worker] = {}
        self._running = False
        self._session = ClientSession()
        for name, index in self._targets:
            self._init_metrics(name, index)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            self._running = True
            self._sync_workers()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._running = False
            workers = list(self._workers.values())
            self._workers.clear()
        for w in workers:
            w.stop()
        for w in workers:
            w.join(timeout / max(1, len(workers)))
        self._session.close()

    def reload(self, config: NotifyConfig, eval_interval: float) -> None:
        """Switch to a validated config; removed Alertmanagers stop, new ones start."""
        with self._lock:
            self.config = config
            self.eval_interval = eval_interval
            self._targets = targets_of(config)
            self._routes.clear()
            for name, index in self._targets:
                self._init_metrics(name, index)
            if self._running:
                self._sync_workers()

    # --- input ------------------------------------------------------------------------------

    def process(self, alerts: list[Alert]) -> None:
        """One evaluation cycle's alerts: every firing one, and those resolved this cycle."""
        now = self._clock()  # kept current even without targets: a reload may add one
        with self._lock:
            firing: dict[str, Alert] = {}
            resolved_changed = False
            for alert in alerts:
                if alert.state == "firing":
                    firing[alert.fingerprint] = alert
                    if self._resolved.pop(alert.fingerprint, None) is not None:
                        resolved_changed = True
                elif alert.resolved:
                    self._resolved[alert.fingerprint] = alert
                    resolved_changed = True
            # A firing alert that is no longer reported (its rule was removed, its route
            # changed) is no longer re-sent; Alertmanager ends it at its endsAt.
            self._firing = firing
            for fp, alert in list(self._resolved.items()):
                if _retention_over(alert, now):
                    del self._resolved[fp]
                    resolved_changed = True
            workers = list(self._workers.values())
            save = resolved_changed and bool(self._targets)
        if save:
            self._save()
        for w in workers:
            w.wake()

    # --- helpers ----------------------------------------------------------------------------

    def _init_metrics(self, name: str, index: int) -> None:
        self.metrics.alerts.labels(name, str(index))
        self.metrics.last_success.labels(name, str(index))
        for reason in ERROR_REASONS:
            self.metrics.errors.labels(name, str(index), reason)

    def _sync_workers(self) -> None:
        for key in [k for k in self._workers if k not in self._targets]:
            self._workers.pop(key).stop()
        for key in self._targets:
            if key not in self._workers:
                worker = _Worker(key, self)
                self._workers[key] = worker
                worker.start()

    def _receivers_of(self, alert: Alert) -> frozenset[str]:
        names = self._routes.get(alert.fingerprint)
        if names is None:
            route = self.config.route
            names = frozenset(r.receiver for r in match_routes(route, alert.labels)) \
                if route is not None else frozenset()
            if len(self._routes) > 200_000:
                self._routes.clear()
            self._routes[alert.fingerprint] = names
        return names

    def _due(self, worker: _Worker, now: float) -> tuple[AlertmanagerConfig | None,
                                                         list[Alert]]:
        with self._lock:
            target = self._targets.get(worker.key)
            if target is None:
                return None, []
            receiver = worker.key[0]
            current = {**self._firing, **{fp: a for fp, a in self._resolved.items()
                                          if not _retention_over(a, now)}}
            # forget what is no longer tracked, so a new firing is sent at once
            for fp in [fp for fp in worker.sent if fp not in current]:
                del worker.sent[fp]
            due = [a for fp, a in current.items()
                   if receiver in self._receivers_of(a)
                   and needs_sending(worker.sent.get(fp), a.resolved, now, target.resend_delay)]
        return target, due

    def _tick(self, worker: _Worker) -> float:
        """Send what is due to one Alertmanager; return how long to sleep."""
        now = self._clock()
        if now < worker.retry_at:
            return worker.retry_at - now
        target, due = self._due(worker, now)
        if target is None:
            return 1.0
        name, index = worker.key[0], str(worker.key[1])
        for start in range(0, len(due), BATCH):
            batch = due[start:start + BATCH]
            outcome = self._post(target, [postable(a, now, self.eval_interval,
                                                   target.resend_delay) for a in batch])
            reason = outcome.reason
            if not outcome.delivered and not outcome.retryable:
                # Alertmanager refused the batch itself (4xx): retrying now cannot help;
                # counted, logged, and tried again at the next resend like Prometheus.
                self.metrics.errors.labels(name, index, reason).inc()
                log.error("Alertmanager refused alerts", extra={
                    "receiver": name, "integration": index, "reason": reason,
                    "alerts": len(batch)})
            elif not outcome.delivered:
                worker.failures += 1
                delay = next_backoff(worker.failures)
                worker.retry_at = now + delay
                self.metrics.errors.labels(name, index, reason).inc()
                log.warning("posting alerts to Alertmanager failed, will retry", extra={
                    "receiver": name, "integration": index, "reason": reason,
                    "alerts": len(batch), "retry_in": delay, "failures": worker.failures})
                return delay
            with self._lock:
                for a in batch:
                    worker.sent[a.fingerprint] = Sent(now, a.resolved)
            if outcome.delivered:
                self.metrics.alerts.labels(name, index).inc(len(batch))
                self.metrics.last_success.labels(name, index).set(self._clock())
        if due and worker.failures:
            log.info("posting alerts to Alertmanager works again", extra={
                "receiver": name, "integration": index, "after_failures": worker.failures})
        worker.failures = 0
        return min(1.0, target.resend_delay)

    def _post(self, target: AlertmanagerConfig, body: list[dict[str, Any]]) -> Outcome:
        """POST one batch; the classified outcome (its ``reason`` is the metric label)."""
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        try:
            resp = self._session.post_with(target.alerts_url, target.http,
                                           data=json.dumps(body).encode(), headers=headers,
                                           timeout=target.timeout)
        except requests.RequestException as exc:
            return classify(None, transport_error(exc))
        resp.close()
        return classify(resp.status_code)

    # --- resolved alerts survive restarts -----------------------------------------------------

    def _load(self) -> dict[str, Alert]:
        try:
            raw = json.loads(self._state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self.metrics.state_errors.labels("load").inc()
            log.error("cannot read forwarder state; resolved alerts pending re-send are lost",
                      extra={"file": str(self._state_file), "error": repr(exc)})
            return {}
        items = raw.get("resolved") if isinstance(raw, dict) else None
        if not isinstance(items, list):
            self.metrics.state_errors.labels("load").inc()
            log.error("forwarder state has an unknown shape; resolved alerts pending re-send "
                      "are lost", extra={"file": str(self._state_file)})
            return {}
        alerts: dict[str, Alert] = {}
        skipped: list[str] = []
        for index, item in enumerate(items):
            # A file written by an older or newer version may have entries of another
            # shape: skip those, keep the rest (a crash here would stop the alerter).
            try:
                if not isinstance(item, dict):
                    raise TypeError(f"entry is a {type(item).__name__}, not a mapping")
                alert = Alert(**item)
            except (TypeError, AttributeError, ValueError) as exc:
                skipped.append(f"#{index}: {exc}")
                continue
            alerts[alert.fingerprint] = alert
        if skipped:
            self.metrics.state_errors.labels("load").inc(len(skipped))
            log.error("skipped forwarder state entries of an unknown shape; their resolved "
                      "alerts are not re-sent", extra={"file": str(self._state_file),
                                                       "skipped": len(skipped),
                                                       "first": skipped[0]})
        return alerts

    def _save(self) -> None:
        with self._lock:
            items = [_alert_dict(a) for a in self._resolved.values()]
        try:
            write_atomic(self._state_file, json.dumps({"resolved": items}).encode())
        except OSError as exc:
            self.metrics.state_errors.labels("save").inc()
            log.error("cannot save forwarder state", extra={"file": str(self._state_file),
                                                            "error": repr(exc)})


def _retention_over(resolved: Alert, now: float) -> bool:
    return (resolved.ends_at or now) + RESOLVED_RETENTION < now


def _alert_dict(a: Alert) -> dict[str, Any]:
    return {"labels": a.labels, "annotations": a.annotations, "state": a.state,
            "starts_at": a.starts_at, "ends_at": a.ends_at, "generator_url": a.generator_url,
            "value": a.value, "fingerprint": a.fingerprint}
