"""Walk parsing against snmpsim serving device data files (tests/testdata/snmp/*.snmprec):
a Cisco ISR branch router with two ISP uplinks and sub-interfaces that copy their
aliases, and an old switch with no ifXTable (ifDescr names, 32-bit counters)."""

from __future__ import annotations

import asyncio

import pytest

from tests.snmp.conftest import Device, label_sets, one, settings

CISCO = {"uplinks": [{"alias": "^Magti_Internet$", "isp": "Magti"},
                     {"alias": "^Silknet_Internet$", "isp": "Silknet"}],
         "exclude_interfaces": r"(\.\d+$|^Null|^Vlan)",
         "scalars": [{"name": "cpu_percent", "oid": "1.3.6.1.4.1.9.9.109.1.1.1.1.8.7",
                      "help": "CPU busy over 5 minutes (CISCO-PROCESS-MIB)."},
                     {"name": "temperature_celsius", "oid": "1.3.6.1.4.1.9.9.13.1.3.1.3.1",
                      "help": "Chassis temperature (CISCO-ENVMON-MIB)."}]}


@pytest.fixture
def community_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_CISCO", "cisco-router")  # snmpsim: community = data file name
    monkeypatch.setenv("T_OLD", "old-switch")


@pytest.mark.parametrize("max_repetitions", [25, 3])  # 3: the walk needs many round trips
def test_cisco_router(snmpsim, make_poller, loop: asyncio.AbstractEventLoop, community_env,
                      max_repetitions: int) -> None:
    address, port = snmpsim
    device = Device("kharagauli-r1", address, snmp=settings(
        port=port, community_env="T_CISCO", max_repetitions=max_repetitions, **CISCO))
    poller, registry = make_poller(device)
    loop.run_until_complete(poller.poll_all())
    assert one(registry, "wardops_snmp_up") == 1
    assert one(registry, "wardops_snmp_uptime_seconds") == 1234567.0
    info = label_sets(registry, "wardops_snmp_info", "sysname")["kharagauli-r1"]
    assert info["sysobjectid"] == "1.3.6.1.4.1.9.1.2068"
    assert info["sysdescr"].startswith("Cisco IOS Software [Fuji], ISR Software")
    oper = label_sets(registry, "wardops_interface_oper_up", "ifname")
    assert sorted(oper) == ["Gi0/0/0", "Gi0/0/1", "Gi0/0/2", "Te0/1/0"]
    assert {n: l["isp"] for n, l in oper.items()} == {
        "Gi0/0/0": "Magti", "Gi0/0/1": "Silknet", "Gi0/0/2": "", "Te0/1/0": ""}
    assert oper["Gi0/0/1"]["ifindex"] == "2" and oper["Gi0/0/1"]["ifalias"] == "Silknet_Internet"
    # Silknet is down while admin up: what IspUplinkDown fires on
    assert one(registry, "wardops_interface_oper_up", isp="Silknet") == 0
    assert one(registry, "wardops_interface_admin_up", isp="Silknet") == 1
    assert one(registry, "wardops_interface_oper_up", isp="Magti") == 1
    # 64-bit counters beyond 2^32, exact
    assert one(registry, "wardops_interface_in_octets_total", isp="Magti") == 987654321012
    assert one(registry, "wardops_interface_out_octets_total", isp="Magti") == 123456789012
    assert one(registry, "wardops_interface_in_errors_total", isp="Magti") == 3
    assert one(registry, "wardops_interface_in_discards_total", isp="Magti") == 12
    assert one(registry, "wardops_interface_out_discards_total", isp="Magti") == 1
    # ifSpeed saturated at 4294967295: ifHighSpeed says 10 Gbit/s
    assert one(registry, "wardops_interface_speed_bits_per_second", ifname="Te0/1/0") == 10e9
    assert one(registry, "wardops_interface_speed_bits_per_second", ifname="Gi0/0/0") == 1e9
    assert one(registry, "wardops_snmp_cpu_percent") == 17
    assert one(registry, "wardops_snmp_temperature_celsius") == 41


def test_old_switch_without_ifxtable(snmpsim, make_poller, loop: asyncio.AbstractEventLoop,
                                     community_env) -> None:
    address, port = snmpsim
    device = Device("zestaponi-sw1", address, type="switch",
                    snmp=settings(port=port, community_env="T_OLD"))
    poller, registry = make_poller(device)
    loop.run_until_complete(poller.poll_all())
    loop.run_until_complete(poller.poll_all())  # second poll: no names walk, 32-bit remembered
    assert one(registry, "wardops_snmp_up") == 1
    assert one(registry, "wardops_snmp_uptime_seconds") == 42.0
    oper = label_sets(registry, "wardops_interface_oper_up", "ifname")
    assert sorted(oper) == ["1", "2", "3"]  # ifDescr, as the switch has no ifName
    assert one(registry, "wardops_interface_oper_up", ifname="2") == 0
    assert one(registry, "wardops_interface_in_octets_total", ifname="3") == 3000  # 32-bit
    assert one(registry, "wardops_interface_out_octets_total", ifname="3") == 6000
    assert one(registry, "wardops_interface_in_errors_total", ifname="2") == 2
    assert one(registry, "wardops_interface_speed_bits_per_second", ifname="1") == 1e8


def test_unknown_community_on_snmpsim_is_a_timeout(snmpsim, make_poller,
                                                   loop: asyncio.AbstractEventLoop,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_BAD", "no-such-device")
    address, port = snmpsim
    poller, registry = make_poller(Device("r", address, snmp=settings(port=port,
                                                                      community_env="T_BAD")))
    loop.run_until_complete(poller.poll_all())
    assert one(registry, "wardops_snmp_up") == 0
    assert one(registry, "wardops_snmp_errors_total", reason="timeout") == 1
