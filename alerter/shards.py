"""One exporter target down freezes only its own devices' alerts (``--shard K/N``).

With several exporters, a data problem of one target (``exporter_down`` or
``probes_stale`` with its ``job``/``instance``) says nothing about the devices the other
exporters serve. ``ShardFreeze`` decides, per alert, whether it belongs to a failing
target: by its own ``instance`` label, else by its ``device``/``address`` (which target
reported that device's probes within the last hour), else by its ``site`` (any device
of the site on a failing target). An alert that cannot be attributed is frozen: when in
doubt, nothing resolves.

Frozen alerts keep their state (nothing resolves); while a target waits for a fresh
scrape after its outage, its devices raise no new alerts either (Prometheus still holds
samples from before the outage). Every other alert is evaluated as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from alerter.config import DataHealth
from alerter.health import Cause
from alerter.promapi import QueryError, Sample

Target = tuple[str, str]  # (job, instance)
OWNERSHIP_WINDOW = "1h"


@dataclass(frozen=True)
class ShardFreeze:
    """Which alerts the per-target causes of one cycle freeze."""

    frozen: frozenset[Target]
    awaiting: frozenset[Target]
    devices: Mapping[tuple[str, str], frozenset[Target]] = field(default_factory=dict)
    sites: Mapping[str, frozenset[Target]] = field(default_factory=dict)

    @classmethod
    def build(cls, query: Callable[[str, float], list[Sample]], causes: Iterable[Cause],
              health: DataHealth, now: float) -> ShardFreeze | None:
        """None when no cause concerns a single target (then nothing extra freezes)."""
        mine = [c for c in causes if c.target is not None]
        if not mine:
            return None
        frozen = frozenset(c.target for c in mine if c.target is not None)
        awaiting = frozenset(c.target for c in mine if c.target is not None and c.awaiting_scrape)
        devices: dict[tuple[str, str], set[Target]] = {}
        sites: dict[str, set[Target]] = {}
        if health.probe_timestamp:
            expr = (f"max by (job, instance, device, address, site) "
                    f"(last_over_time({health.probe_timestamp}[{OWNERSHIP_WINDOW}]))")
            try:
                samples = query(expr, now)
            except QueryError:
                samples = []  # nothing attributable: every alert freezes
            for s in samples:
                target = (s.labels.get("job", ""), s.labels.get("instance", ""))
                devices.setdefault((s.labels.get("device", ""), s.labels.get("address", "")),
                                   set()).add(target)
                if "site" in s.labels:
                    sites.setdefault(s.labels["site"], set()).add(target)
        return cls(frozen, awaiting, {k: frozenset(v) for k, v in devices.items()},
                   {k: frozenset(v) for k, v in sites.items()})

    def owners(self, labels: Mapping[str, str]) -> frozenset[Target] | None:
        """The targets an alert's data comes from; None if that cannot be told."""
        if "instance" in labels:
            return frozenset({(labels.get("job", ""), labels["instance"])})
        if "device" in labels:
            return self.devices.get((labels["device"], labels.get("address", "")))
        if "site" in labels:
            return self.sites.get(labels["site"])
        return None

    def freezes(self, labels: Mapping[str, str]) -> bool:
        """Is this alert's state frozen (no resolve) this cycle?"""
        owners = self.owners(labels)
        return owners is None or bool(owners & self.frozen)

    def blocks_new(self, labels: Mapping[str, str]) -> bool:
        """May this alert not be raised now (its target awaits a fresh scrape)?"""
        if not self.awaiting:
            return False
        owners = self.owners(labels)
        return owners is None or bool(owners & self.awaiting)
