"""SNMP GET and multi-column GETBULK walks with pysnmp 7's asyncio engine.

This is the only module that talks to the network. It maps pysnmp's error indications
to a short ``reason`` at one boundary (:func:`classify_error`), so the rest of the
exporter sees :class:`SnmpError` with one of :data:`ERROR_REASONS`.

Requests go through pysnmp's command generators (``pysnmp.entity.rfc3413.cmdgen``, the
layer under ``hlapi.v3arch.asyncio.get_cmd``/``bulk_cmd``) with plain numeric OIDs and
no MIB lookups: the hlapi wrappers resolve every request varbind against a MIB view,
which costs CPU that 1,000 routers a minute cannot afford.

Engines: one shared ``SnmpEngine`` for every v2c device; SNMPv3 gets one engine per
distinct USM credential set, because pysnmp keys its USM users by user name, and two
devices with the same user name but different keys would otherwise overwrite each
other's key in the shared engine mid-request.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
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

from exporter.snmp.credentials import V2cCredentials, V3Credentials

OID = tuple[int, ...]
Value = int | str | None

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


@dataclass
class Session:
    """Everything needed to talk to one agent: engine, credentials, resolved target."""

    engine: SnmpEngine
    auth: CommunityData | UsmUserData
    target: UdpTransportTarget | Udp6TransportTarget
    addr_name: str


class SnmpClient:
    """Owns the SNMP engines and sends requests; one per exporter process."""

    def __init__(self) -> None:
        self._engines: dict[object, SnmpEngine] = {}
        self._get = cmdgen.GetCommandGenerator()
        self._bulk = cmdgen.BulkCommandGenerator()

    def _engine_for(self, credentials: V2cCredentials | V3Credentials) -> SnmpEngine:
        key: object = "v2c"
        if isinstance(credentials, V3Credentials):
            key = credentials  # frozen dataclass: equal credentials share an engine
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = SnmpEngine()
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
    def _auth_data(credentials: V2cCredentials | V3Credentials) -> CommunityData | UsmUserData:
        if isinstance(credentials, V2cCredentials):
            return CommunityData(credentials.community.value, mpModel=1)
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
        return Session(engine, auth, target, addr_name)

    async def _request(self, session: Session, send: Any) -> Sequence[tuple[Any, Any]]:
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
        return await future

    async def get(self, session: Session, oids: Sequence[OID]) -> dict[OID, Value]:
        """GET ``oids``; missing objects come back as None."""
        var_binds = [(rfc1902.ObjectName(oid), univ.Null("")) for oid in oids]
        result = await self._request(session, lambda cb: self._get.send_varbinds(
            session.engine, session.addr_name, None, b"", var_binds, cb))
        return {tuple(name): to_python(value) for name, value in result}

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
            var_binds = [(rfc1902.ObjectName(oid), univ.Null(""))
                         for oid in [*pending_next, *(cursors[col] for col in active)]]
            result = await self._request(session, lambda cb: self._bulk.send_varbinds(
                session.engine, session.addr_name, None, b"", non_repeaters, repetitions,
                var_binds, cb))
            pending_next = []
            for name, value in result[:non_repeaters]:
                successors[tuple(name)] = to_python(value)
            repeated = result[non_repeaters:]
            if not repeated:
                break
            finished: set[OID] = set()
            for pos, (name, value) in enumerate(repeated):
                col = active[pos % len(active)]
                if col in finished:
                    continue
                oid = tuple(name)
                if (isinstance(value, rfc1905.EndOfMibView) or oid[:len(col)] != col
                        or oid <= cursors[col]):
                    finished.add(col)  # left the column (or a broken agent repeated itself)
                    continue
                table[col][oid[len(col):]] = to_python(value)
                cursors[col] = oid
                if rows is not None and len(table[col]) >= rows:
                    finished.add(col)
            for col in finished:
                cursors.pop(col, None)
        return successors, table

    def close(self) -> None:
        """Close the engines' sockets."""
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
