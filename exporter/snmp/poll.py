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
from exporter.snmp.client import ERROR_REASONS, OID, Session, SnmpClient, SnmpError, Value
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


def _sys_info(values: dict[OID, Value]) -> SysInfo:
    return SysInfo(name=str(values.get(ifmib.SYS_NAME) or ""),
                   descr=str(values.get(ifmib.SYS_DESCR) or ""),
                   object_id=str(values.get(ifmib.SYS_OBJECT_ID) or ""))


def _names_cache(table: ifmib.Table, sys: SysInfo, settings: SnmpSettings, hc: bool,
                 now: float) -> NamesCache:
    infos = ifmib.parse_names(table)
    return NamesCache(fetched_at=now, sys=sys, interfaces=ifmib.select_interfaces(infos, settings),
                      known=frozenset(infos), hc=hc)


async def poll_device(client: SnmpClient, session: Session, settings: SnmpSettings,
                      names: NamesCache | None, last_ticks: int | None) -> PollResult:
    """Poll one device once; raises :class:`SnmpError` when the agent fails.

    ``names`` and ``last_ticks`` come from the last successful poll (None at first).
    A steady poll is ONE GETBULK: sysUpTime as a non-repeater plus exactly the known
    rows of the status and counter columns. Every ``names_interval`` (or after a
    reboot, or when an unknown ifIndex appears) the names columns and sysName/Descr/
    ObjectID ride along in the same request. The first poll GETs ifNumber first, to size
    the repetitions. Configured scalars cost one GET.
    """
    start = time.monotonic()
    refresh = names_due(names, settings, start)
    hc = names.hc if names is not None else True
    sys_values: dict[OID, Value] = {}
    if names is None:
        sys_values = await client.get(session, [ifmib.IF_NUMBER, *ifmib.SYS_ALL])
        if_number = sys_values.get(ifmib.IF_NUMBER)
        rows = (if_number if isinstance(if_number, int) and if_number > 0
                else settings.max_repetitions)
    else:
        rows = len(names.known)
    sys_wanted = ([] if names is None
                  else [ifmib.SYS_UPTIME, *(ifmib.SYS_ALL[1:] if refresh else ())])
    columns = (ifmib.COUNTER_COLUMNS_HC if hc else ifmib.COUNTER_COLUMNS_32)
    if refresh:
        columns += ifmib.NAME_COLUMNS
    # Steady polls ask for exactly the known number of rows (no row past the end);
    # a names refresh asks for one more, so it sees where the table ends.
    repetitions = min(settings.max_repetitions, rows if not refresh else rows + 1)
    successors, table = await client.walk(session, columns, repetitions,
                                          next_of=[oid[:-1] for oid in sys_wanted],
                                          rows=None if refresh else rows)
    sys_values.update(successors)
    ticks = sys_values.get(ifmib.SYS_UPTIME)
    if not isinstance(ticks, int):
        raise SnmpError("protocol", "agent has no sysUpTime.0")
    if not refresh and rebooted(last_ticks, ticks):
        # ifIndex numbering may have changed with the restart: re-read the names now.
        refresh = True
        more, names_table = await client.walk(session, ifmib.NAME_COLUMNS, repetitions + 1,
                                              next_of=[oid[:-1] for oid in ifmib.SYS_ALL[1:]])
        sys_values.update(more)
        table = {**table, **names_table}
    if hc and ifmib.lacks_hc_counters(table):
        hc = False  # remembered in the names cache: later polls walk the 32-bit columns
        _, octets = await client.walk(session, ifmib.OCTET_COLUMNS_32, repetitions)
        table = {**table, **octets}
    if refresh or names is None:
        names = _names_cache(table, _sys_info(sys_values), settings, hc, start)
    counters = ifmib.parse_counters(table, hc=hc)
    if set(counters) - names.known:
        # An ifIndex we have no name for yet: re-read names on the next poll.
        names = NamesCache(float("-inf"), names.sys, names.interfaces, names.known, names.hc)
    scalars = {}
    if settings.scalars:
        values = await client.get(session, [spec.oid for spec in settings.scalars])
        for spec in settings.scalars:
            number = _number(values.get(spec.oid))
            if number is not None:
                scalars[spec.name] = number
    return PollResult(finished_at=time.time(), duration=time.monotonic() - start,
                      uptime_ticks=ticks, names=names,
                      counters={i: c for i, c in counters.items() if i in names.interfaces},
                      scalars=scalars)
