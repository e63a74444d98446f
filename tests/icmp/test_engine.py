"""The ICMP engine against real packets on loopback inside the private namespace."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from exporter.icmp import IcmpProber, ProbeOutcome
from tests.support.nft import Firewall

TIMEOUT = 0.5


def run(mode: str, body: Callable[[IcmpProber], Awaitable[Any]], **kw: Any) -> Any:
    """Start a prober in ``mode``, run ``body`` with it, close it."""
    async def main() -> Any:
        prober = IcmpProber(privileged=mode == "raw", **kw)
        await prober.start()
        try:
            return await body(prober)
        finally:
            await prober.close()
    return asyncio.run(main())


def assert_answered(outcome: ProbeOutcome, count: int) -> None:
    assert outcome.error is None, outcome
    assert (outcome.sent, outcome.received, len(outcome.rtts)) == (count, count, count)
    assert all(0 < rtt < TIMEOUT for rtt in outcome.rtts), outcome.rtts


@pytest.mark.parametrize("address", ["127.0.0.1", "127.44.3.2", "::1", "::ffff:127.0.0.9"])
def test_replies_and_round_trips(mode: str, address: str) -> None:
    prober_mode, outcome = run(mode, lambda p: asyncio.gather(
        asyncio.sleep(0, p.mode), p.probe(address, 3, TIMEOUT)))
    assert prober_mode == mode
    assert_answered(outcome, 3)


def test_dropped_address_times_out(mode: str, firewall: Firewall) -> None:
    firewall.drop("127.0.0.2")

    async def body(p: IcmpProber) -> tuple[ProbeOutcome, ProbeOutcome]:
        return await asyncio.gather(p.probe("127.0.0.2", 2, TIMEOUT),
                                    p.probe("127.0.0.3", 2, TIMEOUT))
    dropped, answered = run(mode, body)
    assert dropped == ProbeOutcome(sent=2, received=0)
    assert_answered(answered, 2)


@pytest.mark.parametrize("kind,address,reason", [
    ("blackhole", "127.9.9.9", "unreachable"),    # the kernel says EINVAL
    ("unreachable", "127.9.9.8", "unreachable"),  # EHOSTUNREACH
    ("prohibit", "127.9.9.7", "prohibited"),      # EACCES
    ("blackhole", "2001:db8::9", "unreachable"),
])
def test_unroutable_address_is_an_error_not_a_result(mode: str, local_route: Any, kind: str,
                                                      address: str, reason: str) -> None:
    local_route(kind, address)

    async def body(p: IcmpProber) -> tuple[ProbeOutcome, Any]:
        return await p.probe(address, 3, TIMEOUT), p.stats()
    outcome, stats = run(mode, body)
    assert outcome.error == reason
    assert (outcome.sent, outcome.received) == (0, 0)
    assert address in outcome.detail
    assert stats.send_errors[reason] == 3
    assert stats.requests_sent == 0


def test_thousands_of_concurrent_probes_get_exactly_their_own_replies(
        mode: str, firewall: Firewall) -> None:
    targets = [f"127.3.{i // 250}.{i % 250 + 1}" for i in range(2000)]
    dropped = set(targets[::20])  # 5%
    subprocess.run(["nft", "add", "element", "inet", "wardops_test", "down4",
                    "{ " + ", ".join(sorted(dropped)) + " }"], check=True)

    async def body(p: IcmpProber) -> tuple[list[ProbeOutcome], Any]:
        outcomes = await asyncio.gather(*(p.probe(a, 3, 1.0) for a in targets))
        return outcomes, p.stats()
    outcomes, stats = run(mode, body, spacing=0.01)
    for address, outcome in zip(targets, outcomes):
        if address in dropped:
            assert outcome == ProbeOutcome(sent=3, received=0), address
        else:
            assert outcome.error is None, (address, outcome)
            assert outcome.sent == outcome.received == 3, (address, outcome)
    assert stats.requests_sent == 6000
    assert stats.replies_received == 3 * (2000 - len(dropped))
    assert stats.late_replies == 0


def test_many_concurrent_probes_of_one_address_across_sequence_wraparound(mode: str) -> None:
    async def body(p: IcmpProber) -> tuple[list[ProbeOutcome], int]:
        for family in p._families.values():
            family.next_seq = 0xFFFF - 100  # the counter wraps in the middle of the burst
        outcomes = await asyncio.gather(*(p.probe(a, 3, 1.0)
                                          for _ in range(150) for a in ("127.0.0.1", "::1")))
        return outcomes, p._families[socket.AF_INET].next_seq
    outcomes, next_seq = run(mode, body, spacing=0)
    for outcome in outcomes:
        assert_answered(outcome, 3)
    assert next_seq == (0xFFFF - 100 + 450) % 0x10000  # wrapped, no number skipped


def test_rejected_address_does_not_fail_probes_of_others(mode: str, netns: None) -> None:
    # A REJECT answers our request with ICMP admin-prohibited, on the socket all probes
    # share: it must neither fail an unrelated probe nor count as an answer.
    subprocess.run(["nft", "-f", "-"], check=True, input=b"""
