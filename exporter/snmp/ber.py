"""A lean BER codec for SNMPv2c requests and responses.

Steady SNMP polls are dominated by decoding: pysnmp builds a pyasn1 object tree for
every message (a few dozen objects per varbind, with constraint checks on each), which
cost about 60 µs per varbind. An IF-MIB counter poll needs a handful of types, so this
module reads responses with a flat walker over the bytes and returns plain Python values,
the same ones :func:`exporter.snmp.client.to_python` makes from pysnmp's objects:

====================================  ==============================================
INTEGER (Integer32)                   int in -2**31 .. 2**31-1
Counter32, Gauge32/Unsigned32,        int in 0 .. 2**32-1
TimeTicks
Counter64                             int in 0 .. 2**64-1
OCTET STRING, Opaque                  str (UTF-8, undecodable bytes replaced)
IpAddress                             "a.b.c.d"
OBJECT IDENTIFIER                     "1.3.6..."
NULL, noSuchObject, noSuchInstance    None
endOfMibView                          :data:`END_OF_MIB`
====================================  ==============================================

Anything else (another tag, a value out of its type's range, a length that overruns its
container, indefinite lengths, constructed strings, trailing bytes) raises
:class:`BerError`: a hostile or broken agent's reply becomes a counted ``protocol``
error, never an exception of another kind and never a wrong value. ``tests/snmp/
test_ber.py`` holds it to pysnmp's own decoder on random valid and malformed messages.

Requests are encoded once per distinct shape and cached; only the request-id, always
4 content bytes (ids are drawn from ``REQUEST_ID_MIN .. REQUEST_ID_MAX``), is patched in.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

OID = tuple[int, ...]
Value = int | str | None


class EndOfMib:
    """The type of :data:`END_OF_MIB`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MIB"


END_OF_MIB: Final = EndOfMib()  # endOfMibView: a walk has left the agent's MIB
Decoded = int | str | None | EndOfMib

GET: Final = 0xA0
GETBULK: Final = 0xA5
_RESPONSE = 0xA2
_SEQUENCE = 0x30

# Request-ids whose minimal two's-complement encoding is always 4 octets, so a cached
# request is patched in place.
REQUEST_ID_MIN: Final = 0x01000000
REQUEST_ID_MAX: Final = 0x7FFFFFFF

# RFC 3416 error-status names, as pysnmp prints them.
ERROR_STATUS: Final = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
    "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
    "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
    "authorizationError", "notWritable", "inconsistentName",
)

_MAX_OID_ARCS = 128  # RFC 2578: at most 128 sub-identifiers
_MAX_OCTETS = 65535  # RFC 2578: OCTET STRING (SIZE (0..65535))
_UNSIGNED32 = (1 << 32) - 1
_UNSIGNED64 = (1 << 64) - 1
_OID_CACHE_LIMIT = 65536


class BerError(ValueError):
    """Bytes that are not a well-formed SNMPv2c response."""


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded Response-PDU."""

    community: bytes
    request_id: int
    error_status: int
    error_index: int
    var_binds: list[tuple[OID, Decoded]]


# -- encoding ------------------------------------------------------------------------

def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


@functools.lru_cache(maxsize=4096)
def encode_oid(oid: OID) -> bytes:
    """The BER encoding (tag, length, content) of an OBJECT IDENTIFIER."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise ValueError(f"not an encodable OID: {oid}")
    body = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        if arc < 0:
            raise ValueError(f"negative OID arc in {oid}")
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


@functools.lru_cache(maxsize=1024)
def _template(community: bytes, pdu_type: int, first: int, second: int,
              oids: tuple[OID, ...]) -> tuple[bytes, bytes]:
    var_binds = b"".join(_tlv(_SEQUENCE, encode_oid(oid) + b"\x05\x00") for oid in oids)
    rest = _integer(first) + _integer(second) + _tlv(_SEQUENCE, var_binds)
    pdu = _tlv(pdu_type, b"\x02\x04\x00\x00\x00\x00" + rest)
    message = _tlv(_SEQUENCE, _integer(1) + _tlv(0x04, community) + pdu)
    at = len(message) - len(rest) - 4  # where the request-id's 4 content octets sit
    return message[:at], message[at + 4:]


