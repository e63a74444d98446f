"""Plain-text pieces the chat formats share: the title line and one line per alert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IDENTITY_LABELS = ("alertname", "device", "address", "site")


def title(data: Mapping[str, Any], override: str = "") -> str:
    """``[FIRING:3] DeviceDown site=Kharagauli`` (Alertmanager's default title shape);
    an escalation's starts with ``[ESCALATED:1]`` (its level)."""
    level = data.get("escalationLevel")
    escalated = f"[ESCALATED:{level}] " if level else ""
    if override:
        return escalated + override
    alerts = data["alerts"]
    firing = sum(1 for a in alerts if a["status"] == "firing") + (
        data["truncatedAlerts"] if data["status"] == "firing" else 0)
    status = f"FIRING:{firing}" if data["status"] == "firing" else "RESOLVED"
    group = " ".join(f"{k}={v}" for k, v in sorted(data["groupLabels"].items()))
    name = data["commonLabels"].get("alertname", "")
    if name and f"alertname={name}" in group:
        group = group.replace(f"alertname={name}", "").strip()
    return escalated + " ".join(p for p in (f"[{status}]", name, group) if p)


def alert_line(alert: Mapping[str, Any]) -> str:
    """The summary a person reads, falling back to the alert's identifying labels."""
    ann = alert["annotations"]
    text = ann.get("summary") or ann.get("description") or ann.get("message")
    if not text:
        labels = alert["labels"]
        text = " ".join(f"{k}={labels[k]}" for k in IDENTITY_LABELS if k in labels) or \
            " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    mark = "RESOLVED" if alert["status"] == "resolved" else "FIRING"
    return f"{mark}: {text}"


def more_line(data: Mapping[str, Any]) -> str:
    """``… and 12 more`` when ``max_alerts`` truncated the list, else ``""``."""
    n = data["truncatedAlerts"]
    return f"… and {n} more" if n else ""