table inet wardops_reject {
  chain input {
    type filter hook input priority 0;
    ip daddr 127.0.0.66 reject with icmp type admin-prohibited;
  }
}""")
    try:
        async def body(p: IcmpProber) -> tuple[list[ProbeOutcome], Any]:
            outcomes: list[ProbeOutcome] = []
            for i in range(20):
                outcomes += await asyncio.gather(p.probe("127.0.0.66", 1, 0.2),
                                                 p.probe(f"127.0.1.{i + 1}", 1, 0.2))
            return outcomes, p.stats()
        outcomes, stats = run(mode, body)
    finally:
        subprocess.run(["nft", "delete", "table", "inet", "wardops_reject"], check=True)
    for rejected, other in zip(outcomes[::2], outcomes[1::2]):
        assert rejected == ProbeOutcome(sent=1, received=0)
        assert_answered(other, 1)
    assert sum(stats.send_errors.values()) == 0


def test_cancelled_probe_forgets_its_requests(mode: str, firewall: Firewall) -> None:
    firewall.drop("127.0.0.2")

    async def body(p: IcmpProber) -> tuple[int, ProbeOutcome]:
        task = asyncio.create_task(p.probe("127.0.0.2", 3, 5.0))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(p._families[socket.AF_INET].pending), await p.probe("127.0.0.1", 3, TIMEOUT)
    pending, after = run(mode, body)
    assert pending == 0
    assert_answered(after, 3)


def test_close_ends_running_probes_with_an_error(mode: str, firewall: Firewall) -> None:
    firewall.drop("127.0.0.2")

    async def main() -> ProbeOutcome:
        prober = IcmpProber(privileged=mode == "raw")
        await prober.start()
        task = asyncio.create_task(prober.probe("127.0.0.2", 3, 5.0))
        await asyncio.sleep(0.3)
        await prober.close()
        return await asyncio.wait_for(task, 1.0)
    outcome = asyncio.run(main())
    assert outcome.error == "socket"
    assert "closed" in outcome.detail


@pytest.mark.parametrize("address", ["not-an-ip", "127.0.0.256", "fe80::1%lo"])
def test_bad_address_is_an_error(mode: str, address: str) -> None:
    outcome = run(mode, lambda p: p.probe(address, 1, TIMEOUT))
    assert outcome.error == "address"
    assert address in outcome.detail


def test_probe_before_start_is_an_error() -> None:
    outcome = asyncio.run(IcmpProber().probe("127.0.0.1", 1, TIMEOUT))
    assert outcome.error == "socket"
    assert outcome.detail == "prober not started"


def test_two_probers_side_by_side_ignore_each_others_replies(mode: str) -> None:
    # Raw sockets see every echo reply on the host (fping's too): the identifier decides.
    async def main() -> list[tuple[list[ProbeOutcome], Any]]:
        probers = [IcmpProber(privileged=mode == "raw", spacing=0) for _ in range(2)]
        for p in probers:
            await p.start()
        targets = [f"127.0.2.{i}" for i in range(1, 101)]
        results = await asyncio.gather(*(asyncio.gather(*(p.probe(a, 2, TIMEOUT) for a in targets))
                                         for p in probers))
        stats = [p.stats() for p in probers]
        for p in probers:
            await p.close()
        return list(zip(results, stats))
    for outcomes, stats in asyncio.run(main()):
        for outcome in outcomes:
            assert_answered(outcome, 2)
        assert (stats.replies_received, stats.late_replies) == (200, 0)


def test_stalled_event_loop_does_not_turn_replies_into_loss(mode: str) -> None:
    # The reply arrives at once but is read only after the loop was blocked for longer than
    # the timeout: the kernel's receive timestamp, not the reading time, decides.
    async def body(p: IcmpProber) -> ProbeOutcome:
        task = asyncio.create_task(p.probe("127.0.0.1", 1, 0.3))
        await asyncio.sleep(0)  # the request goes out
        time.sleep(0.6)
        return await task
    outcome = run(mode, body)
    assert (outcome.sent, outcome.received) == (1, 1), outcome
    assert outcome.rtts[0] < 0.3


def test_probes_with_different_timeouts_each_end_at_their_own(mode: str,
                                                              firewall: Firewall) -> None:
    firewall.drop("127.0.0.2", "127.0.0.3")

    async def body(p: IcmpProber) -> list[str]:
        ended: list[str] = []

        async def probe(address: str, timeout: float) -> None:
            assert await p.probe(address, 1, timeout) == ProbeOutcome(sent=1, received=0)
            ended.append(f"{address} {timeout}")
        await asyncio.gather(probe("127.0.0.2", 1.5), probe("127.0.0.3", 0.2),
                             probe("127.0.0.2", 0.4))
        return ended
    assert run(mode, body) == ["127.0.0.3 0.2", "127.0.0.2 0.4", "127.0.0.2 1.5"]


def test_ipv6_targets_dropped_and_answering_side_by_side(mode: str, firewall: Firewall) -> None:
    targets = [f"2001:db8::{i:x}" for i in range(1, 61)]
    dropped = targets[::10]
    for address in targets:  # the namespace has only ::1; give lo more IPv6 "devices"
        subprocess.run(["ip", "-6", "addr", "add", f"{address}/128", "dev", "lo"], check=True)
    firewall.drop(*dropped)

    async def body(p: IcmpProber) -> list[ProbeOutcome]:
        return await asyncio.gather(*(p.probe(a, 2, TIMEOUT) for a in targets))
    try:
        outcomes = run(mode, body, spacing=0.01)
    finally:
        for address in targets:
            subprocess.run(["ip", "-6", "addr", "del", f"{address}/128", "dev", "lo"], check=False)
    for address, outcome in zip(targets, outcomes):
        if address in dropped:
            assert outcome == ProbeOutcome(sent=2, received=0), address
        else:
            assert_answered(outcome, 2)


def test_launch_calls_back_once_per_probe_and_a_failing_callback_harms_nobody(
        mode: str, firewall: Firewall) -> None:
    """The exporter's way in: no coroutine per probe, an outcome per callback, exactly
    once; a cancelled probe is never reported, and a callback that raises (a bug in
    the caller) does not stop the engine from reading the others' replies."""
    from exporter.icmp import DEFAULT_ROUTE
    firewall.drop("127.0.5.7")
    addresses = [f"127.0.5.{i}" for i in range(1, 200)]
    calls: dict[str, list[ProbeOutcome]] = {a: [] for a in addresses}

    async def body(p: IcmpProber) -> None:
        handles = {}
        for address in addresses:
            def callback(outcome: ProbeOutcome, address: str = address) -> None:
                calls[address].append(outcome)
                if address == "127.0.5.3":
                    raise RuntimeError("a caller's bug")
            handles[address] = p.launch(address, 2, TIMEOUT, DEFAULT_ROUTE, callback)
        handles["127.0.5.9"].cancel()
        bad: list[ProbeOutcome] = []
        p.launch("not-an-address", 1, TIMEOUT, DEFAULT_ROUTE, bad.append)
        assert [o.error for o in bad] == ["address"]
        await asyncio.sleep(TIMEOUT + 0.5)

    run(mode, body)
    for address, outcomes in calls.items():
        if address == "127.0.5.9":
            assert outcomes == [], "a cancelled probe was reported"
        elif address == "127.0.5.7":
            assert outcomes == [ProbeOutcome(sent=2, received=0)]
        else:
            assert len(outcomes) == 1, (address, outcomes)
            assert_answered(outcomes[0], 2)