def encode_request(community: bytes, pdu_type: int, request_id: int, oids: Sequence[OID],
                   non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """An SNMPv2c GetRequest (``GET``) or GetBulkRequest (``GETBULK``) message.

    ``request_id`` must lie in ``REQUEST_ID_MIN .. REQUEST_ID_MAX``.
    """
    if not REQUEST_ID_MIN <= request_id <= REQUEST_ID_MAX:
        raise ValueError(f"request-id {request_id} outside the 4-octet range")
    first, second = (non_repeaters, max_repetitions) if pdu_type == GETBULK else (0, 0)
    head, tail = _template(community, pdu_type, first, second, tuple(oids))
    return head + request_id.to_bytes(4, "big") + tail


# -- decoding ------------------------------------------------------------------------

_oid_cache: dict[bytes, OID] = {}


def _header(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    """(content start, content end) of the element at ``pos`` that must have ``tag``."""
    if pos + 2 > end:
        raise BerError("truncated element")
    if data[pos] != tag:
        raise BerError(f"expected tag 0x{tag:02x}, got 0x{data[pos]:02x}")
    return _span(data, pos + 1, end)


def _span(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a definite length at ``pos``; (content start, content end) within ``end``."""
    first = data[pos]
    pos += 1
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:  # indefinite, or longer than any UDP datagram
            raise BerError("unsupported length encoding")
        if pos + count > end:
            raise BerError("truncated length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > end:
        raise BerError("length overruns its container")
    return pos, pos + length


def _signed(data: bytes, start: int, stop: int, low: int, high: int) -> int:
    if start == stop or stop - start > 9:
        raise BerError("bad integer length")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if not low <= value <= high:
        raise BerError(f"integer {value} out of range")
    return value


def _oid(data: bytes, start: int, stop: int) -> OID:
    raw = data[start:stop]
    cached = _oid_cache.get(raw)
    if cached is not None:
        return cached
    if not raw or raw[-1] & 0x80:
        raise BerError("empty or truncated OID")
    arcs: list[int] = []
    arc = 0
    fresh = True
    for byte in raw:
        if fresh and byte == 0x80:
            raise BerError("OID arc with a leading 0x80 octet")
        arc = (arc << 7) | (byte & 0x7F)
        if byte & 0x80:
            fresh = False
        else:
            arcs.append(arc)
            arc = 0
            fresh = True
    head = arcs[0]
    oid = (((0, head) if head < 40 else (1, head - 40) if head < 80 else (2, head - 80))
           + tuple(arcs[1:]))
    if len(oid) > _MAX_OID_ARCS:
        raise BerError("OID longer than 128 arcs")
    if len(_oid_cache) >= _OID_CACHE_LIMIT:
        _oid_cache.clear()
    _oid_cache[raw] = oid
    return oid


def _value(data: bytes, tag: int, start: int, stop: int) -> Decoded:
    if tag == 0x41 or tag == 0x42 or tag == 0x43:  # Counter32, Gauge32, TimeTicks
        return _signed(data, start, stop, 0, _UNSIGNED32)
    if tag == 0x46:  # Counter64
        return _signed(data, start, stop, 0, _UNSIGNED64)
    if tag == 0x02:
        return _signed(data, start, stop, -(1 << 31), (1 << 31) - 1)
    if tag == 0x04 or tag == 0x44:  # OCTET STRING, Opaque
        if stop - start > _MAX_OCTETS:
            raise BerError("OCTET STRING longer than 65535 octets")
        return data[start:stop].decode("utf-8", errors="replace")
    if tag == 0x05 or tag == 0x80 or tag == 0x81 or tag == 0x82:
        if stop != start:
            raise BerError("NULL with content")
        return END_OF_MIB if tag == 0x82 else None
    if tag == 0x40:  # IpAddress
        if stop - start != 4:
            raise BerError("IpAddress is not 4 octets")
        return ".".join(str(b) for b in data[start:stop])
    if tag == 0x06:
        return ".".join(map(str, _oid(data, start, stop)))
    raise BerError(f"unsupported value tag 0x{tag:02x}")


def decode_response(data: bytes) -> Response:
    """Decode an SNMPv2c Response-PDU message; raises :class:`BerError` on anything else."""
    try:
        return _decode(data)
    except IndexError:  # an element cut off where its tag or length should be
        raise BerError("truncated message") from None


def _decode(data: bytes) -> Response:
    size = len(data)
    pos, end = _header(data, 0, size, _SEQUENCE)
    if end != size:
        raise BerError("trailing bytes after the message")
    start, pos = _header(data, pos, end, 0x02)
    if _signed(data, start, pos, 0, 1) != 1:
        raise BerError("not an SNMPv2c message")
    start, pos = _header(data, pos, end, 0x04)
    community = data[start:pos]
    pos, pdu_end = _header(data, pos, end, _RESPONSE)
    if pdu_end != end:
        raise BerError("trailing bytes after the PDU")
    start, pos = _header(data, pos, pdu_end, 0x02)
    request_id = _signed(data, start, pos, -(1 << 31), (1 << 31) - 1)
    start, pos = _header(data, pos, pdu_end, 0x02)
    error_status = _signed(data, start, pos, 0, len(ERROR_STATUS) - 1)
    start, pos = _header(data, pos, pdu_end, 0x02)
    error_index = _signed(data, start, pos, 0, (1 << 31) - 1)
    pos, list_end = _header(data, pos, pdu_end, _SEQUENCE)
    if list_end != pdu_end:
        raise BerError("trailing bytes after the varbind list")
    var_binds: list[tuple[OID, Decoded]] = []
    append = var_binds.append
    while pos < list_end:
        pos, bind_end = _header(data, pos, list_end, _SEQUENCE)
        start, pos = _header(data, pos, bind_end, 0x06)
        name = _oid(data, start, pos)
        if pos + 2 > bind_end:
            raise BerError("varbind without a value")
        tag = data[pos]
        start, pos = _span(data, pos + 1, bind_end)
        if pos != bind_end:
            raise BerError("trailing bytes in a varbind")
        append((name, _value(data, tag, start, pos)))
    return Response(community, request_id, error_status, error_index, var_binds)
