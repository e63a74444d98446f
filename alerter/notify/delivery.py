"""Durable delivery: the SQLite queue, one lane of workers per integration, the senders.

A notification is a row in ``queue`` before its first attempt. Each (receiver,
integration) has its own lane of worker threads, so a slow or dead receiver never delays
another. Within a lane, notifications of one group go out in order (a "resolved" never
overtakes its "firing"); different groups go in parallel. After each attempt
``retry.next_step`` decides: delivered rows are deleted, retries get a ``next_attempt_at``,
and given-up rows stay as dead letters (``status = 'dead'``). On start, every pending
row is loaded again, so kill -9 loses nothing (at-least-once; the ``Idempotency-Key``
stored with the row lets receivers drop a repeat).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from alerter.notify.config import EmailConfig, Integration, WebhookConfig
from alerter.notify.db import Database
from alerter.notify.email import smtp
from alerter.notify.metrics import LaneStats, NotifyMetrics
from alerter.notify.retry import Action, Outcome, TransportError, classify, next_step
from alerter.notify.signing import signed_headers
from wardops_common.httpclient import ClientSession

log = logging.getLogger("alerter.notify")
LANE_WORKERS = 4
DEAD_LETTER_RETENTION = 7 * 86400.0
_PATH_IN_LOG = re.compile(r'"(GET|POST|PUT) \S+ HTTP/')


class RedactPaths(logging.Filter):
    """Blank the request path in urllib3's debug lines: webhook URLs (Slack, Teams) and
    Telegram's ``/bot<token>/`` carry secrets in the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _PATH_IN_LOG.sub(r'"\1 <path redacted> HTTP/', message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(RedactPaths())
USER_AGENT = "wardops-alerter"
HookLookup = Callable[[str, int], Integration | None]


@dataclass
class Notification:
    """One queued notification (a ``queue`` row)."""

    receiver: str
    integration: int
    format: str
    group_key: str
    body: bytes
    headers: dict[str, str]
    alerts: int
    created_at: float
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    id: int = 0
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str = ""

    @property
    def lane(self) -> tuple[str, int]:
        return (self.receiver, self.integration)


_COLUMNS = ("id, receiver, integration, format, group_key, idempotency_key, body, headers, "
            "alerts, created_at, attempts, next_attempt_at, last_error")


def _from_row(row: Sequence[Any]) -> Notification:
    (nid, receiver, integration, fmt, group_key, key, body, headers, alerts, created_at,
     attempts, next_at, last_error) = row
    return Notification(receiver=receiver, integration=integration, format=fmt,
                        group_key=group_key, body=bytes(body), headers=json.loads(headers),
                        alerts=alerts, created_at=created_at, idempotency_key=key, id=nid,
                        attempts=attempts, next_attempt_at=next_at, last_error=last_error)


