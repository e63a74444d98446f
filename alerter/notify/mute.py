"""The mute stage: drop the alerts an inhibition or a silence mutes, and count them.

Inhibitor, silences and acks all answer one question, ``muted_by(alert) -> [ids]``, so
one stage serves inhibition and silences (as Alertmanager's ``MuteStage`` serves its
muters) and the API shows all three. Acks are different: an acked alert stays in its
group's notifications and only holds back repeats, which the dedup stage decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alerter.model import Alert

MuteCheck = Callable[[Alert], list[str]]


@dataclass(frozen=True)
class Muter:
    """A named mute check; ``reason`` is the ``notifications_suppressed_total`` label."""

    reason: str  # inhibited | silenced | acked
    muted_by: MuteCheck


def mute_stage(alerts: Sequence[Alert], muters: Sequence[Muter],
               count: Callable[[str, int], None]) -> list[Alert]:
    """The alerts no muter mutes; ``count(reason, n)`` is told how many each one took."""
    kept = list(alerts)
    for muter in muters:
        remaining = [a for a in kept if not muter.muted_by(a)]
        if len(remaining) != len(kept):
            count(muter.reason, len(kept) - len(remaining))
        kept = remaining
    return kept


def mute_status(alert: Alert, muters: Sequence[Muter]) -> dict[str, list[str]]:
    """Every muter's verdict on ``alert`` (for the API), e.g. ``{"silenced": ["<id>"]}``."""
    return {m.reason: m.muted_by(alert) for m in muters}
