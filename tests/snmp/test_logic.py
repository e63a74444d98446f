"""Pure decision functions of the SNMP poller, table-tested."""

from __future__ import annotations

import pytest
from pysnmp.proto import errind

from exporter.snmp import ifmib
from exporter.snmp.client import classify_error
from exporter.snmp.poll import NamesCache, SysInfo, names_due, rebooted
from exporter.snmp.poller import failure_reason, splay
from exporter.snmp.settings import parse_snmp_settings


@pytest.fixture(autouse=True)
def community(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_COMMUNITY", "c")


@pytest.mark.parametrize("if_speed, if_high_speed, expected", [
    (100_000_000, 100, 100e6),         # ifSpeed is exact below 4.29 Gbit/s
    (4294967295, 10_000, 10e9),        # saturated ifSpeed: ifHighSpeed (Mbit/s) takes over
    (4294967295, None, 4294967295.0),  # no ifXTable: best we know
    (None, 40_000, 40e9),
    (None, None, None),
])
def test_interface_speed(if_speed, if_high_speed, expected) -> None:
    assert ifmib.interface_speed(if_speed, if_high_speed) == expected


@pytest.mark.parametrize("previous, now, expected", [
    (None, 100, False),    # first poll: nothing to compare
    (100, 200, False),     # time moves on
    (100, 100, False),     # same tick (fast polls)
    (500_000, 300, True),  # went backwards: restarted
])
def test_rebooted(previous, now, expected) -> None:
    assert rebooted(previous, now) is expected


def _names(fetched_at: float) -> NamesCache:
    return NamesCache(fetched_at, SysInfo("r", "d", "1.3"), {}, frozenset())


@pytest.mark.parametrize("names, now, expected", [
    (None, 0.0, True),                 # never read
    (_names(1000.0), 1899.0, False),   # within names_interval (900 s)
    (_names(1000.0), 1900.0, True),    # names_interval passed
    (_names(float("-inf")), 5.0, True),  # forced (a new ifIndex appeared)
])
def test_names_due(names, now, expected) -> None:
    settings = parse_snmp_settings({"community_env": "T_COMMUNITY", "names_interval": "15m"})
    assert names_due(names, settings, now) is expected


@pytest.mark.parametrize("reason, icmp_up, expected", [
    ("timeout", True, "timeout"),       # answers ping, not SNMP: count it
    ("timeout", None, "timeout"),       # no ICMP verdict yet
    ("timeout", False, "device_down"),  # the device is down: one DeviceDown, not SNMP noise
    ("auth", False, "device_down"),
    ("auth", True, "auth"),
])
def test_failure_reason(reason, icmp_up, expected) -> None:
    assert failure_reason(reason, icmp_up) == expected


@pytest.mark.parametrize("indication, expected", [
    (errind.requestTimedOut, "timeout"),
    (errind.wrongDigest, "auth"),        # v3 wrong auth password
    (errind.unknownUserName, "auth"),
    (errind.notInTimeWindow, "auth"),
    (errind.decryptionError, "auth"),
    (errind.oidNotIncreasing, "protocol"),
])
def test_classify_error(indication, expected) -> None:
    assert classify_error(indication) == expected


def test_splay_is_stable_and_inside_the_interval() -> None:
    offsets = [splay((f"r{i}", f"10.0.0.{i}"), 60.0) for i in range(200)]
    assert all(0 <= o < 60 for o in offsets)
    assert splay(("r1", "10.0.0.1"), 60.0) == offsets[1]
    assert len({round(o) for o in offsets}) > 40  # spread over the minute, not bunched


def _info(ifindex: int, name: str, alias: str) -> ifmib.InterfaceInfo:
    return ifmib.InterfaceInfo(ifindex, name, alias, 1e9)


ROUTER = {
    1: _info(1, "Gi0/0/0", "Magti_Internet"),
    2: _info(2, "Gi0/0/1", "Silknet_Internet"),
    3: _info(3, "Gi0/0/2", "LAN"),
    6: _info(6, "Gi0/0/0.100", "Magti_Internet"),  # sub-interface copying the uplink's alias
    8: _info(8, "Vlan1", ""),
}


@pytest.mark.parametrize("raw, expected", [
    # uplinks only by alias: the sub-interface is taken for a second Magti uplink
    ({}, {1: "Magti", 2: "Silknet", 3: "", 6: "Magti", 8: ""}),
    # excluding sub-interfaces and Vlans fixes that
    ({"exclude_interfaces": r"(\.\d+$|^Vlan)"}, {1: "Magti", 2: "Silknet", 3: ""}),
    # include narrows the rest, uplinks stay
    ({"include_interfaces": "^Gi0/0/2$", "exclude_interfaces": r"\.\d+$"},
     {1: "Magti", 2: "Silknet", 3: ""}),
    ({"include_interfaces": {"alias": "^$"}, "exclude_interfaces": r"\.\d+$"},
     {1: "Magti", 2: "Silknet", 8: ""}),
    # an uplink rule on name as well as alias
    ({"uplinks": [{"alias": "^Magti_Internet$", "name": r"^Gi\d+/\d+/\d+$", "isp": "Magti"}]},
     {1: "Magti", 2: "", 3: "", 6: "", 8: ""}),
])
def test_select_interfaces(raw, expected) -> None:
    base = {"community_env": "T_COMMUNITY",
            "uplinks": [{"alias": "^Magti_Internet$", "isp": "Magti"},
                        {"alias": "^Silknet_Internet$", "isp": "Silknet"}]}
    settings = parse_snmp_settings({**base, **raw})
    chosen = ifmib.select_interfaces(ROUTER, settings)
    assert {i: s.isp for i, s in chosen.items()} == expected


def test_parse_names_prefers_ifname_and_falls_back_to_ifdescr() -> None:
    table = {ifmib.IF_DESCR: {(1,): "GigabitEthernet0/0/0", (2,): "port 2"},
             ifmib.IF_NAME: {(1,): "Gi0/0/0"},
             ifmib.IF_ALIAS: {(1,): "Magti_Internet"},
             ifmib.IF_SPEED: {(1,): 1_000_000_000, (2,): 100_000_000}}
    infos = ifmib.parse_names(table)
    assert infos[1] == ifmib.InterfaceInfo(1, "Gi0/0/0", "Magti_Internet", 1e9)
    assert infos[2] == ifmib.InterfaceInfo(2, "port 2", "", 1e8)


def test_parse_counters_status_and_32bit() -> None:
    table = {ifmib.IF_ADMIN_STATUS: {(1,): 1, (2,): 1, (3,): 2},
             ifmib.IF_OPER_STATUS: {(1,): 1, (2,): 7, (3,): 2},  # 7 = lowerLayerDown
             ifmib.IF_IN_OCTETS: {(1,): 10}, ifmib.IF_OUT_OCTETS: {(1,): 20},
             ifmib.IF_IN_ERRORS: {(1,): 3}}
    counters = ifmib.parse_counters(table, hc=False)
    assert ifmib.lacks_hc_counters(table)
    assert counters[1].oper_up and counters[1].admin_up and counters[1].in_octets == 10
    assert counters[1].in_errors == 3 and counters[1].out_errors is None
    assert counters[2].oper_up is False and counters[2].admin_up is True
    assert counters[3].admin_up is False


def test_device_labels_that_clash_with_snmp_labels_are_left_out() -> None:
    from exporter.snmp.collector import device_label_names, device_label_values
    from tests.snmp.conftest import Device
    devices = [Device("r1", "10.0.0.1", labels={"isp": "Magti", "region": "Imereti"}),
               Device("r2", "10.0.0.2", labels=(("vendor", "cisco"),))]  # pairs, as config gives
    names = device_label_names(devices)
    assert names == ("device", "address", "site", "type", "region", "vendor")
    assert device_label_values(devices[1], names) == ["r2", "10.0.0.2", "Kharagauli", "router",
                                                      "", "cisco"]
