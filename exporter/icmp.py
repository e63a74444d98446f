"""ICMP echo probing for thousands of targets over one socket per address family.

The design is fping's: an :class:`IcmpProber` opens ONE ICMP socket for IPv4 and one for
IPv6 and shares them between all probes. Raw sockets are used where allowed (root or
CAP_NET_RAW), unprivileged datagram ("ping") sockets otherwise
(``net.ipv4.ping_group_range`` must include the process's group). While requests are
out, each socket is drained every few milliseconds (``_READ_EVERY``) by one timer that
reads until the socket is empty, so a reply costs a ``recvmsg`` and a dictionary
look-up, not a wake-up of its own, a future or a task. Reading late does not lengthen a
round trip: it is taken from the kernel's receive timestamp. icmplib opens the
sockets and builds the echo-request template; the hot path only patches the sequence
number (and, for raw IPv4, the checksum, updated incrementally from the template's; the
kernel computes it for IPv6 and datagram sockets).

How a reply finds its probe
---------------------------
* Every request gets a sequence number from a per-family 16-bit counter shared by all
  probes, and is filed in the family's ``pending`` table under the key
  ``(destination address, sequence)``. The counter wraps at 65,536; a number still
  pending for the same address is skipped, so even many concurrent probes of one
  address never share a key.
* A reply is looked up under ``(source address, sequence)``; the source address is the
  one the kernel reports, so a reply from one device can never be credited to another.
  Raw sockets see every echo reply on the host, so there the identifier must also be
  ours (one per prober, from icmplib). Datagram sockets get only replies to their own
  identifier, which the kernel chose and wrote into the requests, so the identifier is
  not checked there.
* The round trip is the kernel's receive timestamp (``SO_TIMESTAMPNS``) minus the send
  time, so a busy event loop does not inflate it. A reply counts if it came within
  ``timeout`` of its request; later ones are counted as late and ignored.
* A probe ends when every request sent has its reply, or ``timeout`` after its last
  request. Its keys leave ``pending`` then, so a late reply finds nothing.

Raw IPv4 and IPv6 sockets carry an ``ICMP_FILTER`` / ``ICMP6_FILTER`` so they wake only
for echo replies (on loopback a raw socket would otherwise also read our own requests).

Errors
------
``probe()`` never raises for network errors. A request the kernel refuses to send
(``sendto`` fails: a blackhole or unreachable route, a firewall, a full buffer) is counted
by reason in :meth:`IcmpProber.stats`; a probe none of whose requests could be sent ends at
once with ``ProbeOutcome.error`` set to that reason (nothing is known about the device).
ICMP errors that routers send back about our requests (host unreachable, prohibited)
are not reported on these sockets: Linux reports them on an unconnected raw or ping
socket only with ``IP_RECVERR``, which is left off. Such a device simply does not answer
(it is down), and an error about one address can never fail another address's ``sendto``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import icmplib  # type: ignore[import-untyped]  # no type information shipped

log = logging.getLogger(__name__)

# Linux socket options Python's socket module does not name.
_SO_TIMESTAMPNS = 35
_SO_SNDBUFFORCE = 32
_SO_RCVBUFFORCE = 33
_SO_MARK = 36
_SOL_RAW = 255
_ICMP_FILTER = 1
_ICMP6_FILTER = 1

_ECHO_REPLY_V4 = 0
_ECHO_REPLY_V6 = 129
_PAYLOAD = b"wardops-icmp-probe-" * 3  # 57 bytes, like ping's 56 plus one
_BUFFER_BYTES = 4 * 1024 * 1024  # a 10,000-device burst must not overflow the socket
_DRAIN_EVERY = 64  # sends between opportunistic reads, so replies never pile up
# Seconds between reads of a socket while requests are out. One wake-up per reply (a
# reader callback) cost as much again as the reply itself at 10,000 devices; a probe now
# ends up to this much after its last reply, which nobody sees.
_READ_EVERY = 0.005
_MAX_SEQUENCE = 0xFFFF
_TIMESPEC = struct.Struct("@qq")
_V4_MAPPED_PREFIX = b"\0" * 10 + b"\xff\xff"
_CANONICAL_CACHE = 1_000_000  # addresses whose parsed form is kept

#: Seconds between the echo requests of one probe unless the prober is told otherwise.
DEFAULT_SPACING = 0.1

#: Reasons a request could not be sent (``ProbeOutcome.error`` and ``stats().send_errors``).
SEND_ERROR_REASONS = ("unreachable", "prohibited", "buffer", "send")
#: Reasons counted in ``stats().receive_errors``.
RECEIVE_ERROR_REASONS = ("receive",)
#: Reasons a whole probe could not run, besides the send reasons.
PROBE_ERROR_REASONS = (*SEND_ERROR_REASONS, "address", "socket")

#: Label values of the address families, as in ``wardops_icmp_*_total{family}``.
FAMILY_NAMES = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}

_SEND_REASON_BY_ERRNO = {
    errno.EINVAL: "unreachable",  # blackhole route
    errno.ENETUNREACH: "unreachable",
    errno.EHOSTUNREACH: "unreachable",
    errno.EADDRNOTAVAIL: "unreachable",
    errno.EACCES: "prohibited",  # prohibit route, broadcast address
    errno.EPERM: "prohibited",  # local firewall drops the request on output
    errno.ENOBUFS: "buffer",
    errno.EAGAIN: "buffer",
    errno.ENOMEM: "buffer",
}


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """What one probe of one address saw.

    ``error`` is a short reason label (e.g. ``"send"``, ``"socket"``) when the probe could
    not run at all; then nothing can be said about the device and it must not count as up
    or down.
    """

    sent: int
    received: int
    rtts: tuple[float, ...] = ()  # seconds, one per reply
    error: str | None = None
    detail: str = ""  # human-readable error text for the log


@dataclass(frozen=True, slots=True)
class Route:
    """How a path's requests leave: a source address, an interface, a firewall mark.

    Each distinct route gets its own socket per family (these are socket options):
    ``source`` is bound, ``interface`` set with ``SO_BINDTODEVICE`` and ``mark`` with
    ``SO_MARK`` (policy routing picks the uplink; both need CAP_NET_ADMIN or root).
    """

    source: str = ""
    interface: str = ""
    mark: int | None = None

    def __str__(self) -> str:
        parts = [f"source {self.source}" if self.source else "",
                 f"interface {self.interface}" if self.interface else "",
                 f"mark {self.mark:#x}" if self.mark is not None else ""]
        return ", ".join(p for p in parts if p) or "default route"


DEFAULT_ROUTE = Route()


@dataclass(frozen=True, slots=True)
class IcmpStats:
    """Packet counters since start, for the collector (all reasons present, from 0)."""

    requests_sent: int
    replies_received: int
    late_replies: int  # ours, but after the timeout, its probe's end, or a duplicate
    send_errors: dict[str, int] = field(default_factory=dict)
    receive_errors: dict[str, int] = field(default_factory=dict)


def sequence_checksum(base_sum: int, sequence: int) -> int:
    """The ICMP checksum of the echo template once ``sequence`` replaces its zero.

    ``base_sum`` is the folded one's-complement sum of the template with sequence 0 (the
    complement of its checksum); adding a 16-bit word and folding the carry back in is the
    incremental update of RFC 1624.
    """
    total = base_sum + sequence
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _Probe:
    """One running probe: its requests, replies and whom to tell when it ends."""

    __slots__ = (
        "address",
        "count",
        "done",
        "failed",
        "callback",
        "keys",
        "last_error",
        "reason",
        "rtts",
        "sent",
        "timeout",
        "to_send",
    )

    def __init__(self, address: str, count: int, timeout: float,
                 callback: Callable[[ProbeOutcome], object] | None) -> None:
        self.address = address
        self.count = count
        self.timeout = timeout
        self.callback = callback  # None once the caller no longer wants the outcome
        self.keys: list[tuple[str, int]] = []
        self.sent = 0
        self.to_send = count
        self.rtts: list[float] = []
        self.done = False
        self.failed = 0
        self.last_error: OSError | None = None
        self.reason = ""


class _Family:
    """The shared socket of one address family, its pending requests and its pacer."""

    def __init__(self, family: int, privileged: bool, spacing: float,
                 loop: asyncio.AbstractEventLoop, route: Route = DEFAULT_ROUTE) -> None:
        self.family = family
        self.loop = loop
        self.spacing = spacing
        self.raw = privileged
        self.icmp_socket: icmplib.ICMPv4Socket | icmplib.ICMPv6Socket
        source = route.source or None
        if family == socket.AF_INET:
            self.icmp_socket = icmplib.ICMPv4Socket(address=source, privileged=privileged)
            self.reply_type = _ECHO_REPLY_V4
        else:
            self.icmp_socket = icmplib.ICMPv6Socket(address=source, privileged=privileged)
            self.reply_type = _ECHO_REPLY_V6
        self.sock: socket.socket = self.icmp_socket.sock
        try:
            if route.interface:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                     route.interface.encode())
            if route.mark is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, _SO_MARK, route.mark)
        except OSError:
            self.icmp_socket.close()
            raise
        self.sock.setblocking(False)
        self._tune_socket()
        # Raw IPv4 reads include the IP header; everything else starts at the ICMP header.
        self.ip_header = family == socket.AF_INET and privileged
        self.checksummed = self.ip_header  # only raw IPv4 needs our checksum
        self.ident = icmplib.utils.unique_identifier()
        # The kernel writes the datagram socket's own identifier; raw replies must match ours.
        self.check_ident = privileged
        template = self.icmp_socket._create_packet(id=self.ident, sequence=0, payload=_PAYLOAD)
        self.template = bytearray(template)
        # One's-complement sum of the template with sequence 0, so a sequence's checksum is
        # one addition and a fold (RFC 1624) instead of a pass over the packet.
        self.base_sum = ~struct.unpack_from("!H", template, 2)[0] & 0xFFFF
        self.pending: dict[tuple[str, int], tuple[_Probe, float, float]] = {}
        self.next_seq = 0
        self.sends_since_drain = 0
        self.pacer: deque[tuple[float, _Probe]] = deque()
        self.pacer_timer: asyncio.TimerHandle | None = None
        # Probes waiting for their timeout, in deadline order per timeout value (one
        # queue in practice: the exporter uses one timeout), under one timer: a timer
        # per probe, mostly cancelled when the replies come, cost more than the replies.
        self.expiries: dict[float, deque[tuple[float, _Probe]]] = {}
        self.expiry_timer: asyncio.TimerHandle | None = None
        self.expiry_at = math.inf
        self.requests_sent = 0
        self.replies_received = 0
        self.late_replies = 0
        self.send_errors = dict.fromkeys(SEND_ERROR_REASONS, 0)
        self.receive_errors = dict.fromkeys(RECEIVE_ERROR_REASONS, 0)
        self.read_timer: asyncio.TimerHandle | None = None

    def _tune_socket(self) -> None:
        sock = self.sock
        for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF),
                             (_SO_SNDBUFFORCE, socket.SO_SNDBUF)):
            try:  # FORCE needs CAP_NET_ADMIN; otherwise the kernel caps at net.core.*mem_max
                sock.setsockopt(socket.SOL_SOCKET, force, _BUFFER_BYTES)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, plain, _BUFFER_BYTES)
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        if not self.raw:
            return  # datagram sockets receive only echo replies to their own identifier
        if self.family == socket.AF_INET:  # bit set = type blocked
            sock.setsockopt(_SOL_RAW, _ICMP_FILTER,
                            struct.pack("I", ~(1 << _ECHO_REPLY_V4) & 0xFFFFFFFF))
        else:  # Linux: bit set = type blocked, 256 bits
            words = [0xFFFFFFFF] * 8
            words[_ECHO_REPLY_V6 >> 5] &= ~(1 << (_ECHO_REPLY_V6 & 31)) & 0xFFFFFFFF
            sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("8I", *words))

    def close(self, detail: str) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
        if self.pacer_timer is not None:
            self.pacer_timer.cancel()
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
        for probe, _, _ in list(self.pending.values()):
            if not probe.done:
                self.finish(probe, error=("socket", detail))
        for _, probe in self.pacer:
            if not probe.done:
                self.finish(probe, error=("socket", detail))
        self.pacer.clear()
        self.icmp_socket.close()

    # -- sending ---------------------------------------------------------------------

    def start(self, probe: _Probe) -> None:
        """Send the probe's first request now and pace the others ``spacing`` apart."""
        self.send(probe)
        if self.spacing <= 0:
            while probe.to_send:
                self.send(probe)
            self.sent_all(probe)
        elif probe.to_send:
            self.pacer.append((self.loop.time() + self.spacing, probe))
            if self.pacer_timer is None:
                self.pacer_timer = self.loop.call_at(self.pacer[0][0], self.run_pacer)
        else:
            self.sent_all(probe)

    def run_pacer(self) -> None:
        """Send every paced request that is due (one timer for all probes)."""
        self.pacer_timer = None
        pacer = self.pacer
        due_by = self.loop.time() + 0.001  # batch requests due within a millisecond
        spacing = self.spacing
        while pacer and pacer[0][0] <= due_by:
            _, probe = pacer.popleft()
            if probe.done:
                continue
            self.send(probe)
            if probe.to_send:
                pacer.append((self.loop.time() + spacing, probe))
            else:
                self.sent_all(probe)
        if pacer:
            self.pacer_timer = self.loop.call_at(pacer[0][0], self.run_pacer)

    def send(self, probe: _Probe) -> None:
        """Send one echo request of ``probe`` under a free sequence number."""
        probe.to_send -= 1
        pending = self.pending
        address = probe.address
        seq = self.next_seq
        key = (address, seq)
        if key in pending:  # wrapped onto a request to this address still in flight
            for _ in range(_MAX_SEQUENCE):
                seq = (seq + 1) & _MAX_SEQUENCE
                key = (address, seq)
                if key not in pending:
                    break
            else:
                self._send_failed(probe, "buffer", OSError(errno.EBUSY, "no free sequence"))
                return
        self.next_seq = (seq + 1) & _MAX_SEQUENCE
        packet = self.template
        if self.checksummed:
            struct.pack_into("!HHH", packet, 2, sequence_checksum(self.base_sum, seq),
                             self.ident, seq)
        else:
            struct.pack_into("!H", packet, 6, seq)
        sent_at = time.time()
        sent_mono = time.monotonic()
        try:
            self.sock.sendto(packet, (address, 0))
        except OSError as exc:
            self._send_failed(probe, _SEND_REASON_BY_ERRNO.get(exc.errno or 0, "send"), exc)
            return
        pending[key] = (probe, sent_at, sent_mono)
        probe.keys.append(key)
        probe.sent += 1
        self.requests_sent += 1
        self.sends_since_drain += 1
        if self.read_timer is None:
            # Reading resumes: first empty what came while nothing was out (another
            # program's echo replies on a raw socket) so our replies find room.
            self.drain()
            self.read_timer = self.loop.call_at(self.loop.time() + _READ_EVERY,
                                                self.read_tick)
        elif self.sends_since_drain >= _DRAIN_EVERY:
            self.drain()

    def read_tick(self) -> None:
        """Read what arrived; keep reading every ``_READ_EVERY`` while requests are out."""
        self.drain()
        if self.pending:
            self.read_timer = self.loop.call_at(self.loop.time() + _READ_EVERY,
                                                self.read_tick)
        else:
            self.read_timer = None

    def _send_failed(self, probe: _Probe, reason: str, exc: OSError) -> None:
        self.send_errors[reason] += 1
        probe.failed += 1
        probe.last_error = exc
        probe.reason = reason

    def sent_all(self, probe: _Probe) -> None:
        """The last request is out: end now if nothing can still come, else at the timeout."""
        if probe.done:
            return
        if probe.sent == 0 or len(probe.rtts) == probe.sent:
            self.finish(probe)
        else:
            deadline = self.loop.time() + probe.timeout
            queue = self.expiries.get(probe.timeout)
            if queue is None:
                queue = self.expiries[probe.timeout] = deque()
            queue.append((deadline, probe))
            if deadline < self.expiry_at:
                self._arm_expiry(deadline)

    def _arm_expiry(self, when: float) -> None:
        if self.expiry_timer is not None:
            self.expiry_timer.cancel()
        self.expiry_at = when
        self.expiry_timer = self.loop.call_at(when, self.expire)

    def expire(self) -> None:
        """End the probes whose time is up, after reading what already arrived (the
        kernel's timestamps decide whether a reply was in time)."""
        self.expiry_timer, self.expiry_at = None, math.inf
        now = self.loop.time()
        drained = False
        next_at = math.inf
        for timeout, queue in list(self.expiries.items()):
            while queue and queue[0][0] <= now:
                probe = queue.popleft()[1]
                if probe.done:
                    continue  # all its replies came
                if not drained:
                    self.drain()
                    drained = True
                if not probe.done:
                    self.finish(probe)
            if queue:
                next_at = min(next_at, queue[0][0])
            else:
                del self.expiries[timeout]
        if next_at < math.inf:
            self._arm_expiry(next_at)

    # -- receiving -------------------------------------------------------------------

    def drain(self) -> None:
        """Read every reply waiting on the socket and credit each to its request."""
        self.sends_since_drain = 0
        recvmsg = self.sock.recvmsg
        pending = self.pending
        unpack_ts = _TIMESPEC.unpack
        ip_header = self.ip_header
        reply_type = self.reply_type
        check_ident = self.check_ident
        ident = self.ident
        errors_left = 100  # each read error is reported once; do not spin on a broken socket
        while True:
            try:
                data, ancdata, _flags, source = recvmsg(2048, 64)
            except BlockingIOError:
                return
            except InterruptedError:
                continue
            except OSError as exc:
                # Not expected without IP_RECVERR; counted and logged, and the probes
                # waiting for replies end at their timeout as usual.
                self.receive_errors["receive"] += 1
                log.warning("receive error on the ICMP socket: %s", exc)
                errors_left -= 1
                if errors_left <= 0:
                    return
                continue
            offset = (data[0] & 0x0F) << 2 if ip_header else 0
            if len(data) < offset + 8 or data[offset] != reply_type:
                continue
            if check_ident and (data[offset + 4] << 8 | data[offset + 5]) != ident:
                continue  # another program's (or another prober's) echo reply
            entry = pending.pop((source[0], data[offset + 6] << 8 | data[offset + 7]), None)
            if entry is None:
                self.late_replies += 1
                continue
            probe, sent_at, sent_mono = entry
            rtt = time.monotonic() - sent_mono
            if ancdata:
                seconds, nanoseconds = unpack_ts(ancdata[0][2])
                kernel_rtt = seconds + nanoseconds * 1e-9 - sent_at
                if 0.0 <= kernel_rtt <= rtt:  # else the wall clock stepped: keep ours
                    rtt = kernel_rtt
            if rtt > probe.timeout:
                self.late_replies += 1
                continue
            self.replies_received += 1
            rtts = probe.rtts
            rtts.append(rtt)
            if len(rtts) == probe.sent and not probe.to_send:
                self.finish(probe)

    def finish(self, probe: _Probe, error: tuple[str, str] | None = None) -> None:
        """End ``probe``: forget its requests and hand the outcome to its caller."""
        probe.done = True
        pending = self.pending
        for key in probe.keys:
            pending.pop(key, None)
        callback, probe.callback = probe.callback, None
        if callback is None:
            return  # the caller cancelled it
        if error is None and probe.sent == 0 and probe.failed:
            error = (probe.reason, f"sendto {probe.address}: {probe.last_error}")
        if error is not None:
            outcome = ProbeOutcome(sent=probe.sent, received=len(probe.rtts),
                                   rtts=tuple(probe.rtts), error=error[0], detail=error[1])
        else:
            detail = ""
            if probe.failed:
                detail = (f"{probe.failed} of {probe.count} requests not sent "
                          f"({probe.reason}): {probe.last_error}")
            outcome = ProbeOutcome(sent=probe.sent, received=len(probe.rtts),
                                   rtts=tuple(probe.rtts), detail=detail)
        try:
            callback(outcome)
        except Exception:  # the caller's bug must not stop the reading of the socket
            log.exception("probe outcome callback failed", extra={"address": probe.address})


