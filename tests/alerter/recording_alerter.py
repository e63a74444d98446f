"""The real alerter process (``alerter.cli.main``) with the notification pipeline replaced
by a recorder: each ``process()`` batch is appended to ``$WARDOPS_RECORD`` as one JSON line
and fsynced, so a test can see exactly what reached notification, even across kill -9.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import alerter.app
from alerter.model import Alert


class _Storage:
    """The pipeline's storage health, as /-/healthy reads it: the file is always written."""

    def problem(self) -> str:
        return ""


class RecordingPipeline:
    """Same constructor and methods as ``alerter.notify.NotificationPipeline``."""

    def __init__(self, config: Any, state_dir: Path, *, external_url: str,
                 registry: Any = None) -> None:
        self.path = Path(os.environ["WARDOPS_RECORD"])
        self.storage = _Storage()

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""

    def reload(self, config: Any) -> None:
        """Nothing to reload."""

    def pending_resolves(self) -> set[str]:
        """Recorded resolves count as flushed (the file is fsynced)."""
        return set()

    def process(self, alerts: list[Alert]) -> None:
        line = json.dumps({"pid": os.getpid(), "alerts": [
            {"fp": a.fingerprint, "name": a.name, "device": a.labels.get("device"),
             "state": a.state, "starts_at": a.starts_at, "ends_at": a.ends_at}
            for a in alerts]})
        with self.path.open("a") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


alerter.app.NotificationPipeline = RecordingPipeline  # type: ignore[misc,assignment]

if __name__ == "__main__":
    from alerter.cli import main

    sys.exit(main())
