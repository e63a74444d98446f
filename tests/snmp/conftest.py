"""Fixtures for the SNMP tests: a stand-in Device, an event loop that lives across
polls (pysnmp binds its socket to the loop), real snmpd and snmpsim agents."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporter.snmp.poller import SnmpPoller
from exporter.snmp.settings import SnmpSettings, parse_snmp_settings
from tests.conftest import IN_NETNS
from tests.snmp.agent import COMMUNITY, Snmpd, free_udp_port, ip
from tests.support import REPO, Proc, wait_for

TESTDATA = REPO / "tests" / "testdata" / "snmp"


@dataclass
class Device:
    """Stand-in for exporter.config.Device with the attributes the poller reads."""

    name: str
    address: str
    site: str = "Kharagauli"
    type: str = "router"
    labels: dict[str, str] = field(default_factory=dict)
    snmp: SnmpSettings | None = None


def settings(**raw: Any) -> SnmpSettings:
    """Parse SNMP settings with test defaults (v2c community from $WARDOPS_TEST_COMMUNITY,
    short timeout, names re-read every poll so SETs of ifAlias show at once)."""
    os.environ.setdefault("WARDOPS_TEST_COMMUNITY", COMMUNITY)
    base: dict[str, Any] = {"version": "2c", "community_env": "WARDOPS_TEST_COMMUNITY",
                            "timeout": "500ms", "retries": 0, "names_interval": 0}
    if raw.get("version") == "3" or "community_file" in raw:
        del base["community_env"]
    base.update(raw)
    return parse_snmp_settings(base)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for a whole test: pysnmp's socket belongs to the loop that opened it."""
    loop = asyncio.new_event_loop()
    yield loop
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending))
    loop.close()


@pytest.fixture
def make_poller(loop: asyncio.AbstractEventLoop
                ) -> Iterator[Callable[..., tuple[SnmpPoller, CollectorRegistry]]]:
    """``make_poller(*devices, icmp_up=None)`` -> (poller, registry with the poller);
    the pollers' sockets are closed after the test."""
    pollers: list[SnmpPoller] = []

    def make(*devices: Device, icmp_up: Callable[[Any], bool | None] | None = None
             ) -> tuple[SnmpPoller, CollectorRegistry]:
        poller = SnmpPoller(list(devices), icmp_up=icmp_up)
        registry = CollectorRegistry()
        registry.register(poller)
        pollers.append(poller)
        return poller, registry
    yield make
    for poller in pollers:
        poller.close()


def require_netns() -> None:
    if not IN_NETNS:
        pytest.skip("needs a private network namespace: run via scripts/test tests/snmp")


@pytest.fixture(scope="module")
def router_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpd]:
    """snmpd on 127.0.0.1 with veth pairs: wan1 (Magti), wan2 (Silknet), and wan1.100,
    a VLAN-like sub-interface that copies wan1's alias. Peers wan1p/wan2p flip carrier."""
    require_netns()
    for name in ("wan1", "wan2", "wan1.100"):
        ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
        ip("link", "set", name, "up")
        ip("link", "set", f"{name}p", "up")
    agent = Snmpd(tmp_path_factory.mktemp("snmpd")).start()
    agent.set_alias(agent.ifindex("wan1"), "Magti_Internet")
    agent.set_alias(agent.ifindex("wan2"), "Silknet_Internet")
    agent.set_alias(agent.ifindex("wan1.100"), "Magti_Internet")
    yield agent
    agent.stop()
    for name in ("wan1", "wan2", "wan1.100"):
        ip("link", "del", name)


@pytest.fixture(scope="module")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """snmpsim serving tests/testdata/snmp/*.snmprec (community = file name)."""
    require_netns()
    port = free_udp_port()
    work = tmp_path_factory.mktemp("snmpsim")
    proc = Proc([sys.executable, str(Path(__file__).with_name("run_snmpsim.py")),
                 f"--data-dir={TESTDATA}", f"--agent-udpv4-endpoint=127.0.0.1:{port}",
                 f"--cache-dir={work / 'cache'}", "--logging-method=null"],
                log=work / "snmpsim.log")
    def answers() -> bool:
        assert proc.alive(), proc.output()
        return probe_get(port, "cisco-router") is not None
    wait_for(answers, timeout=30, what="snmpsim")
    yield ("127.0.0.1", port)
    proc.stop()


def probe_get(port: int, community: str) -> str | None:
    """sysUpTime with snmpget, or None when the agent does not answer."""
    out = subprocess.run(["snmpget", "-v2c", "-c", community, "-On", "-Oq", "-t", "1", "-r", "0",
                          f"127.0.0.1:{port}", "1.3.6.1.2.1.1.3.0"], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def samples(registry: Any, name: str, **match: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of ``name`` whose labels include ``match``: {sorted label items: value}."""
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in match.items()):
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def one(registry: Any, name: str, **match: str) -> float | None:
    """The single sample of ``name`` matching ``match``; None if absent (fails if several)."""
    found = samples(registry, name, **match)
    assert len(found) <= 1, f"{name} {match}: several samples {found}"
    return next(iter(found.values()), None)


def label_sets(registry: Any, name: str, key: str, **match: str) -> Mapping[str, dict[str, str]]:
    """{labels[key]: labels} for the samples of ``name`` matching ``match``."""
    return {dict(k)[key]: dict(k) for k in samples(registry, name, **match)}