class Queue:
    """The ``queue`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, conn: object, items: Iterable[Notification], status: str = "pending") -> None:
        """Insert inside the caller's transaction; sets each item's ``id``."""
        for n in items:
            cur = conn.execute(  # type: ignore[attr-defined]
                "INSERT INTO queue (receiver, integration, format, group_key, idempotency_key, "
                "body, headers, alerts, status, created_at, attempts, next_attempt_at, "
                "last_error, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (n.receiver, n.integration, n.format, n.group_key, n.idempotency_key, n.body,
                 json.dumps(n.headers), n.alerts, status, n.created_at, n.attempts,
                 n.next_attempt_at, n.last_error, n.created_at if status == "dead" else None))
            n.id = int(cur.lastrowid)

    def pending(self) -> list[Notification]:
        return [_from_row(r) for r in self.db.query(
            f"SELECT {_COLUMNS} FROM queue WHERE status = 'pending' ORDER BY id")]

    def retry_later(self, n: Notification) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE queue SET attempts = ?, next_attempt_at = ?, last_error = ? "
                         "WHERE id = ?", (n.attempts, n.next_attempt_at, n.last_error, n.id))

    def delivered(self, n: Notification) -> None:
        with self.db.tx() as conn:
            conn.execute("DELETE FROM queue WHERE id = ?", (n.id,))

    def dead(self, n: Notification, now: float) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE queue SET status = 'dead', attempts = ?, last_error = ?, "
                         "failed_at = ? WHERE id = ?", (n.attempts, n.last_error, now, n.id))

    def dead_letters(self, limit: int = 100) -> list[dict[str, object]]:
        """The newest given-up notifications, for the API."""
        rows = self.db.query(
            "SELECT id, receiver, integration, format, group_key, idempotency_key, body, "
            "alerts, created_at, attempts, last_error, failed_at FROM queue "
            "WHERE status = 'dead' ORDER BY id DESC LIMIT ?", (limit,))
        keys = ("id", "receiver", "integration", "format", "groupKey", "idempotencyKey", "body",
                "alerts", "createdAt", "attempts", "lastError", "failedAt")
        result = []
        for row in rows:
            item = dict(zip(keys, row))
            item["body"] = bytes(item["body"]).decode(errors="replace")
            result.append(item)
        return result

    def forget_old_dead_letters(self, now: float) -> int:
        """Delete dead letters older than ``DEAD_LETTER_RETENTION``; return how many."""
        with self.db.tx() as conn:
            cur = conn.execute("DELETE FROM queue WHERE status = 'dead' AND failed_at < ?",
                               (now - DEAD_LETTER_RETENTION,))
            return int(cur.rowcount)

    def dead_count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM queue WHERE status = 'dead'")[0][0])


def transport_error(exc: requests.RequestException) -> TransportError:
    """Map a ``requests`` exception to what retry classification understands."""
    if isinstance(exc, requests.Timeout):
        return TransportError.TIMEOUT
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader)):
        return TransportError.INVALID
    if isinstance(exc, requests.ConnectionError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return TransportError.REFUSED
            cause = cause.__cause__ or cause.__context__ or (
                cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None)
        if "Connection refused" in str(exc):
            return TransportError.REFUSED
    return TransportError.CONNECTION


def send(session: ClientSession, n: Notification, hook: Integration, now: float) -> Outcome:
    """One attempt (an HTTP POST, or an SMTP conversation for e-mail). Returns the
    classified outcome; never raises for network trouble."""
    if isinstance(hook, EmailConfig):
        return smtp.send(n.body, hook)
    return post(session, n, hook, now)


def post(session: ClientSession, n: Notification, hook: WebhookConfig, now: float) -> Outcome:
    """One HTTP attempt of a webhook."""
    headers = {"User-Agent": USER_AGENT, **n.headers, "Idempotency-Key": n.idempotency_key}
    if hook.format != "template":
        headers.update(hook.headers)  # static extra headers, e.g. an API key for a gateway
    secret = hook.hmac_secret.value if hook.hmac_secret else None
    headers.update(signed_headers(secret, n.body, now))
    assert hook.url is not None
    try:
        resp = session.post_with(hook.url.value, hook.http, data=n.body, headers=headers,
                                 timeout=hook.timeout)
    except requests.RequestException as exc:
        return classify(None, transport_error(exc))
    resp.close()
    return classify(resp.status_code, retry_after=resp.headers.get("Retry-After"), now=now)


#: what a full or broken state directory raises from SQLite and the file system
STORAGE_ERRORS = (sqlite3.Error, OSError)


class StorageHealth:
    """Whether the notification state can be written, for /-/healthy and the metrics.

    A failed write is counted (``wardops_alerter_notify_storage_errors_total{op}``) and
    logged once per change; notifications then live in memory only (``id`` 0) until a
    write succeeds again. On a full disk some small writes still succeed (SQLite reuses
    space it already has), so the problem is reported until ``HOLD`` seconds have passed
    without a failed write, not at the first write that happens to fit.
    """

    HOLD = 30.0

    def __init__(self, metrics: NotifyMetrics, state_dir: object,
                 clock: Callable[[], float] = time.time) -> None:
        self._metrics = metrics
        self._state_dir = state_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._failing: dict[str, tuple[str, float]] = {}

    def failed(self, op: str, exc: BaseException, now: float) -> None:
        self._metrics.storage_errors.labels(op).inc()
        with self._lock:
            new = op not in self._failing
            self._failing[op] = (f"{type(exc).__name__}: {exc}", now)
        if new:
            log.error("cannot write notification state; delivering from memory (a restart "
                      "now would lose what is not delivered yet)",
                      extra={"op": op, "state_dir": str(self._state_dir), "error": repr(exc)})

    def ok(self, op: str) -> None:
        """A write of ``op`` succeeded: the problem ends once HOLD passed without failures."""
        now = self._clock()
        with self._lock:
            failing = self._failing.get(op)
            if failing is None or now - failing[1] < self.HOLD:
                return
            del self._failing[op]
        log.info("notification state written again", extra={"op": op})

    def problem(self) -> str:
        """"" when healthy, else one line saying what cannot be written and why."""
        now = self._clock()
        with self._lock:
            for op in [op for op, (_, at) in self._failing.items() if now - at >= self.HOLD]:
                del self._failing[op]
            if not self._failing:
                return ""
            what = "; ".join(f"{op}: {err}" for op, (err, _) in sorted(self._failing.items()))
        return (f"notification state in {self._state_dir} cannot be written ({what}); "
                f"reported until {self.HOLD:.0f} s pass without a failed write")


class Lane:
    """The workers and in-memory pending list of one (receiver, integration)."""

    def __init__(self, key: tuple[str, int], queue: Queue, hooks: HookLookup,
                 metrics: NotifyMetrics, clock: Callable[[], float], workers: int,
                 storage: StorageHealth | None = None) -> None:
        self.key = key
        self._queue = queue
        self._storage = storage
        self._hooks = hooks
        self._metrics = metrics
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: list[Notification] = []  # ordered by id
        self._busy_groups: set[str] = set()
        self._stopping = False
        self._threads = [threading.Thread(target=self._run, daemon=True,
                                          name=f"notify-lane-{key[0]}-{key[1]}-{i}")
                         for i in range(workers)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def add(self, items: Iterable[Notification]) -> None:
        with self._cond:
            self._pending.extend(items)
            self._pending.sort(key=lambda n: n.id)
            self._cond.notify_all()

    def stats(self) -> LaneStats:
        now = self._clock()
        with self._cond:
            oldest = min((n.created_at for n in self._pending), default=now)
            return LaneStats(self.key[0], len(self._pending), max(0.0, now - oldest))

    def _pick(self, now: float) -> tuple[Notification | None, float]:
        """The first due notification whose group has no earlier one pending or in flight."""
        seen: set[str] = set()
        wake_at = now + 1.0
        for n in self._pending:
            if n.group_key in seen:
                continue
            seen.add(n.group_key)
            if n.group_key in self._busy_groups:
                continue
            if n.next_attempt_at <= now:
                return n, now
            wake_at = min(wake_at, n.next_attempt_at)
        return None, wake_at

    def _run(self) -> None:
        session = ClientSession()
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = self._clock()
                item, wake_at = self._pick(now)
                if item is None:
                    self._cond.wait(timeout=max(0.005, wake_at - now))
                    continue
                self._busy_groups.add(item.group_key)
            try:
                finished = self._attempt(session, item)
            except Exception:  # counted and logged; the row stays queued
                self._metrics.errors.labels("worker").inc()
                log.exception("delivery worker error", extra={"receiver": item.receiver})
                item.next_attempt_at = self._clock() + 5.0
                finished = False
            with self._cond:
                self._busy_groups.discard(item.group_key)
                if finished:
                    self._pending.remove(item)
                self._cond.notify_all()

    def _attempt(self, session: ClientSession, n: Notification) -> bool:
        """One attempt and its bookkeeping; True when the row left the queue."""
        receiver = n.receiver
        hook = self._hooks(n.receiver, n.integration)
        now = self._clock()
        if hook is None:
            n.last_error = "receiver or integration no longer configured"
            self._give_up(n, now)
            return True
        started = time.monotonic()
        outcome = send(session, n, hook, now)
        self._metrics.attempt_seconds.labels(receiver).observe(time.monotonic() - started)
        self._metrics.attempts.labels(receiver, outcome.reason).inc()
        n.attempts += 1
        now = self._clock()
        step = next_step(outcome, n.attempts, now - n.created_at, hook.max_attempts, hook.max_age)
        if step.action is Action.DONE:
            self._record(self._queue.delivered, n)
            self._metrics.notifications.labels(receiver, "delivered").inc()
            self._metrics.delivery_seconds.labels(receiver).observe(max(0.0, now - n.created_at))
            log.debug("notification delivered", extra={
                "receiver": receiver, "integration": n.integration, "attempts": n.attempts,
                "idempotency_key": n.idempotency_key})
            return True
        n.last_error = step.why
        if step.action is Action.GIVE_UP:
            self._give_up(n, now)
            return True
        n.next_attempt_at = now + step.delay
        self._record(self._queue.retry_later, n)
        log.warning("notification attempt failed, will retry", extra={
            "receiver": receiver, "integration": n.integration, "reason": outcome.explained,
            "attempts": n.attempts, "retry_in": round(step.delay, 3),
            "idempotency_key": n.idempotency_key})
        return False

    def _record(self, write: Callable[[Notification], None], n: Notification) -> None:
        """Write an attempt's outcome to the queue; a notification held only in memory
        (id 0: stored while the disk was full) has no row, and a failing write is
        counted rather than turning a delivered notification into a retry loop."""
        if n.id == 0:
            return
        try:
            write(n)
        except STORAGE_ERRORS as exc:
            if self._storage is None:
                raise
            self._storage.failed("delivery", exc, self._clock())
        else:
            if self._storage is not None:
                self._storage.ok("delivery")

    def _give_up(self, n: Notification, now: float) -> None:
        self._record(lambda item: self._queue.dead(item, now), n)
        self._metrics.notifications.labels(n.receiver, "failed").inc()
        log.error("notification delivery failed, kept as dead letter", extra={
            "receiver": n.receiver, "integration": n.integration, "reason": n.last_error,
            "attempts": n.attempts, "idempotency_key": n.idempotency_key,
            "group_key": n.group_key})


class Deliverer:
    """All lanes; ``submit`` hands over notifications already committed to the queue."""

    def __init__(self, queue: Queue, hooks: HookLookup, metrics: NotifyMetrics,
                 clock: Callable[[], float] = time.time, workers: int = LANE_WORKERS,
                 storage: StorageHealth | None = None) -> None:
        self.queue = queue
        self._storage = storage
        self._hooks = hooks
        self._metrics = metrics
        self._clock = clock
        self._workers = workers
        self._lanes: dict[tuple[str, int], Lane] = {}
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> None:
        """Start lanes and resume every pending row left by a previous run."""
        with self._lock:
            self._running = True
        self.queue.forget_old_dead_letters(self._clock())
        self.submit(self.queue.pending())

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._running = False
            lanes = list(self._lanes.values())
            self._lanes.clear()
        for lane in lanes:
            lane.stop()
        for lane in lanes:
            lane.join(timeout / max(1, len(lanes)))

    def submit(self, items: Iterable[Notification]) -> None:
        by_lane: dict[tuple[str, int], list[Notification]] = {}
        for n in items:
            by_lane.setdefault(n.lane, []).append(n)
        with self._lock:
            if not self._running:
                return  # stays in the queue table; start() picks it up
            for key, batch in by_lane.items():
                lane = self._lanes.get(key)
                if lane is None:
                    lane = Lane(key, self.queue, self._hooks, self._metrics, self._clock,
                                self._workers, self._storage)
                    self._lanes[key] = lane
                    lane.start()
                lane.add(batch)

    def lane_stats(self) -> list[LaneStats]:
        with self._lock:
            lanes = list(self._lanes.values())
        return [lane.stats() for lane in lanes]
