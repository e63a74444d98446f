"""SNMP GET and multi-column GETBULK walks: SNMPv2c on a lean UDP transport, SNMPv3 with
pysnmp 7's asyncio engine.

This is the only module that talks to the network. It maps pysnmp's error indications
to a short ``reason`` at one boundary (:func:`classify_error`), so the rest of the
exporter sees :class:`SnmpError` with one of :data:`ERROR_REASONS`.

SNMPv3 requests go through pysnmp's command generators (``pysnmp.entity.rfc3413.cmdgen``,
the layer under ``hlapi.v3arch.asyncio.get_cmd``/``bulk_cmd``) with plain numeric OIDs
and no MIB lookups: the hlapi wrappers resolve every request varbind against a MIB view,
which costs CPU that 1,000 routers a minute cannot afford.

SNMPv2c (the common case, and the steady poll that runs every minute on every router)
bypasses pysnmp: :class:`V2cTransport` sends requests encoded once per shape by
:mod:`exporter.snmp.ber` and decodes replies with its flat BER walker, on one
non-blocking socket per address family, matching replies by request-id and source
address. pysnmp's object model cost 4-5x snmp_exporter's CPU per poll, 83 % of it in
pyasn1 decoding; this path costs 0.15x (docs/benchmarks.md, "SNMP poller"). Semantics
are pysnmp's: ``timeout`` per try, ``retries`` more tries of the same request, a silent
agent (or a wrong community) is ``timeout``, an error-status is ``protocol``; a reply
that does not decode is a ``protocol`` error too, instead of being dropped as pysnmp does.

Engines: SNMPv3 gets one pysnmp engine per distinct USM credential set, because pysnmp
keys its USM users by user name, and two devices with the same user name but different
keys would otherwise overwrite each other's key in the shared engine mid-request.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import itertools
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
)
from pysnmp.hlapi.v3arch.asyncio import auth as hlauth
from pysnmp.hlapi.v3arch.asyncio.cmdgen import LCD
from pysnmp.proto import errind, rfc1902, rfc1905

from exporter.snmp import ber
from exporter.snmp.ber import END_OF_MIB, OID, Decoded, EndOfMib, Value
from exporter.snmp.credentials import V2cCredentials, V3Credentials

RECEIVE_BUFFER_BYTES = 4 << 20  # the kernel caps it at net.core.rmem_max

# Every reason an SNMP poll can fail with; the poller starts each at 0.
ERROR_REASONS = ("timeout", "auth", "unreachable", "resolve", "protocol")

_AUTH_INDICATIONS = (
    errind.WrongDigest, errind.UnknownUserName, errind.AuthenticationFailure,
    errind.AuthenticationError, errind.DecryptionError, errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel, errind.NotInTimeWindow, errind.UnknownCommunityName,
    errind.UnsupportedAuthProtocol, errind.UnsupportedPrivProtocol,
)

_AUTH_PROTOCOLS = {
    "MD5": hlauth.USM_AUTH_HMAC96_MD5, "SHA": hlauth.USM_AUTH_HMAC96_SHA,
    "SHA256": hlauth.USM_AUTH_HMAC192_SHA256, "SHA512": hlauth.USM_AUTH_HMAC384_SHA512,
}
_PRIV_PROTOCOLS = {
    "DES": hlauth.USM_PRIV_CBC56_DES, "AES": hlauth.USM_PRIV_CFB128_AES,
    "AES256": hlauth.USM_PRIV_CFB256_AES,
}


class SnmpError(Exception):
    """A failed SNMP exchange; ``reason`` is one of :data:`ERROR_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def classify_error(indication: object) -> str:
    """Map a pysnmp error indication to a reason label.

    A wrong v2c community is indistinguishable from a dead agent (the agent drops the
    request silently), so it shows as ``timeout``; SNMPv3 agents answer bad users, keys
    and clocks with a usmStats report, which pysnmp raises as the indications listed in
    ``_AUTH_INDICATIONS``: ``auth``.
    """
    if isinstance(indication, errind.RequestTimedOut):
        return "timeout"
    if isinstance(indication, _AUTH_INDICATIONS):
        return "auth"
    return "protocol"


def to_python(value: Any) -> Value:
    """A pysnmp value as int or str; None for noSuchObject/noSuchInstance/endOfMibView."""
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView,
                          univ.Null)):
        return None
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, rfc1902.IpAddress):
        return ".".join(str(b) for b in value.asOctets())
    if isinstance(value, univ.OctetString):
        return value.asOctets().decode("utf-8", errors="replace")
    if isinstance(value, univ.ObjectIdentifier):
        return ".".join(str(part) for part in value)
    return str(value)


def _from_pysnmp(value: Any) -> Decoded:
    return END_OF_MIB if isinstance(value, rfc1905.EndOfMibView) else to_python(value)


@dataclass
class PysnmpSession:
    """An SNMPv3 agent: pysnmp engine, credentials, resolved target."""

    engine: SnmpEngine
    auth: CommunityData | UsmUserData
    target: UdpTransportTarget | Udp6TransportTarget
    addr_name: str


@dataclass
class V2cSession:
    """An SNMPv2c agent: its resolved socket address and community."""

    transport: V2cTransport
    sockaddr: tuple[str, int]
    community: bytes = field(repr=False)
    timeout: float
    retries: int


Session = PysnmpSession | V2cSession

_TIMEOUT_TEXT = "No SNMP response received before timeout"  # pysnmp's wording


@dataclass
class _Pending:
    """One request in flight on a :class:`V2cTransport`."""

    future: asyncio.Future[list[tuple[OID, Decoded]]]
    session: V2cSession
    message: bytes
    tries_left: int
    timer: asyncio.TimerHandle | None = None


#: Why the v2c transport ignored a datagram (``V2cTransport.ignored``).
IGNORED_REASONS = ("unmatched", "socket_error")


class V2cTransport:
    """One non-blocking UDP socket per address family for every SNMPv2c agent.

    Replies are read in the event loop's reader callback and matched to their request by
    request-id and source address; a reply from elsewhere, or to a request already
    answered or given up, is ignored (as pysnmp does), so late answers to a retried
    request cannot be taken for a newer one's. Ignored is not silent: each is counted in
    ``ignored`` by reason (``unmatched``; ``socket_error``, an error the kernel queued on
    the socket, e.g. from ICMP), for ``wardops_snmp_ignored_datagrams_total``.
    """

    def __init__(self) -> None:
        self.ignored: dict[str, int] = dict.fromkeys(IGNORED_REASONS, 0)
        self._sockets: dict[int, socket.socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(random.randrange(ber.REQUEST_ID_MIN, ber.REQUEST_ID_MAX))

    def _socket(self, family: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): the old reader is gone
            self.close()
            self._loop = loop
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                # a hundred polls in flight answer at once: room for all of their replies
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                raise SnmpError("unreachable", f"cannot open a UDP socket: {exc}") from None
            loop.add_reader(sock.fileno(), self._read, sock)
            self._sockets[family] = sock
        return sock

    async def session(self, address: str, port: int, credentials: V2cCredentials,
                      timeout: float, retries: int) -> V2cSession:
        """Resolve ``address`` (a literal or a DNS name, IPv4 first as pysnmp does)."""
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 \
                else socket.AF_INET
        except ValueError:
            family = socket.AF_INET
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                address, port, family=family, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            raise SnmpError("resolve", f"cannot resolve {address!r}: {exc}") from None
        self._socket(family)
        sockaddr = infos[0][4]
        return V2cSession(self, (str(sockaddr[0]), int(sockaddr[1])),
                          credentials.community.value.encode(), timeout, retries)

    async def request(self, session: V2cSession, pdu_type: int, oids: Sequence[OID],
                      non_repeaters: int = 0, max_repetitions: int = 0
                      ) -> list[tuple[OID, Decoded]]:
        """Send one request and wait for its reply; raises :class:`SnmpError`."""
        family = socket.AF_INET6 if ":" in session.sockaddr[0] else socket.AF_INET
        sock = self._socket(family)
        request_id = next(self._ids)
        if request_id > ber.REQUEST_ID_MAX:
            self._ids = itertools.count(ber.REQUEST_ID_MIN)
            request_id = next(self._ids)
        message = ber.encode_request(session.community, pdu_type, request_id, oids,
                                     non_repeaters, max_repetitions)
        assert self._loop is not None
        pending = _Pending(self._loop.create_future(), session, message, session.retries)
        self._pending[request_id] = pending
        try:
            self._send(sock, pending)
            pending.timer = self._loop.call_later(session.timeout, self._expire, request_id)
            return await pending.future
        finally:
            self._pending.pop(request_id, None)
            if pending.timer is not None:
                pending.timer.cancel()

    @staticmethod
    def _send(sock: socket.socket, pending: _Pending) -> None:
        try:
            sock.sendto(pending.message, pending.session.sockaddr)
        except BlockingIOError:
            pass  # send buffer full: as good as a lost datagram, the retry or timeout follows
        except OSError as exc:  # e.g. no route to the agent
            raise SnmpError("unreachable", f"cannot send to {pending.session.sockaddr[0]}: "
                                           f"{exc}") from None

    def _expire(self, request_id: int) -> None:
        pending = self._pending.get(request_id)
        if pending is None or pending.future.done():
            return
        if pending.tries_left <= 0:
            pending.future.set_exception(SnmpError("timeout", _TIMEOUT_TEXT))
            return
        pending.tries_left -= 1
        family = socket.AF_INET6 if ":" in pending.session.sockaddr[0] else socket.AF_INET
        try:
            self._send(self._sockets[family], pending)
        except SnmpError as exc:
            pending.future.set_exception(exc)
            return
        assert self._loop is not None
        pending.timer = self._loop.call_later(pending.session.timeout, self._expire, request_id)

    def _read(self, sock: socket.socket) -> None:
        # Drain the socket: one wake-up per burst of replies, not one per datagram.
        while True:
            try:
                data, source = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an error queued on the socket (ICMP): nothing to read
                self.ignored["socket_error"] += 1
                continue
            self._received(data, (source[0], source[1]))

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        try:
            response = ber.decode_response(data)
        except ber.BerError as exc:
            # Fail the requests waiting on this agent: its reply is garbage, and waiting
            # for the timeout would report "timeout" for an agent that does answer.
            for pending in list(self._pending.values()):
                if pending.session.sockaddr == source and not pending.future.done():
                    pending.future.set_exception(SnmpError("protocol", f"bad reply: {exc}"))
            return
        waiting = self._pending.get(response.request_id)
        if waiting is None or waiting.future.done() or waiting.session.sockaddr != source:
            self.ignored["unmatched"] += 1  # late, duplicate, or not an answer to us
            return
        pending = waiting
        if response.community != pending.session.community:
            pending.future.set_exception(SnmpError("protocol", "reply with another community"))
        elif response.error_status:
            pending.future.set_exception(SnmpError(
                "protocol", f"agent returned {ber.ERROR_STATUS[response.error_status]}"
                            f" at varbind {response.error_index}"))
        else:
            pending.future.set_result(response.var_binds)

    def close(self) -> None:
        """Stop reading and close the sockets; requests in flight fail as timeouts."""
        for sock in self._sockets.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        for pending in self._pending.values():
            if not pending.future.done() and not pending.future.get_loop().is_closed():
                pending.future.set_exception(SnmpError("timeout", "the SNMP client was closed"))
        self._pending.clear()


class SnmpClient:
    """Owns the v2c transport and the SNMPv3 engines; one per exporter process."""

    def __init__(self) -> None:
        self._v2c = V2cTransport()
        self._engines: dict[object, SnmpEngine] = {}
        self._get = cmdgen.GetCommandGenerator()
        self._bulk = cmdgen.BulkCommandGenerator()

    @property
    def ignored(self) -> Mapping[str, int]:
        """SNMPv2c datagrams read and ignored, by reason (see :class:`V2cTransport`)."""
        return self._v2c.ignored

    def _engine_for(self, credentials: V3Credentials) -> SnmpEngine:
        engine = self._engines.get(credentials)  # frozen dataclass: equal ones share
        if engine is None:
            engine = self._engines[credentials] = SnmpEngine()
        return engine

    @staticmethod
    def _ensure_transport(engine: SnmpEngine, family: int) -> None:
        """Give the engine a UDP socket with a large receive buffer before pysnmp opens
        its own: a hundred polls in flight answer at once, faster than pysnmp decodes
        them, and the default 208 KiB buffer drops replies, which look like timeouts."""
        domain, transport_class, af = (
            (udp6.DOMAIN_NAME, udp6.Udp6AsyncioTransport, socket.AF_INET6) if family == 6
            else (udp.DOMAIN_NAME, udp.UdpAsyncioTransport, socket.AF_INET))
        if config.get_transport(engine, domain) is not None:
            return
        sock = socket.socket(af, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.bind(("::" if family == 6 else "0.0.0.0", 0))
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise SnmpError("unreachable", f"cannot open a UDP socket: {exc}") from None
        config.add_transport(engine, domain, transport_class().open_server_mode(sock=sock))

    @staticmethod
    def _auth_data(credentials: V3Credentials) -> UsmUserData:
        kwargs: dict[str, Any] = {}
        if credentials.auth_key is not None:
            kwargs["authKey"] = credentials.auth_key.value
            kwargs["authProtocol"] = _AUTH_PROTOCOLS[credentials.auth_protocol or "SHA"]
        if credentials.priv_key is not None:
            kwargs["privKey"] = credentials.priv_key.value
            kwargs["privProtocol"] = _PRIV_PROTOCOLS[credentials.priv_protocol or "AES"]
        return UsmUserData(credentials.username, **kwargs)

    async def session(self, address: str, port: int, credentials: V2cCredentials | V3Credentials,
                      timeout: float, retries: int) -> Session:
        """Resolve ``address`` and register the target; raises :class:`SnmpError`."""
        if isinstance(credentials, V2cCredentials):
            return await self._v2c.session(address, port, credentials, timeout, retries)
        try:
            family = ipaddress.ip_address(address).version
        except ValueError:
            family = 4  # a DNS name: resolved for IPv4 by UdpTransportTarget
        target_class = Udp6TransportTarget if family == 6 else UdpTransportTarget
        try:
            target = await target_class.create((address, port), timeout=timeout, retries=retries)
        except PySnmpError as exc:
            raise SnmpError("resolve", str(exc)) from None
        engine = self._engine_for(credentials)
        self._ensure_transport(engine, family)
        auth = self._auth_data(credentials)
        addr_name, _ = LCD.configure(engine, auth, target, b"")
        return PysnmpSession(engine, auth, target, addr_name)

    async def _pysnmp_request(self, send: Callable[[Any], None]) -> list[tuple[OID, Decoded]]:
        future: asyncio.Future[Sequence[tuple[Any, Any]]] = (
            asyncio.get_running_loop().create_future())

        def done(_engine: Any, _handle: Any, indication: Any, status: Any, index: Any,
                 var_binds: Any, _ctx: Any) -> None:
            if future.cancelled():
                return
            if indication:
                future.set_exception(SnmpError(classify_error(indication), str(indication)))
            elif status:
                future.set_exception(SnmpError("protocol", f"agent returned {status.prettyPrint()}"
                                                           f" at varbind {int(index)}"))
            else:
                future.set_result(var_binds)

        try:
            send(done)
        except PySnmpError as exc:  # e.g. the socket refused to send: no route to the agent
            raise SnmpError("unreachable", str(exc)) from None
        return [(tuple(name), _from_pysnmp(value)) for name, value in await future]

    async def _exchange(self, session: Session, pdu_type: int, oids: Sequence[OID],
                        non_repeaters: int = 0, repetitions: int = 0
                        ) -> list[tuple[OID, Decoded]]:
        """One GET or GETBULK and its reply's varbinds, over v2c or pysnmp's engine."""
        if isinstance(session, V2cSession):
            return await session.transport.request(session, pdu_type, oids, non_repeaters,
                                                   repetitions)
        var_binds = [(rfc1902.ObjectName(oid), univ.Null("")) for oid in oids]
        if pdu_type == ber.GET:
            return await self._pysnmp_request(lambda cb: self._get.send_varbinds(
                session.engine, session.addr_name, None, b"", var_binds, cb))
        return await self._pysnmp_request(lambda cb: self._bulk.send_varbinds(
            session.engine, session.addr_name, None, b"", non_repeaters, repetitions,
            var_binds, cb))

    async def get(self, session: Session, oids: Sequence[OID]) -> dict[OID, Value]:
        """GET ``oids``; missing objects come back as None."""
        result = await self._exchange(session, ber.GET, oids)
        return {name: None if isinstance(value, EndOfMib) else value for name, value in result}

    async def walk(self, session: Session, columns: Sequence[OID], repetitions: int,
                   next_of: Sequence[OID] = (), rows: int | None = None
                   ) -> tuple[dict[OID, Value], dict[OID, dict[OID, Value]]]:
        """Walk table ``columns`` side by side with GETBULK.

        Returns ``(successors, table)``: ``table`` is ``{column: {index: value}}``;
        ``successors`` maps the GETNEXT successor of each ``next_of`` OID to its value.
        ``next_of`` rides along as non-repeaters in the first request, so scalars such as
        sysUpTime (``next_of`` 1.3.6.1.2.1.1.3 gives sysUpTime.0) cost no extra round trip.
        Each request asks for ``repetitions`` rows of every column not yet finished: with
        ``repetitions`` = rows + 1 a whole ifTable comes back in one response. With
        ``rows`` given, a column is complete once it has that many rows (the caller knows
        the table's size and re-reads it in full when an unknown index shows up).
        """
        table: dict[OID, dict[OID, Value]] = {col: {} for col in columns}
        cursors: dict[OID, OID] = {col: col for col in columns}
        successors: dict[OID, Value] = {}
        pending_next = list(next_of)
        while cursors or pending_next:
            active = list(cursors)
            non_repeaters = len(pending_next)
            result = await self._exchange(session, ber.GETBULK,
                                          [*pending_next, *(cursors[col] for col in active)],
                                          non_repeaters, repetitions)
            pending_next = []
            for name, value in result[:non_repeaters]:
                successors[name] = None if isinstance(value, EndOfMib) else value
            repeated = result[non_repeaters:]
            if not repeated:
                break
            finished: set[OID] = set()
            width = len(active)
            for pos, (oid, value) in enumerate(repeated):
                col = active[pos % width]
                if col in finished:
                    continue
                size = len(col)
                if isinstance(value, EndOfMib) or oid[:size] != col or oid <= cursors[col]:
                    finished.add(col)  # left the column (or a broken agent repeated itself)
                    continue
                column = table[col]
                column[oid[size:]] = value
                cursors[col] = oid
                if rows is not None and len(column) >= rows:
                    finished.add(col)
            for col in finished:
                cursors.pop(col, None)
        return successors, table

    def close(self) -> None:
        """Close the v2c sockets and the engines' sockets."""
        self._v2c.close()
        for engine in self._engines.values():
            engine.close_dispatcher()
        self._engines.clear()


async def probe_unreachable(address: str, port: int, wait: float = 0.3) -> bool:
    """After a timeout: is the agent's port closed (ICMP port unreachable) or unroutable?

    pysnmp sends from one unconnected socket, which never sees ICMP errors, so a closed
    port looks like a timeout. A connected UDP socket does see them; one empty datagram
    tells "nothing listens there" (reason ``unreachable``) from "no answer" (``timeout``).
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    loop = asyncio.get_running_loop()
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.connect((address, port))
            sock.send(b"")
            await asyncio.wait_for(loop.sock_recv(sock, 1), wait)
    except ConnectionRefusedError:
        return True
    except TimeoutError:
        return False
    except OSError as exc:
        return exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EINVAL)
    return False  # something answered
