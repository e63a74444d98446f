"""The poller against a real Debian snmpd in the test's private network namespace.

Interfaces are veth pairs; setting a peer down flips the other end's ifOperStatus, and
ifAlias is set over SNMP SET, as an operator would on a router.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.snmp.agent import (
    AUTH_KEY,
    PRIV_KEY,
    V3_AUTH_ONLY_USER,
    V3_NOAUTH_USER,
    V3_PROTOCOL_USERS,
    V3_USER,
    Snmpd,
    free_udp_port,
    ip,
)
from tests.snmp.conftest import Device, label_sets, one, require_netns, samples, settings
from tests.support import wait_for
from tests.support.nft import Firewall

UPLINKS = [{"alias": "^Magti_Internet$", "isp": "Magti"},
           {"alias": "^Silknet_Internet$", "isp": "Silknet"}]


def router(agent: Snmpd, **raw: object) -> Device:
    raw.setdefault("uplinks", UPLINKS)
    raw.setdefault("exclude_interfaces", r"\.\d+$")  # sub-interfaces such as wan1.100
    return Device("kharagauli-r1", agent.address, labels={"region": "Imereti"},
                  snmp=settings(port=agent.port, **raw))


def test_v2c_poll_exports_system_and_interfaces(make_poller, router_agent: Snmpd,
                                                loop: asyncio.AbstractEventLoop) -> None:
    poller, registry = make_poller(router(router_agent))
    loop.run_until_complete(poller.poll_all())
    dev = {"device": "kharagauli-r1", "address": "127.0.0.1", "site": "Kharagauli",
           "type": "router", "region": "Imereti"}
    assert one(registry, "wardops_snmp_up", **dev) == 1
    assert one(registry, "wardops_snmp_uptime_seconds", **dev) > 0
    info = label_sets(registry, "wardops_snmp_info", "device")["kharagauli-r1"]
    assert info["sysobjectid"] == "1.3.6.1.4.1.8072.3.2.10"  # net-snmp's Linux agent
    assert info["sysdescr"].startswith("Linux")
    oper = label_sets(registry, "wardops_interface_oper_up", "ifname", **dev)
    assert oper["wan1"]["isp"] == "Magti" and oper["wan1"]["ifalias"] == "Magti_Internet"
    assert oper["wan2"]["isp"] == "Silknet"
    assert oper["wan1p"]["isp"] == ""
    # The sub-interface copies wan1's alias but is excluded, so Magti has one uplink.
    assert "wan1.100" not in oper
    assert [n for n, labels in oper.items() if labels["isp"] == "Magti"] == ["wan1"]
    assert one(registry, "wardops_interface_oper_up", ifname="wan1") == 1
    assert one(registry, "wardops_interface_admin_up", ifname="wan1") == 1
    assert one(registry, "wardops_interface_speed_bits_per_second", ifname="wan1") == 10e9
    # loopback carries the SNMP traffic itself: its 64-bit counters move
    assert one(registry, "wardops_interface_in_octets_total", ifname="lo") > 0
    assert one(registry, "wardops_interface_out_errors_total", ifname="wan1") == 0
    assert one(registry, "wardops_snmp_errors_total", reason="timeout") == 0


def test_uplink_oper_status_follows_the_link(make_poller, router_agent: Snmpd,
                                             loop: asyncio.AbstractEventLoop) -> None:
    poller, registry = make_poller(router(router_agent))

    def oper(ifname: str) -> float | None:
        loop.run_until_complete(poller.poll_all())
        return one(registry, "wardops_interface_oper_up", ifname=ifname, isp="Silknet")

    assert oper("wan2") == 1
    ip("link", "set", "wan2p", "down")  # the ISP's side goes away: wan2 loses carrier
    try:
        # snmpd caches its interface table for a few seconds
        wait_for(lambda: oper("wan2") == 0, timeout=30, interval=0.5, what="wan2 oper down")
        assert one(registry, "wardops_interface_admin_up", ifname="wan2") == 1
        assert one(registry, "wardops_snmp_up") == 1  # the router itself still answers
    finally:
        ip("link", "set", "wan2p", "up")
    wait_for(lambda: oper("wan2") == 1, timeout=30, interval=0.5, what="wan2 oper up again")


def test_alias_set_over_snmp_makes_an_uplink(make_poller, router_agent: Snmpd,
                                             loop: asyncio.AbstractEventLoop) -> None:
    poller, registry = make_poller(router(router_agent))
    loop.run_until_complete(poller.poll_all())
    assert one(registry, "wardops_interface_oper_up", ifname="wan1p") is not None
    assert label_sets(registry, "wardops_interface_oper_up", "ifname")["wan1p"]["isp"] == ""
    index = router_agent.ifindex("wan1p")
    router_agent.set_alias(index, "Silknet_Internet")
    try:
        loop.run_until_complete(poller.poll_all())
        labels = label_sets(registry, "wardops_interface_oper_up", "ifname")["wan1p"]
        assert labels["isp"] == "Silknet" and labels["ifindex"] == str(index)
    finally:
        router_agent.set_alias(index, "")


def test_include_interfaces_limits_the_export(make_poller, router_agent: Snmpd,
                                              loop: asyncio.AbstractEventLoop) -> None:
    poller, registry = make_poller(router(router_agent, include_interfaces="^lo$"))
    loop.run_until_complete(poller.poll_all())
    # lo is included; the uplinks are exported anyway; the rest is not
    exported = set(label_sets(registry, "wardops_interface_oper_up", "ifname"))
    assert exported == {"lo", "wan1", "wan2"}


def test_scalars_become_gauges(make_poller, router_agent: Snmpd,
                               loop: asyncio.AbstractEventLoop) -> None:
    scalars = [{"name": "load_1m_percent", "oid": "1.3.6.1.4.1.2021.10.1.5.1", "help": "load x100"},
               {"name": "missing", "oid": "1.3.6.1.4.1.99999.1.0"}]
    poller, registry = make_poller(router(router_agent, scalars=scalars))
    loop.run_until_complete(poller.poll_all())
    expected = float(router_agent.get("1.3.6.1.4.1.2021.10.1.5.1"))  # UCD laLoadInt.1
    assert abs(one(registry, "wardops_snmp_load_1m_percent") - expected) <= 100
    assert one(registry, "wardops_snmp_missing") is None  # noSuchObject: no sample, no error
    assert one(registry, "wardops_snmp_up") == 1


V3_CASES = {
    "authPriv-SHA-AES": {"username": V3_USER, "security_level": "authPriv",
                         "auth_protocol": "SHA", "auth_key_env": "T_AUTH",
                         "priv_protocol": "AES", "priv_key_env": "T_PRIV"},
    "authNoPriv-SHA": {"username": V3_AUTH_ONLY_USER, "security_level": "authNoPriv",
                       "auth_protocol": "SHA", "auth_key_env": "T_AUTH"},
    "noAuthNoPriv": {"username": V3_NOAUTH_USER, "security_level": "noAuthNoPriv"},
    **{f"authPriv-{auth}-{priv}": {"username": user, "auth_protocol": auth.replace("-", ""),
                                   "auth_key_env": "T_AUTH", "priv_protocol": priv.replace("-", ""),
                                   "priv_key_env": "T_PRIV"}
       for user, (auth, priv) in V3_PROTOCOL_USERS.items()},
}


@pytest.mark.parametrize("raw", [{"version": "3", **case} for case in V3_CASES.values()],
                         ids=list(V3_CASES))
def test_v3(make_poller, router_agent: Snmpd, loop: asyncio.AbstractEventLoop, raw: dict,
            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_AUTH", AUTH_KEY)
    monkeypatch.setenv("T_PRIV", PRIV_KEY)
    poller, registry = make_poller(router(router_agent, **raw))
    loop.run_until_complete(poller.poll_all())
    assert one(registry, "wardops_snmp_up") == 1
    assert one(registry, "wardops_interface_oper_up", isp="Magti") is not None
    text = generate_latest(registry).decode()
    assert AUTH_KEY not in text and PRIV_KEY not in text


def test_failures_give_up_0_with_the_reason(make_poller, router_agent: Snmpd,
                                            loop: asyncio.AbstractEventLoop,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_WRONG", "not-the-community")
    monkeypatch.setenv("T_AUTH", "wrong-password-1")
    monkeypatch.setenv("T_PRIV", PRIV_KEY)
    monkeypatch.setenv("T_AUTH_OK", AUTH_KEY)
    closed_port = free_udp_port()
    devices = [
        Device("wrong-community", "127.0.0.1",
               snmp=settings(port=router_agent.port, community_env="T_WRONG")),
        Device("wrong-v3-password", "127.0.0.1",
               snmp=settings(port=router_agent.port, version="3", username=V3_USER,
                             auth_key_env="T_AUTH", priv_key_env="T_PRIV")),
        Device("nothing-listens", "127.0.0.1", snmp=settings(port=closed_port)),
        Device("healthy", "127.0.0.1", snmp=settings(port=router_agent.port)),
        # same v3 user name as the wrong password, right keys, polled at the same time:
        # must not be disturbed (pysnmp keys USM users by name within one engine)
        Device("healthy-v3", "127.0.0.1",
               snmp=settings(port=router_agent.port, version="3", username=V3_USER,
                             auth_key_env="T_AUTH_OK", priv_key_env="T_PRIV")),
    ]
    poller, registry = make_poller(*devices)
    loop.run_until_complete(poller.poll_all())
    expected = {"wrong-community": "timeout",  # v2c agents drop bad communities silently
                "wrong-v3-password": "auth",   # usmStatsWrongDigests report
                "nothing-listens": "unreachable"}
    for device, reason in expected.items():
        assert one(registry, "wardops_snmp_up", device=device) == 0, device
        assert one(registry, "wardops_snmp_errors_total", device=device, reason=reason) == 1, device
        others = {s: v for s, v in registry_samples(registry, device).items() if s != reason}
        assert set(others.values()) == {0.0}, (device, others)
        # no stale or partial data for a failed device
        assert one(registry, "wardops_snmp_uptime_seconds", device=device) is None
        assert not label_sets(registry, "wardops_interface_oper_up", "ifname", device=device)
    assert one(registry, "wardops_snmp_up", device="healthy") == 1
    assert one(registry, "wardops_snmp_up", device="healthy-v3") == 1
    text = generate_latest(registry).decode()
    assert "not-the-community" not in text and "wrong-password-1" not in text


def registry_samples(registry: CollectorRegistry, device: str) -> dict[str, float]:
    """{reason: count} of wardops_snmp_errors_total for ``device``."""
    return {dict(k)["reason"]: v
            for k, v in samples(registry, "wardops_snmp_errors_total", device=device).items()}


def test_icmp_down_device_does_not_pile_up_snmp_errors(make_poller,
                                                       loop: asyncio.AbstractEventLoop) -> None:
    require_netns()
    firewall = Firewall()
    address = "127.0.31.7"
    firewall.drop(address)
    try:
        down = Device("atm-down", address, snmp=settings(port=161))
        up = Device("router-up", address, snmp=settings(port=161))
        icmp = {"atm-down": False, "router-up": True}
        poller, registry = make_poller(down, up, icmp_up=lambda d: icmp[d.name])
        loop.run_until_complete(poller.poll_all())
        loop.run_until_complete(poller.poll_all())
        assert one(registry, "wardops_snmp_up", device="atm-down") == 0
        assert one(registry, "wardops_snmp_errors_total", device="atm-down",
                   reason="device_down") == 2
        assert one(registry, "wardops_snmp_errors_total", device="atm-down", reason="timeout") == 0
        # ICMP-up but SNMP silent: that is the SNMP problem to count
        assert one(registry, "wardops_snmp_up", device="router-up") == 0
        assert one(registry, "wardops_snmp_errors_total", device="router-up", reason="timeout") == 2
    finally:
        firewall.close()


def test_run_polls_on_its_schedule_and_reload_keeps_results(make_poller,
        router_agent: Snmpd, loop: asyncio.AbstractEventLoop) -> None:
    first = router(router_agent, interval="1s")
    second = Device("kharagauli-sw1", "127.0.0.1", type="switch",
                    snmp=settings(port=router_agent.port, interval="1s"))
    poller, registry = make_poller(first)

    async def scenario() -> None:
        task = asyncio.create_task(poller.run())
        try:
            await wait_async(lambda: one(registry, "wardops_snmp_up", device=first.name) == 1)
            stamp = one(registry, "wardops_snmp_last_poll_timestamp_seconds", device=first.name)
            await wait_async(lambda: one(registry, "wardops_snmp_last_poll_timestamp_seconds",
                                         device=first.name) > stamp)  # polled again
            poller.set_devices([first, second])
            # the kept device keeps its result at once; the new one gets polled
            assert one(registry, "wardops_snmp_up", device=first.name) == 1
            await wait_async(lambda: one(registry, "wardops_snmp_up", device=second.name) == 1)
            poller.set_devices([second])
            assert one(registry, "wardops_snmp_up", device=first.name) is None
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    loop.run_until_complete(scenario())


async def wait_async(check, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


def test_community_file(make_poller, router_agent: Snmpd, loop: asyncio.AbstractEventLoop,
                        tmp_path) -> None:
    secret = tmp_path / "community"
    secret.write_text(os.environ["WARDOPS_TEST_COMMUNITY"] + "\n")
    device = router(router_agent, community_file=str(secret))
    poller, registry = make_poller(device)
    loop.run_until_complete(poller.poll_all())
    assert one(registry, "wardops_snmp_up") == 1


def test_ipv6_agent(make_poller, loop: asyncio.AbstractEventLoop, tmp_path) -> None:
    require_netns()
    agent = Snmpd(tmp_path, address="::1").start()
    try:
        poller, registry = make_poller(Device("v6-router", "::1",
                                              snmp=settings(port=agent.port)))
        loop.run_until_complete(poller.poll_all())
        assert one(registry, "wardops_snmp_up", address="::1") == 1
        assert one(registry, "wardops_interface_oper_up", ifname="lo") == 1
    finally:
        agent.stop()
