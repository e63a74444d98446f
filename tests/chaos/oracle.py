"""The chaos test's oracle: what the receiver believes, against the ground truth.

Pure: it reads the truth (each device's real outages, the windows in which data was
missing) and what the receiver got (the sink's JSONL records), and returns violations.

The receiver's belief is built as a careful receiver builds it: a notification whose
``X-Wardops-Sequence`` is not above the last applied for its ``groupKey`` is stale and
ignored; a repeated ``Idempotency-Key`` is dropped. Then, per DeviceDown alert (device):

- **false resolve**: a resolve whose decision time (its ``endsAt``) falls where the
  device was down throughout ``[endsAt - tolerance, endsAt]``: the device was never seen
  up, yet "resolved" was said;
- **lost firing**: an outage with at least ``must_see`` seconds outside the data gaps got
  no applied firing between its start and its end plus ``budget``;
- **lost resolve / final belief**: at the end (all devices up, settled) an alert is still
  believed firing;
- **duplicate**: two applied notifications in a row with the same status for one alert,
  less than ``repeat_interval`` apart (a firing alert is re-notified once that long has
  passed: the reminder is promised, not a duplicate): a receiver deduplicating on
  ``Idempotency-Key`` would have shown it twice;
- **degraded missing**: a data gap of at least ``must_see`` seconds with no applied
  MonitoringDegraded firing between its start and its end plus ``budget``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

Interval = tuple[float, float]


@dataclass(frozen=True)
class Event:
    """One alert of one applied notification."""

    at: float            # received
    status: str          # firing | resolved
    alertname: str
    subject: str         # device, or MonitoringDegraded's cause
    ends_at: float | None


@dataclass(frozen=True)
class Truth:
    """What really happened."""

    outages: Mapping[str, Sequence[Interval]]   # device → real down intervals
    gaps: Sequence[Interval]                    # data missing (exporter/Prometheus/alerter down)
    end: float                                  # every device up from here on


def _time(text: object) -> float | None:
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _subject(labels: Mapping[str, object]) -> str:
    """What an alert is about: its device, else its other identifying labels (e.g.
    MonitoringDegraded's cause and rule), so that two alerts are never taken for one."""
    if labels.get("device"):
        return str(labels["device"])
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())
                    if k not in ("alertname", "severity"))


def applied_events(records: Iterable[Mapping[str, object]]) -> tuple[list[Event], int, int]:
    """The alerts a careful receiver applies, in arrival order; with counts of stale and
    duplicate notifications it ignored."""
    last: dict[tuple[object, object], int] = {}
    keys: set[str] = set()
    events: list[Event] = []
    stale = duplicates = 0
    for record in sorted(records, key=lambda r: float(r["received_at"])):  # type: ignore[arg-type]
        if record.get("verdict") == "rejected":
            continue
        headers = {str(k).lower(): str(v) for k, v in dict(record["headers"]).items()}  # type: ignore[call-overload]
        payload = record["payload"]
        if not isinstance(payload, Mapping):
            continue
        key = headers.get("idempotency-key", "")
        if key and key in keys:
            duplicates += 1
            continue
        group = (record.get("path"), payload.get("groupKey"))
        sequence = headers.get("x-wardops-sequence") or str(payload.get("sequence", ""))
        if sequence.isdigit():
            if int(sequence) <= last.get(group, 0):
                stale += 1
                continue
            last[group] = int(sequence)
        if key:
            keys.add(key)
        for alert in payload.get("alerts") or []:
            labels = alert.get("labels") or {}
            events.append(Event(
                at=float(record["received_at"]),  # type: ignore[arg-type]
                status=str(alert.get("status")), alertname=str(labels.get("alertname")),
                subject=_subject(labels),
                ends_at=_time(alert.get("endsAt"))))
    return events, stale, duplicates


def _down_throughout(outages: Sequence[Interval], start: float, end: float) -> bool:
    return any(a <= start and end <= b for a, b in outages)


def _outside(interval: Interval, gaps: Sequence[Interval]) -> float:
    """Seconds of ``interval`` not covered by any gap."""
    start, end = interval
    covered = 0.0
    for a, b in sorted(gaps):
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            covered += hi - lo
    return max(0.0, end - start - covered)


def violations(truth: Truth, events: Sequence[Event], *, budget: float = 30.0,
               must_see: float = 12.0, tolerance: float = 3.0,
               repeat_interval: float = 3600.0) -> list[str]:
    """Every way the receiver's belief departs from the truth (empty: it never lied).

    ``repeat_interval``: the route's; a firing alert notified again that long after its
    last notification is the promised reminder, not a duplicate (the hour-long soak met
    the always-firing Watchdog's first reminder)."""
    found: list[str] = []
    by_alert: dict[tuple[str, str], list[Event]] = {}
    for event in events:
        by_alert.setdefault((event.alertname, event.subject), []).append(event)

    for (name, subject), stream in sorted(by_alert.items()):
        for before, after in zip(stream, stream[1:], strict=False):
            reminder = after.status == "firing" and after.at - before.at >= repeat_interval
            if before.status == after.status and not reminder:
                found.append(f"duplicate: {after.status} {name} {subject} at {after.at:.1f} "
                             f"(also at {before.at:.1f})")
        if name != "DeviceDown":
            continue
        outages = truth.outages.get(subject, ())
        for event in stream:
            if event.status == "resolved" and event.ends_at is not None and _down_throughout(
                    outages, event.ends_at - tolerance, event.ends_at):
                found.append(f"false resolve: DeviceDown {subject} resolved at "
                             f"{event.ends_at:.1f} while it was down")
        if stream and stream[-1].status == "firing":
            found.append(f"lost resolve: DeviceDown {subject} still believed firing at the "
                         f"end (fired {stream[-1].at:.1f}); every device is up since "
                         f"{truth.end:.1f}")

    for device, outages in sorted(truth.outages.items()):
        fired = [e.at for e in by_alert.get(("DeviceDown", device), []) if e.status == "firing"]
        for start, end in outages:
            if _outside((start, end), truth.gaps) < must_see:
                continue  # not long enough in view to require a notification
            if not any(start <= at <= end + budget for at in fired):
                found.append(f"lost firing: DeviceDown {device} down {start:.1f}..{end:.1f} "
                             "was never notified")

    degraded = [e.at for e in events
                if e.alertname == "MonitoringDegraded" and e.status == "firing"]
    for start, end in truth.gaps:
        if end - start >= must_see and not any(start <= at <= end + budget for at in degraded):
            found.append(f"degraded missing: data missing {start:.1f}..{end:.1f} without a "
                         "MonitoringDegraded")
    return found
