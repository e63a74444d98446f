"""The incremental echo checksum agrees with a full one's-complement sum (RFC 1071)."""

from __future__ import annotations

import struct

import pytest

from exporter.icmp import sequence_checksum


def full_checksum(packet: bytes) -> int:
    """RFC 1071 over the whole packet, written out independently of the engine."""
    if len(packet) % 2:
        packet += b"\0"
    total = sum(struct.unpack(f"!{len(packet) // 2}H", packet))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def echo(ident: int, seq: int, checksum: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHH", 8, 0, checksum, ident, seq) + payload


@pytest.mark.parametrize("ident,payload", [
    (0x1234, b"wardops-icmp-probe-" * 3),
    (0xFFFF, b"\xff" * 56),   # sums that carry on every word
    (0x0000, b""),
    (0x0001, b"odd"),
])
def test_incremental_checksum_matches_full_sum(ident: int, payload: bytes) -> None:
    base_sum = ~full_checksum(echo(ident, 0, 0, payload)) & 0xFFFF
    for seq in [*range(0, 0x10000, 97), 0xFFFE, 0xFFFF]:
        checksum = sequence_checksum(base_sum, seq)
        assert checksum == full_checksum(echo(ident, seq, 0, payload)), seq
        # what the receiver checks: the sum over the packet including its checksum is 0
        assert full_checksum(echo(ident, seq, checksum, payload)) == 0, seq
