"""The lean SNMPv2c codec (exporter/snmp/ber.py) against pysnmp's own, and a hostile agent.

Requests must be byte-for-byte what pysnmp encodes. A response the codec accepts must
decode to exactly what pysnmp's decoder and ``to_python`` make of it; anything else must
raise ``BerError`` (a counted ``protocol`` error), never another exception: random valid
responses built with pysnmp, and the same mutated (flipped, cut, grown), and random bytes.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

from exporter.snmp import ber
from exporter.snmp.client import SnmpClient, SnmpError, V2cSession, to_python
from exporter.snmp.credentials import V2cCredentials
from tests.snmp.conftest import Device, one
from tests.snmp.conftest import settings as snmp_settings
from tests.support import fuzz_examples
from wardops_common.secrets import Secret

COMMUNITY = b"bench-community"

arc = st.integers(0, 2**32 - 1)
oids = st.tuples(st.integers(0, 1), st.integers(0, 39)).flatmap(
    lambda head: st.lists(arc, min_size=0, max_size=20).map(lambda tail: head + tuple(tail))
) | st.tuples(st.just(2), st.integers(0, 2**32 - 81)).flatmap(
    lambda head: st.lists(arc, max_size=10).map(lambda tail: head + tuple(tail)))

# (pysnmp value, what wardops must read) for every type an SNMPv2c agent may send
values = st.one_of(
    st.integers(-2**31, 2**31 - 1).map(lambda n: (v2c.Integer(n), n)),
    st.binary(max_size=300).map(lambda b: (v2c.OctetString(b), b.decode("utf-8", "replace"))),
    st.binary(max_size=40).map(lambda b: (v2c.Opaque(b), b.decode("utf-8", "replace"))),
    st.integers(0, 2**32 - 1).map(lambda n: (v2c.Counter32(n), n)),
    st.integers(0, 2**32 - 1).map(lambda n: (v2c.Gauge32(n), n)),
    st.integers(0, 2**32 - 1).map(lambda n: (v2c.TimeTicks(n), n)),
    st.integers(0, 2**64 - 1).map(lambda n: (v2c.Counter64(n), n)),
    st.binary(min_size=4, max_size=4).map(lambda b: (v2c.IpAddress(b), ".".join(map(str, b)))),
    oids.map(lambda o: (v2c.ObjectIdentifier(o), ".".join(map(str, o)))),
    st.just((v2c.null, None)),
    st.just((v2c.NoSuchObject(""), None)),
    st.just((v2c.NoSuchInstance(""), None)),
    st.just((v2c.EndOfMibView(""), ber.END_OF_MIB)),
)


def pysnmp_response(community: bytes, request_id: int, status: int, index: int,
                    var_binds: list[tuple[tuple[int, ...], object]]) -> bytes:
    """A Response-PDU message encoded by pysnmp/pyasn1."""
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_error_status(pdu, status)
    v2c.apiPDU.set_error_index(pdu, index)
    v2c.apiPDU.set_varbinds(pdu, var_binds)
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


def pysnmp_reading(data: bytes) -> ber.Response | None:
    """What pysnmp makes of ``data`` as an SNMPv2c response (None: it rejects it)."""
    try:
        msg, rest = decoder.decode(data, asn1Spec=v2c.Message())
        pdu = v2c.apiMessage.get_pdu(msg)
        if rest or int(msg["version"]) != 1 or not isinstance(pdu, v2c.ResponsePDU):
            return None
        return ber.Response(
            bytes(v2c.apiMessage.get_community(msg)), int(v2c.apiPDU.get_request_id(pdu)),
            int(v2c.apiPDU.get_error_status(pdu)), int(pdu[2]),
            [(tuple(name), ber.END_OF_MIB if isinstance(value, v2c.EndOfMibView)
              else to_python(value)) for name, value in v2c.apiPDU.get_varbinds(pdu)])
    except Exception:  # pyasn1 raises several kinds on garbage: all are "rejected"
        return None


def agree(data: bytes) -> None:
    """Our decoder either refuses ``data`` with BerError or reads what pysnmp reads."""
    try:
        ours = ber.decode_response(data)
    except ber.BerError:
        return
    assert ours == pysnmp_reading(data), data.hex()


responses = st.builds(
    lambda community, rid, status, binds: (community, rid, status, binds),
    st.binary(max_size=40), st.integers(-2**31, 2**31 - 1), st.integers(0, 18),
    st.lists(st.tuples(oids, values), max_size=12))


@settings(max_examples=fuzz_examples(300), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(responses)
def test_valid_responses_read_as_pysnmp_reads_them(response) -> None:
    community, rid, status, binds = response
    data = pysnmp_response(community, rid, status, 0, [(o, v) for o, (v, _) in binds])
    ours = ber.decode_response(data)
    assert ours == pysnmp_reading(data)
    assert ours.var_binds == [(o, expected) for o, (_, expected) in binds]
    assert (ours.community, ours.request_id, ours.error_status) == (community, rid, status)


@settings(max_examples=fuzz_examples(600), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(responses, st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "set"]),
                                     st.integers(0, 10_000), st.integers(0, 255)),
                           min_size=1, max_size=4))
def test_malformed_responses_are_refused_or_read_as_pysnmp_reads_them(response, edits) -> None:
    community, rid, status, binds = response
    data = bytearray(pysnmp_response(community, rid, status, 0,
                                     [(o, v) for o, (v, _) in binds]))
    for kind, at, byte in edits:
        at %= len(data) + 1
        if kind == "flip" and at < len(data):
            data[at] ^= 1 << (byte % 8)
        elif kind == "set" and at < len(data):
            data[at] = byte
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = bytes([byte])
        if not data:
            break
    agree(bytes(data))


def tlv(tag: int, body: bytes) -> bytes:
    """BER tag, definite length, content (written here, not taken from the code under test)."""
    size = len(body)
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + length + body


VALUE_TAGS = [0x02, 0x04, 0x05, 0x06, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82]
# bytes biased to the edges BER decoders get wrong: sign bits, continuation bits
edgy = st.lists(st.sampled_from([0x00, 0x01, 0x2B, 0x7F, 0x80, 0x81, 0xFF]) | st.integers(0, 255),
                max_size=12).map(bytes)


@settings(max_examples=fuzz_examples(800), deadline=None)
@given(st.lists(st.tuples(edgy, st.sampled_from(VALUE_TAGS) | st.integers(0, 255), edgy),
                min_size=1, max_size=4),
       st.binary(max_size=6))
def test_any_varbind_content_is_refused_or_read_as_pysnmp_reads_it(binds, rid: bytes) -> None:
    """Well-framed messages whose names and values hold arbitrary bytes under any tag:
    lengths, ranges and encodings inside a value are where a hostile agent would aim."""
    var_binds = b"".join(tlv(0x30, tlv(0x06, name) + tlv(tag, content))
                         for name, tag, content in binds)
    pdu = tlv(0x02, rid) + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, var_binds)
    agree(tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, COMMUNITY) + tlv(0xA2, pdu)))


@settings(max_examples=fuzz_examples(300), deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=30))
def test_random_bytes_are_refused_or_read_as_pysnmp_reads_them(body: bytes, head: bytes) -> None:
    agree(body)
    # behind a plausible message header, so the walk gets past the first checks
    agree(b"\x30" + bytes([len(head) + len(body) + 5 & 0x7F]) + b"\x02\x01\x01\x04\x00"
          + head + body)


@pytest.mark.parametrize("data, why", [
    (bytes.fromhex("3080020101040070a2800000"), "indefinite length"),
    (bytes.fromhex("300e02010104007a09020101020100020100"), "not a Response-PDU"),
    (pysnmp_response(COMMUNITY, 7, 0, 0, [((1, 3, 6), v2c.Counter32(1))])[:-1], "cut short"),
    (pysnmp_response(COMMUNITY, 7, 0, 0, [((1, 3, 6), v2c.Counter32(1))])
     .replace(b"\x06\x02\x2b\x06", b"\x06\x02\x2b\x80"), "OID ending inside an arc"),
    (pysnmp_response(COMMUNITY, 7, 0, 0, [((1, 3, 6), v2c.Counter32(1))]) + b"\x00",
     "trailing byte"),
    # Counter32 -1: a broken agent's two's complement; pysnmp refuses it too
    (pysnmp_response(COMMUNITY, 7, 0, 0, [((1, 3, 6), v2c.Integer(-1))])
     .replace(b"\x02\x01\xff", b"\x41\x01\xff"), "negative Counter32"),
])
def test_refused_with_a_reason(data: bytes, why: str) -> None:
    assert pysnmp_reading(data) is None, why
    with pytest.raises(ber.BerError):
        ber.decode_response(data)


@settings(max_examples=fuzz_examples(200), deadline=None)
@given(st.sampled_from([ber.GET, ber.GETBULK]), st.binary(max_size=32),
       st.integers(ber.REQUEST_ID_MIN, ber.REQUEST_ID_MAX), st.integers(0, 10),
       st.integers(0, 100), st.lists(oids, min_size=1, max_size=20))
def test_requests_are_what_pysnmp_encodes(pdu_type, community, rid, non_rep, reps,
                                          names) -> None:
    if pdu_type == ber.GET:
        pdu = v2c.GetRequestPDU()
        v2c.apiPDU.set_defaults(pdu)
    else:
        pdu = v2c.GetBulkRequestPDU()
        v2c.apiBulkPDU.set_defaults(pdu)
        v2c.apiBulkPDU.set_non_repeaters(pdu, non_rep)
        v2c.apiBulkPDU.set_max_repetitions(pdu, reps)
    v2c.apiPDU.set_request_id(pdu, rid)
    v2c.apiPDU.set_varbinds(pdu, [(name, v2c.null) for name in names])
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, community)
    v2c.apiMessage.set_pdu(msg, pdu)
    assert ber.encode_request(community, pdu_type, rid, names, non_rep, reps) == \
        bytes(encoder.encode(msg))


# -- a hostile agent on loopback ---------------------------------------------------------

Reply = Callable[[bytes], list[bytes]]  # request datagram -> the datagrams sent back


class FakeAgent:
    """A UDP "agent" on 127.0.0.1 that answers each request with ``reply(request)``."""

    def __init__(self, reply: Reply) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = int(self.sock.getsockname()[1])
        self.reply = reply
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            if not data:  # the client's empty "is anything listening" probe: an agent drops it
                continue
            self.requests += 1
            for datagram in self.reply(data):
                self.sock.sendto(datagram, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def request_id(request: bytes) -> int:
    msg, _ = decoder.decode(request, asn1Spec=v2c.Message())
    return int(v2c.apiPDU.get_request_id(v2c.apiMessage.get_pdu(msg)))


def answer(**kw: object) -> Reply:
    """A well-formed reply (sysUpTime.0 = 42) to the request, with ``kw`` overriding."""
    def reply(request: bytes) -> list[bytes]:
        rid = int(kw.get("request_id", request_id(request)))  # type: ignore[call-overload]
        return [pysnmp_response(bytes(kw.get("community", COMMUNITY)),  # type: ignore[call-overload]
                                rid, int(kw.get("status", 0)), 0,  # type: ignore[call-overload]
                                [((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(42))])]
    return reply


@pytest.fixture
def client() -> Iterator[tuple[SnmpClient, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    snmp = SnmpClient()
    yield snmp, loop
    snmp.close()
    loop.close()


def get_uptime(client: tuple[SnmpClient, asyncio.AbstractEventLoop], reply: Reply,
               retries: int = 0) -> tuple[object, FakeAgent]:
    snmp, loop = client
    agent = FakeAgent(reply)
    try:
        async def run() -> object:
            session = await snmp.session("127.0.0.1", agent.port,
                                         V2cCredentials(Secret(COMMUNITY.decode(), "test")), 0.3, retries)
            assert isinstance(session, V2cSession)
            try:
                return (await snmp.get(session, [(1, 3, 6, 1, 2, 1, 1, 3, 0)]))
            except SnmpError as exc:
                return exc
        return loop.run_until_complete(run()), agent
    finally:
        agent.close()


def test_a_good_reply_is_read(client) -> None:
    result, _ = get_uptime(client, answer())
    assert result == {(1, 3, 6, 1, 2, 1, 1, 3, 0): 42}


@pytest.mark.parametrize("reply, reason, detail", [
    (lambda req: [b"\x30\x03\x02\x01"], "protocol", "bad reply"),
    (lambda req: [req[:10] + b"\xff" * 20], "protocol", "bad reply"),
    (answer(status=5), "protocol", "agent returned genErr at varbind 0"),
    (answer(community=b"someone-else"), "protocol", "another community"),
    (answer(request_id=ber.REQUEST_ID_MIN - 1), "timeout", "No SNMP response"),  # not ours
    (lambda req: [], "timeout", "No SNMP response"),
], ids=["garbage", "cut-and-padded", "error-status", "community", "stray-id", "silent"])
def test_a_hostile_reply_is_an_error_with_its_reason(client, reply: Reply, reason: str,
                                                      detail: str) -> None:
    result, _ = get_uptime(client, reply)
    assert isinstance(result, SnmpError), result
    assert result.reason == reason and detail in result.detail, result


def test_a_stray_reply_before_the_real_one_is_ignored(client) -> None:
    good = answer()
    result, _ = get_uptime(client, lambda req: answer(request_id=request_id(req) + 1)(req)
                           + good(req) + good(req))
    assert result == {(1, 3, 6, 1, 2, 1, 1, 3, 0): 42}
    # ignored, and counted: the stray one, and the duplicate of the answer (the order in
    # which the two arrive decides which of them is "late", not how many are ignored)
    assert client[0].ignored == {"unmatched": 2, "socket_error": 0}


def test_ignored_datagrams_are_exported_by_reason(make_poller,
                                                  loop: asyncio.AbstractEventLoop,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent answering with another request-id: the poll is a timeout error, and the
    answers it ignored are in /metrics, not silent."""
    monkeypatch.setenv("T_STRAY", COMMUNITY.decode())
    agent = FakeAgent(lambda req: answer(request_id=request_id(req) ^ 1)(req))
    try:
        poller, registry = make_poller(Device("stray", "127.0.0.1", snmp=snmp_settings(
            port=agent.port, community_env="T_STRAY", timeout="300ms", retries=1)))
        assert one(registry, "wardops_snmp_ignored_datagrams_total", reason="unmatched") == 0
        loop.run_until_complete(poller.poll_all())
    finally:
        agent.close()
    assert one(registry, "wardops_snmp_errors_total", reason="timeout") == 1
    # the request and its retry, each answered with a wrong request-id
    assert one(registry, "wardops_snmp_ignored_datagrams_total", reason="unmatched") == 2
    assert one(registry, "wardops_snmp_ignored_datagrams_total", reason="socket_error") == 0


