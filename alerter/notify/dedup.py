"""Whether a group's notification must go out: the notification-log decision.

A pure function of the last notification sent for (group, integration) and what would
be sent now, with the time injected, as Alertmanager's ``DedupStage.needsUpdate``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class LogEntry:
    """What was last notified for one group and integration, and when."""

    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp: float


class Reason(enum.Enum):
    """Why a notification is (or is not) sent; only the ``SEND_*`` values send."""

    SEND_NEW = "new"                       # nothing notified yet, something fires
    SEND_FIRING_CHANGED = "firing_changed"  # an alert fires that was not notified
    SEND_RESOLVED = "resolved"             # a notified alert resolved (send_resolved)
    SEND_REPEAT = "repeat"                 # unchanged, but repeat_interval has passed
    SEND_ALL_RESOLVED = "all_resolved"     # everything notified has resolved
    SKIP_NOTHING = "nothing"               # nothing firing, nothing notified
    SKIP_UNCHANGED = "unchanged"           # same as last time, repeat not due
    SKIP_ACKED = "acked"                   # repeat due, but every firing alert is acked
    SKIP_MUTED = "muted"                   # what was notified still fires, but is muted now

    @property
    def send(self) -> bool:
        return self.name.startswith("SEND_")


def needs_update(entry: LogEntry | None, firing: frozenset[str], resolved: frozenset[str],
                 send_resolved: bool, repeat_interval: float, now: float,
                 acked: frozenset[str] = frozenset(),
                 muted: frozenset[str] = frozenset()) -> Reason:
    """Decide for one integration; ``firing``/``resolved`` are fingerprints after muting,
    ``acked`` the firing ones someone acknowledged (they only hold back repeats),
    ``muted`` the still-firing ones a silence or inhibition holds back now.

    A muted alert the receiver was already told about is still firing, so it neither
    counts as resolved now nor as news when the silence ends: until it changes, only
    ``repeat_interval`` sends it again.
    """
    if entry is None:
        return Reason.SEND_NEW if firing else Reason.SKIP_NOTHING
    if not firing <= entry.firing:
        return Reason.SEND_FIRING_CHANGED
    if not firing and not muted & entry.firing:
        # Everything resolved. Tell the receiver only if it was told something fired;
        # alerts that fired and resolved between two flushes are never announced.
        return Reason.SEND_ALL_RESOLVED if entry.firing else Reason.SKIP_NOTHING
    if send_resolved and not resolved <= entry.resolved:
        return Reason.SEND_RESOLVED
    if not firing:
        return Reason.SKIP_MUTED
    if now - entry.timestamp >= repeat_interval:
        return Reason.SKIP_ACKED if firing <= acked else Reason.SEND_REPEAT
    return Reason.SKIP_UNCHANGED


def logged_entry(entry: LogEntry | None, firing: frozenset[str], resolved: frozenset[str],
                 muted: frozenset[str], now: float) -> LogEntry:
    """The log entry for a notification sent now: what the receiver knows afterwards.

    Muted alerts it was told about before still fire as far as it knows, so they stay in
    the entry; dropping them would make the end of a silence look like news.
    """
    told = entry.firing if entry is not None else frozenset()
    return LogEntry(firing | (muted & told), resolved, now)
