"""Notification: from evaluated alerts to delivered webhooks.

PLACEHOLDER with the interface evaluation and the app use; the real pipeline
(inhibit → silence/ack → group/wait → dedup → durable delivery with retry) replaces it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alerter.model import Alert
from alerter.notify.config import NotifyConfig


class NotificationPipeline:
    """Takes every evaluation's alerts and delivers notifications in its own threads.

    ``process`` is called after every evaluation cycle with every alert that is firing,
    plus the alerts resolved in that cycle (``state == "resolved"``, ``ends_at`` set),
    including the alerter's own ``MonitoringDegraded``. It does no network I/O and is
    thread-safe.
    """

    def __init__(self, config: NotifyConfig, state_dir: Path, *, external_url: str,
                 registry: Any = None) -> None:
        self.config = config
        self.state_dir = state_dir
        self.external_url = external_url
        self._lock = threading.Lock()
        self.last_alerts: list[Alert] = []

    def start(self) -> None:
        """Start delivery workers (resumes undelivered notifications from state_dir)."""

    def stop(self) -> None:
        """Stop workers; undelivered notifications stay queued on disk."""

    def process(self, alerts: list[Alert]) -> None:
        """Hand over one evaluation cycle's alerts."""
        with self._lock:
            self.last_alerts = list(alerts)

    def reload(self, config: NotifyConfig) -> None:
        """Switch to a new, already validated config."""
        self.config = config
