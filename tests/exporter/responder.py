"""A slow, lossy loopback "device": netem in user space, for a kernel without sch_netem.

The namespace's kernel answers echo requests itself, at once. For the addresses given, a
:class:`Responder` takes that over: an nftables rule drops the kernel's echo replies from
those addresses (only unmarked ones), and a thread reads every echo request on a raw
socket and answers it itself, from the requested address and with a firewall mark the
rule lets through, after a delay drawn from a normal distribution (mean, stddev) — or
not at all, with probability ``loss``. The prober sees real packets with real delays.

An address with no delay (mean and stddev 0) stays with the kernel, which answers at once;
nftables drops the share ``loss`` of its replies at random. A thread in the test's process
would answer it up to a GIL switch interval (5 ms) late whenever the test itself is busy,
which is not what "at once" means.
"""

from __future__ import annotations

import heapq
import random
import select
import socket
import struct
import subprocess
import threading
import time

from tests.icmp.test_checksum import full_checksum

TABLE = "wardops_responder"
MARK = 0x5A
_SO_MARK = 36


class Responder:
    """Answers echo requests to ``delays``' addresses: {address: (mean, stddev, loss)}."""

    def __init__(self, delays: dict[str, tuple[float, float, float]], seed: int = 14) -> None:
        self.delays = delays
        self.random = random.Random(seed)
        self.answered = dict.fromkeys(delays, 0)
        self.dropped = dict.fromkeys(delays, 0)
        delayed = [a for a, (mean, stddev, _) in delays.items() if mean or stddev]
        rules = [f"ip saddr {{ {', '.join(delayed)} }} icmp type echo-reply"
                 f" meta mark != {MARK} drop"] if delayed else []
        rules += [f"ip saddr {address} icmp type echo-reply"
                  f" numgen random mod 1000 < {round(loss * 1000)} drop"
                  for address, (mean, stddev, loss) in delays.items()
                  if not (mean or stddev) and loss]
        body = "\n    ".join(rules)
        subprocess.run(["nft", "-f", "-"], check=True, input=f"""
table ip {TABLE} {{
  chain output {{
    type filter hook output priority 0; policy accept;
    {body}
  }}
}}""".encode())
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        self.senders = {}
        for address in delayed:
            sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sender.setsockopt(socket.SOL_SOCKET, _SO_MARK, MARK)
            sender.bind((address, 0))  # replies leave from the requested address
            self.senders[address] = sender
        self._stop = threading.Event()
        self._queue: list[tuple[float, int, str, str, bytes]] = []
        self._order = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = 0.05
            if self._queue:
                timeout = max(0.0, min(timeout, self._queue[0][0] - time.monotonic()))
            ready, _, _ = select.select([self.listen], [], [], timeout)
            if ready:
                self._read()
            now = time.monotonic()
            while self._queue and self._queue[0][0] <= now:
                _, _, source, destination, packet = heapq.heappop(self._queue)
                self.senders[source].sendto(packet, (destination, 0))

    def _read(self) -> None:
        data, _ = self.listen.recvfrom(4096)
        header = (data[0] & 0x0F) * 4
        if data[header] != 8:  # not an echo request
            return
        source = socket.inet_ntoa(data[12:16])
        destination = socket.inet_ntoa(data[16:20])
        if destination not in self.senders:  # not ours, or the kernel answers it
            return
        mean, stddev, loss = self.delays[destination]
        if self.random.random() < loss:
            self.dropped[destination] += 1
            return
        icmp = bytearray(data[header:])
        icmp[0] = 0  # echo reply, same identifier, sequence and payload
        icmp[2:4] = b"\0\0"
        icmp[2:4] = struct.pack("!H", full_checksum(bytes(icmp)))
        delay = max(0.0, self.random.gauss(mean, stddev))
        self._order += 1
        heapq.heappush(self._queue, (time.monotonic() + delay, self._order, destination,
                                     source, bytes(icmp)))
        self.answered[destination] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listen.close()
        for sender in self.senders.values():
            sender.close()
        subprocess.run(["nft", "delete", "table", "ip", TABLE], check=False,
                       stderr=subprocess.DEVNULL)