def test_retries_resend_until_an_answer(client) -> None:
    seen: list[bytes] = []
    good = answer()

    def second_try_only(req: bytes) -> list[bytes]:
        seen.append(req)
        return good(req) if len(seen) == 2 else []
    result, agent = get_uptime(client, second_try_only, retries=2)
    assert result == {(1, 3, 6, 1, 2, 1, 1, 3, 0): 42}
    assert agent.requests == 2 and seen[0] == seen[1]  # the same request, resent


def test_timeout_after_every_try(client) -> None:
    result, agent = get_uptime(client, lambda req: [], retries=2)
    assert isinstance(result, SnmpError) and result.reason == "timeout"
    assert agent.requests == 3


def test_a_hostile_agent_is_counted_as_protocol_not_a_crash(make_poller,
                                                            loop: asyncio.AbstractEventLoop,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv("T_HOSTILE", COMMUNITY.decode())
    agent = FakeAgent(lambda req: [req[:12] + b"\x41\x05\xff\xff\xff\xff\xff" * 3])
    try:
        poller, registry = make_poller(Device("hostile", "127.0.0.1", snmp=snmp_settings(
            port=agent.port, community_env="T_HOSTILE")))
        loop.run_until_complete(poller.poll_all())
        loop.run_until_complete(poller.poll_all())
    finally:
        agent.close()
    assert one(registry, "wardops_snmp_up") == 0
    assert one(registry, "wardops_snmp_errors_total", reason="protocol") == 2
    assert one(registry, "wardops_snmp_errors_total", reason="internal") == 0
    assert one(registry, "wardops_snmp_uptime_seconds") is None
