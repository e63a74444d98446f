"""One SNMP poll of one device: what to ask, and the immutable result.

:func:`poll_device` talks to the agent through :class:`~exporter.snmp.client.SnmpClient`
and returns a :class:`PollResult`; the small decisions around it (is a names refresh
due, did the device reboot) are pure functions with the clock passed in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from exporter.snmp import ifmib
from exporter.snmp.client import ERROR_REASONS, Session, SnmpClient, SnmpError, Value
from exporter.snmp.settings import SnmpSettings

log = logging.getLogger(__name__)

# "device_down": failures while ICMP says the device is down (not SNMP's fault, so kept
# apart from the reasons that need an engineer); "internal": a bug, logged with traceback.
POLL_ERROR_REASONS = (*ERROR_REASONS, "device_down", "internal")


@dataclass(frozen=True)
class SysInfo:
    """SNMPv2-MIB system group values."""

    name: str
    descr: str
    object_id: str


@dataclass(frozen=True)
class NamesCache:
    """The slowly changing tables, kept between polls and refreshed every names_interval."""

    fetched_at: float  # monotonic
    sys: SysInfo
    interfaces: dict[int, ifmib.SelectedInterface]  # the selected ones
    known: frozenset[int]  # every ifIndex the names walk saw, selected or not
    hc: bool = True  # the agent has 64-bit ifHC*Octets


@dataclass(frozen=True)
class PollResult:
    """The outcome of one poll. ``error`` is a reason label when the poll failed."""

    finished_at: float  # Unix time
    duration: float
    error: str | None = None
    uptime_ticks: int | None = None
    names: NamesCache | None = None
    counters: dict[int, ifmib.InterfaceCounters] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        """True when the agent answered the whole poll."""
        return self.error is None


def names_due(names: NamesCache | None, settings: SnmpSettings, now: float) -> bool:
    """A names refresh is due when there are none yet or names_interval has passed."""
    return names is None or now - names.fetched_at >= settings.names_interval


def rebooted(previous_ticks: int | None, ticks: int) -> bool:
    """sysUpTime went backwards: the agent restarted (or sysUpTime wrapped after 497 days),
    and ifIndex numbering may have changed with it."""
    return previous_ticks is not None and ticks < previous_ticks


def _number(value: Value) -> float | None:
    if isinstance(value, int):
        return float(value)
    if isinstance(value, str):  # some agents return "37.5" as an OCTET STRING
        try:
            return float(value)
        except ValueError:
            return None
    return None


async def _fetch_names(client: SnmpClient, session: Session, settings: SnmpSettings,
                       system: dict[tuple[int, ...], Value], now: float) -> NamesCache:
    table = await client.walk(session, ifmib.NAME_COLUMNS, settings.max_repetitions)
    sys = SysInfo(name=str(system.get(ifmib.SYS_NAME) or ""),
                  descr=str(system.get(ifmib.SYS_DESCR) or ""),
                  object_id=str(system.get(ifmib.SYS_OBJECT_ID) or ""))
    infos = ifmib.parse_names(table)
    return NamesCache(fetched_at=now, sys=sys, interfaces=ifmib.select_interfaces(infos, settings),
                      known=frozenset(infos))


async def poll_device(client: SnmpClient, session: Session, settings: SnmpSettings,
                      names: NamesCache | None, last_ticks: int | None) -> PollResult:
    """Poll one device once; raises :class:`SnmpError` when the agent fails.

    ``names`` and ``last_ticks`` come from the last successful poll (None at first).

    Every poll: one GET (sysUpTime and the configured scalars) and one multi-column walk
    of the status and counter columns. Every ``names_interval``, after a reboot, or when
    a new ifIndex shows up: also sysName/sysDescr/sysObjectID and the names columns.
    """
    start = time.monotonic()
    refresh = names_due(names, settings, start)
    oids = [ifmib.SYS_UPTIME, *(spec.oid for spec in settings.scalars)]
    if refresh:
        oids += [ifmib.SYS_NAME, ifmib.SYS_DESCR, ifmib.SYS_OBJECT_ID]
    values = await client.get(session, oids)
    ticks = values.get(ifmib.SYS_UPTIME)
    if not isinstance(ticks, int):
        raise SnmpError("protocol", "agent has no sysUpTime.0")
    if not refresh and rebooted(last_ticks, ticks):
        refresh = True
        values.update(await client.get(session, [ifmib.SYS_NAME, ifmib.SYS_DESCR,
                                                 ifmib.SYS_OBJECT_ID]))
    if refresh or names is None:
        names = await _fetch_names(client, session, settings, values, start)
    counters = await _fetch_counters(client, session, settings, names)
    if names.hc and counters and all(c.in_octets is None for c in counters.values()):
        # No ifHCInOctets rows: an agent without 64-bit counters. Remember and re-walk.
        names = NamesCache(names.fetched_at, names.sys, names.interfaces, names.known, hc=False)
        counters = await _fetch_counters(client, session, settings, names)
    if set(counters) - names.known and not refresh:
        # An ifIndex we have no name for yet: re-read names on the next poll (not now,
        # to keep this poll's cost bounded).
        names = NamesCache(float("-inf"), names.sys, names.interfaces, names.known, names.hc)
    scalars = {}
    for spec in settings.scalars:
        number = _number(values.get(spec.oid))
        if number is not None:
            scalars[spec.name] = number
    return PollResult(finished_at=time.time(), duration=time.monotonic() - start,
                      uptime_ticks=ticks, names=names,
                      counters={i: c for i, c in counters.items() if i in names.interfaces},
                      scalars=scalars)


async def _fetch_counters(client: SnmpClient, session: Session, settings: SnmpSettings,
                          names: NamesCache) -> dict[int, ifmib.InterfaceCounters]:
    columns = ifmib.COUNTER_COLUMNS_HC if names.hc else ifmib.COUNTER_COLUMNS_32
    table = await client.walk(session, columns, settings.max_repetitions)
    return ifmib.parse_counters(table, hc=names.hc)
