"""IF-MIB and SNMPv2-MIB: the OIDs wardops reads, and pure functions that turn walked
columns into interface records and pick the interfaces to export.

Nothing here talks to the network; walk results come in as
``{column_oid: {row_index: value}}`` with Python values (int, str).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exporter.snmp.settings import SnmpSettings

OID = tuple[int, ...]
Table = Mapping[OID, Mapping[OID, object]]

SYS_DESCR: OID = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_OBJECT_ID: OID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_UPTIME: OID = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME: OID = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SYS_ALL: tuple[OID, ...] = (SYS_UPTIME, SYS_NAME, SYS_DESCR, SYS_OBJECT_ID)
IF_NUMBER: OID = (1, 3, 6, 1, 2, 1, 2, 1, 0)

_IF_ENTRY: OID = (1, 3, 6, 1, 2, 1, 2, 2, 1)
_IFX_ENTRY: OID = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_DESCR = _IF_ENTRY + (2,)
IF_SPEED = _IF_ENTRY + (5,)
IF_ADMIN_STATUS = _IF_ENTRY + (7,)
IF_OPER_STATUS = _IF_ENTRY + (8,)
IF_IN_OCTETS = _IF_ENTRY + (10,)
IF_IN_DISCARDS = _IF_ENTRY + (13,)
IF_IN_ERRORS = _IF_ENTRY + (14,)
IF_OUT_OCTETS = _IF_ENTRY + (16,)
IF_OUT_DISCARDS = _IF_ENTRY + (19,)
IF_OUT_ERRORS = _IF_ENTRY + (20,)
IF_NAME = _IFX_ENTRY + (1,)
IF_HC_IN_OCTETS = _IFX_ENTRY + (6,)
IF_HC_OUT_OCTETS = _IFX_ENTRY + (10,)
IF_HIGH_SPEED = _IFX_ENTRY + (15,)
IF_ALIAS = _IFX_ENTRY + (18,)

# Read every names_interval (and after a reboot): they rarely change.
NAME_COLUMNS: tuple[OID, ...] = (IF_DESCR, IF_NAME, IF_ALIAS, IF_SPEED, IF_HIGH_SPEED)
_STATUS_COLUMNS = (IF_ADMIN_STATUS, IF_OPER_STATUS, IF_IN_DISCARDS, IF_IN_ERRORS,
                   IF_OUT_DISCARDS, IF_OUT_ERRORS)
# Read every poll. Agents without ifXTable's 64-bit counters get the 32-bit ones.
COUNTER_COLUMNS_HC: tuple[OID, ...] = _STATUS_COLUMNS + (IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS)
COUNTER_COLUMNS_32: tuple[OID, ...] = _STATUS_COLUMNS + (IF_IN_OCTETS, IF_OUT_OCTETS)
OCTET_COLUMNS_32: tuple[OID, ...] = (IF_IN_OCTETS, IF_OUT_OCTETS)

_IF_SPEED_MAX = 4294967295  # ifSpeed saturates here; ifHighSpeed (Mbit/s) takes over


@dataclass(frozen=True)
class InterfaceInfo:
    """The slowly changing part of an interface row."""

    ifindex: int
    name: str  # ifName, else ifDescr
    alias: str
    speed_bps: float | None


@dataclass(frozen=True)
class InterfaceCounters:
    """The per-poll part of an interface row; None where the agent gave nothing."""

    admin_up: bool | None
    oper_up: bool | None
    in_octets: int | None
    out_octets: int | None
    in_errors: int | None
    out_errors: int | None
    in_discards: int | None
    out_discards: int | None


@dataclass(frozen=True)
class SelectedInterface:
    """An interface chosen for export, with its ISP when it is an uplink."""

    info: InterfaceInfo
    isp: str


def _ifindex(index: OID) -> int | None:
    return index[0] if len(index) == 1 else None


def _column(table: Table, column: OID) -> dict[int, object]:
    rows: dict[int, object] = {}
    for index, value in table.get(column, {}).items():
        ifindex = _ifindex(index)
        if ifindex is not None:
            rows[ifindex] = value
    return rows


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def interface_speed(if_speed: object, if_high_speed: object) -> float | None:
    """Bits per second: ifSpeed unless it is saturated, then ifHighSpeed x 10^6."""
    speed, high = _int(if_speed), _int(if_high_speed)
    if speed is not None and speed < _IF_SPEED_MAX:
        return float(speed)
    if high is not None:
        return high * 1e6
    return float(speed) if speed is not None else None


def parse_names(table: Table) -> dict[int, InterfaceInfo]:
    """Interface names, aliases and speeds by ifIndex from a walk of NAME_COLUMNS."""
    descr, name, alias = _column(table, IF_DESCR), _column(table, IF_NAME), _column(table, IF_ALIAS)
    speed, high = _column(table, IF_SPEED), _column(table, IF_HIGH_SPEED)
    infos = {}
    for ifindex in sorted(set(descr) | set(name)):
        infos[ifindex] = InterfaceInfo(
            ifindex=ifindex,
            name=_text(name.get(ifindex)) or _text(descr.get(ifindex)),
            alias=_text(alias.get(ifindex)),
            speed_bps=interface_speed(speed.get(ifindex), high.get(ifindex)),
        )
    return infos


def lacks_hc_counters(table: Table) -> bool:
    """True when a walk of COUNTER_COLUMNS_HC found interfaces but no ifHCInOctets:
    an agent without 64-bit counters (no ifXTable), to be read with ifIn/OutOctets."""
    return bool(table.get(IF_OPER_STATUS)) and not table.get(IF_HC_IN_OCTETS)


def _status_up(value: object) -> bool | None:
    status = _int(value)
    return None if status is None else status == 1  # 1 = up; down, testing, dormant... = not up


def parse_counters(table: Table, hc: bool) -> dict[int, InterfaceCounters]:
    """Per-interface status and counters by ifIndex from a walk of COUNTER_COLUMNS_*."""
    cols = {col: _column(table, col) for col in (COUNTER_COLUMNS_HC if hc else COUNTER_COLUMNS_32)}
    in_oct = cols[IF_HC_IN_OCTETS if hc else IF_IN_OCTETS]
    out_oct = cols[IF_HC_OUT_OCTETS if hc else IF_OUT_OCTETS]
    admin, oper = cols[IF_ADMIN_STATUS], cols[IF_OPER_STATUS]
    indexes = set().union(*(set(c) for c in cols.values()))
    return {
        i: InterfaceCounters(
            admin_up=_status_up(admin.get(i)),
            oper_up=_status_up(oper.get(i)),
            in_octets=_int(in_oct.get(i)),
            out_octets=_int(out_oct.get(i)),
            in_errors=_int(cols[IF_IN_ERRORS].get(i)),
            out_errors=_int(cols[IF_OUT_ERRORS].get(i)),
            in_discards=_int(cols[IF_IN_DISCARDS].get(i)),
            out_discards=_int(cols[IF_OUT_DISCARDS].get(i)),
        )
        for i in sorted(indexes)
    }


def select_interfaces(infos: Mapping[int, InterfaceInfo],
                      settings: SnmpSettings) -> dict[int, SelectedInterface]:
    """Interfaces to export, by ifIndex, each with its ``isp`` ("" when not an uplink).

    Exclusion wins over inclusion and over uplink rules, so a VLAN sub-interface that
    copies its parent's alias ("Magti_Internet") is dropped by ``exclude_interfaces``
    instead of being taken for a second Magti uplink. Uplinks are exported even when
    ``include_interfaces`` does not match them. The first matching uplink rule names the ISP.
    """
    chosen = {}
    for ifindex, info in infos.items():
        if settings.exclude_interfaces is not None and settings.exclude_interfaces.matches(
                info.name, info.alias):
            continue
        isp = next((rule.isp for rule in settings.uplinks if rule.matches(info.name, info.alias)),
                   "")
        if not isp and settings.include_interfaces is not None \
                and not settings.include_interfaces.matches(info.name, info.alias):
            continue
        chosen[ifindex] = SelectedInterface(info=info, isp=isp)
    return chosen