class ProbeHandle:
    """A probe started with :meth:`IcmpProber.launch`; :meth:`cancel` forgets it."""

    __slots__ = ("_engine", "_probe")

    def __init__(self, engine: _Family | None, probe: _Probe) -> None:
        self._engine = engine
        self._probe = probe

    def cancel(self) -> None:
        """Stop waiting for the probe: its callback is not called, its requests are
        forgotten (a reply that still comes is counted as late)."""
        probe = self._probe
        probe.callback = None
        if not probe.done and self._engine is not None:
            self._engine.finish(probe)


def raw_sockets_allowed() -> bool:
    """Whether this process may open raw ICMP sockets (root, or CAP_NET_RAW).

    Tried rather than guessed from the user id: root in a container without CAP_NET_RAW
    may not, and a non-root binary with the capability may.
    """
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    except PermissionError:
        return False
    except OSError as exc:  # e.g. no IPv4 at all: start() will report it
        log.debug("raw ICMP socket test failed: %s", exc)
        return os.geteuid() == 0
    return True


class IcmpProber:
    """Sends ``count`` echo requests to an address and waits ``timeout`` for the replies.

    One prober serves any number of concurrent probes over one socket per address family.
    ``spacing`` is the gap between the requests of one probe (they are spread so a short
    burst of loss does not take them all); ``0`` sends them back to back. A probe takes
    at most ``(count - 1) * spacing + timeout`` seconds, less when every reply is in.
    ``privileged``: ``True`` raw sockets, ``False`` datagram sockets, ``None`` raw if this
    process may open them.
    """

    def __init__(self, *, privileged: bool | None = None,
                 spacing: float = DEFAULT_SPACING) -> None:
        if privileged is None:
            privileged = raw_sockets_allowed()
        if spacing < 0:
            raise ValueError(f"spacing must not be negative, got {spacing}")
        self.mode = "raw" if privileged else "datagram"
        self.spacing = spacing
        self._families: dict[int, _Family] = {}
        # sockets of the paths' routes (source, interface, mark), opened on first use
        self._routed: dict[tuple[int, Route], _Family] = {}
        self._opened: list[_Family] = []  # closed ones too: their counters stay readable
        # address as configured -> (family, canonical text): parsed once, not per probe
        self._canonical: dict[str, tuple[int, str]] = {}
        self._socket_errors: dict[int, str] = {
            socket.AF_INET: "prober not started", socket.AF_INET6: "prober not started"}

    async def start(self) -> None:
        """Open one socket per address family; call once from the running event loop.

        Raises ``OSError`` when neither an IPv4 nor an IPv6 socket can be opened (e.g. not
        root and ``net.ipv4.ping_group_range`` excludes our group). If only one family
        fails, its probes end with error ``"socket"`` and the reason is logged.
        """
        if self._opened:
            return  # already started
        loop = asyncio.get_running_loop()
        privileged = self.mode == "raw"
        for family, name in ((socket.AF_INET, "IPv4"), (socket.AF_INET6, "IPv6")):
            try:
                self._families[family] = _Family(family, privileged, self.spacing, loop)
                self._opened.append(self._families[family])
                del self._socket_errors[family]
            except (icmplib.ICMPLibError, OSError) as exc:
                hint = "" if privileged else " (is our group in net.ipv4.ping_group_range?)"
                self._socket_errors[family] = (f"cannot open {self.mode} {name} ICMP socket: "
                                               f"{exc}{hint}")
                log.error("%s", self._socket_errors[family])
        if not self._families:
            raise OSError(errno.EPERM, "; ".join(self._socket_errors.values()))
        # debug: the exporter logs the mode itself, once, at info level
        log.debug("ICMP engine: %s sockets for %s", self.mode,
                 ", ".join("IPv4" if f == socket.AF_INET else "IPv6" for f in self._families))

    async def close(self) -> None:
        """Close the sockets; probes still running end with error ``"socket"``."""
        families, self._families = self._families, {}
        for family, engine in families.items():
            self._socket_errors[family] = "prober closed"
            engine.close("prober closed")
        routed, self._routed = self._routed, {}
        for engine in routed.values():
            engine.close("prober closed")

    async def probe(self, address: str, count: int, timeout: float,
                    route: Route = DEFAULT_ROUTE) -> ProbeOutcome:
        """Probe one IP literal (IPv4 or IPv6); never raises for network errors.

        Anything else (a name, an IPv6 zone such as ``fe80::1%eth0``) ends at once with
        error ``"address"``. A ``route`` other than the default sends over its own socket,
        opened at its first probe; if it cannot be opened (no such interface or source
        address, no permission for a mark) the probe ends with error ``"socket"``, and
        the next probe tries again.

        ``count`` must be at least 1 and ``timeout`` positive (``ValueError`` otherwise: a
        caller's bug, not a network condition).
        """
        future: asyncio.Future[ProbeOutcome] = asyncio.get_running_loop().create_future()
        handle = self.launch(address, count, timeout, route, future.set_result)
        try:
            return await future
        except asyncio.CancelledError:
            handle.cancel()  # forget its requests; the pacer skips it
            raise

    def launch(self, address: str, count: int, timeout: float, route: Route,
               callback: Callable[[ProbeOutcome], object]) -> ProbeHandle:
        """Start a probe as :meth:`probe` does, without a task or a future: ``callback``
        gets its outcome once, in the event loop's thread, possibly before this returns
        (a reply read while sending, an address that cannot be probed).

        The cheap way to run thousands of probes (a coroutine and a future per probe cost
        more than its packets); :meth:`probe` is built on it. Call from the loop's thread.
        ``callback`` should not raise: if it does, the error is logged and the engine
        goes on.
        """
        if count < 1 or timeout <= 0:
            raise ValueError(f"need count >= 1 and timeout > 0, got {count} and {timeout}")
        canonical = self._canonical.get(address)
        if canonical is None:
            family: int = socket.AF_INET6 if ":" in address else socket.AF_INET
            try:  # canonical text form: the kernel reports reply sources this way
                packed = socket.inet_pton(family, address)
            except (OSError, ValueError) as exc:
                return self._failed(callback, ProbeOutcome(
                    sent=0, received=0, error="address",
                    detail=f"not an IP address: {address!r} ({exc})"))
            if family == socket.AF_INET6 and packed[:12] == _V4_MAPPED_PREFIX:
                family, packed = socket.AF_INET, packed[12:]  # ::ffff:a.b.c.d is IPv4
            text = socket.inet_ntop(family, packed)
            # mostly the text is the address as given: keep that string, not an equal copy
            # (5 MiB at 100,000 devices)
            canonical = (family, address if text == address else text)
            if len(self._canonical) >= _CANONICAL_CACHE:
                self._canonical.clear()  # names are few; a churn of literals starts afresh
            self._canonical[address] = canonical
        family, text = canonical
        engine = self._families.get(family)
        if engine is None:
            return self._failed(callback, ProbeOutcome(
                sent=0, received=0, error="socket",
                detail=self._socket_errors.get(family, "no socket")))
        if route != DEFAULT_ROUTE:
            routed = self._routed.get((family, route))
            if routed is None:
                try:
                    routed = _Family(family, self.mode == "raw", self.spacing, engine.loop,
                                     route)
                except (icmplib.ICMPLibError, OSError) as exc:
                    return self._failed(callback, ProbeOutcome(
                        sent=0, received=0, error="socket",
                        detail=f"cannot open an ICMP socket for {route}: {exc}"))
                self._routed[(family, route)] = routed
                self._opened.append(routed)
            engine = routed
        probe = _Probe(text, count, timeout, callback)
        engine.start(probe)
        return ProbeHandle(engine, probe)

    @staticmethod
    def _failed(callback: Callable[[ProbeOutcome], object],
                outcome: ProbeOutcome) -> ProbeHandle:
        """A probe that ends before it starts."""
        probe = _Probe("", 0, 0.0, None)
        probe.done = True
        callback(outcome)
        return ProbeHandle(None, probe)

    def retain_routes(self, routes: set[Route]) -> None:
        """Close the sockets of routes no longer in use (after a reload)."""
        for key in [k for k in self._routed if k[1] not in routes]:
            self._routed.pop(key).close("route removed")

    def stats(self) -> IcmpStats:
        """Packet counters of both families since start (for ``*_errors_total{reason}``)."""
        return _sum_stats(self._opened)

    def stats_by_family(self) -> dict[str, IcmpStats]:
        """Packet counters per family, ``"ipv4"`` and ``"ipv6"`` (zeros if never opened)."""
        return {name: _sum_stats([f for f in self._opened if f.family == family])
                for family, name in FAMILY_NAMES.items()}


def _sum_stats(families: list[_Family]) -> IcmpStats:
    return IcmpStats(
        requests_sent=sum(f.requests_sent for f in families),
        replies_received=sum(f.replies_received for f in families),
        late_replies=sum(f.late_replies for f in families),
        send_errors={r: sum(f.send_errors[r] for f in families) for r in SEND_ERROR_REASONS},
        receive_errors={r: sum(f.receive_errors[r] for f in families)
                        for r in RECEIVE_ERROR_REASONS},
    )
