"""The ``alertmanager`` format: Alertmanager's webhook payload, version "4", unchanged.

Also builds the payload every other format renders from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alerter.model import Alert
from alerter.notify.formats.rendered import Rendered

if TYPE_CHECKING:  # annotations only: the formats must not import the config at run time
    from alerter.notify.config import WebhookConfig

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what Alertmanager sends for "unset"


def rfc3339(ts: float | None) -> str:
    """Unix seconds as RFC 3339 UTC like Go's RFC3339Nano (trailing zeros trimmed)."""
    if not ts:
        return ZERO_TIME
    dt = datetime.fromtimestamp(ts, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + "Z"


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    common = dict(maps[0])
    for m in maps[1:]:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return common


def sort_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """Alertmanager's order (``types.AlertSlice``): by the ``job`` label, then
    ``instance`` (an alert without one after those with it), then the sorted label set."""
    def key(a: Alert) -> tuple[Any, ...]:
        return (*((name not in a.labels, a.labels.get(name, "")) for name in ("job", "instance")),
                sorted(a.labels.items()))
    return sorted(alerts, key=key)


def _truncate(ordered: list[Alert], max_alerts: int) -> list[Alert]:
    """The first ``max_alerts`` alerts, firing ones first (Alertmanager cuts in its order,
    which may drop a firing alert for a resolved one): shown in Alertmanager's order."""
    if not max_alerts or len(ordered) <= max_alerts:
        return ordered
    keep = {id(a) for a in sorted(ordered, key=lambda a: a.resolved)[:max_alerts]}
    return [a for a in ordered if id(a) in keep]


def build_payload(*, receiver: str, group_key: str, group_labels: Mapping[str, str],
                  alerts: Sequence[Alert], external_url: str, max_alerts: int = 0,
                  sequence: int = 0, escalation_level: int = 0) -> dict[str, Any]:
    """The version-4 payload; ``max_alerts`` > 0 truncates ``alerts`` (``truncatedAlerts``).

    ``sequence`` > 0 adds wardops's ordering number, ``escalation_level`` > 0 the level of
    an escalation (fields Alertmanager does not send; its consumers ignore unknown
    fields)."""
    ordered = sort_alerts(alerts)
    shown = _truncate(ordered, max_alerts)
    return {
        "version": "4",
        "receiver": receiver,
        "status": "firing" if any(not a.resolved for a in alerts) else "resolved",
        "alerts": [{
            "status": "resolved" if a.resolved else "firing",
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "startsAt": rfc3339(a.starts_at),
            "endsAt": rfc3339(a.ends_at if a.resolved else None),
            "generatorURL": a.generator_url,
            "fingerprint": a.fingerprint,
        } for a in shown],
        "groupLabels": dict(group_labels),
        # over the alerts sent, as Alertmanager computes them after max_alerts truncates
        "commonLabels": _common([a.labels for a in shown]),
        "commonAnnotations": _common([a.annotations for a in shown]),
        "externalURL": external_url,
        "groupKey": group_key,
        "truncatedAlerts": len(ordered) - len(shown),
        **({"sequence": sequence} if sequence else {}),
        **({"escalationLevel": escalation_level} if escalation_level else {}),
    }


def render(data: Mapping[str, Any], hook: WebhookConfig, templates: Mapping[str, str]) -> Rendered:
    """The payload as JSON."""
    return Rendered(json.dumps(data, ensure_ascii=False).encode(),
                    {"Content-Type": "application/json"})
