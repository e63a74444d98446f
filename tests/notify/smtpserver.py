"""A real SMTP server on loopback (aiosmtpd) that records messages and can misbehave:
STARTTLS with a certificate of the project's example CA, AUTH (PLAIN, LOGIN, CRAM-MD5)
with one user, refusals with a given reply, a slow DATA answer, down/up on the same port."""

from __future__ import annotations

import asyncio
import hmac
import ssl
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port, wait_for
from tests.support.certs import CA

USER, PASSWORD = "wardops", "s3cret-smtp"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    raw: bytes
    tls: bool
    login: str

    @property
    def message(self) -> Message:
        return message_from_bytes(self.raw)

    def part(self, subtype: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode()
        raise AssertionError(f"no text/{subtype} part")


class SmtpServer:
    """``fail_next(n, reply)`` answers the next n DATA (or RCPT with ``at="RCPT"``) with
    ``reply``; ``delay`` holds every DATA answer back; ``down()``/``up()`` stop and
    restart it on the same port. ``tls_dir`` enables STARTTLS (required before AUTH);
    ``auth`` requires AUTH as ``USER``/``PASSWORD``; ``implicit_tls`` speaks TLS from the
    first byte instead (SMTPS, port 465)."""

    def __init__(self, tls_dir: Path | None = None, auth: bool = False,
                 port: int | None = None, implicit_tls: bool = False) -> None:
        self.port = port or free_port()
        self.mails: list[Mail] = []
        self.attempts = 0  # DATA commands seen
        self.delay = 0.0
        self.logins: list[tuple[str, str]] = []
        self._failures: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self.ca: CA | None = None
        if tls_dir is not None:
            self.ca = CA(tls_dir)
            pair = self.ca.issue("smtp-server", server=True)
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(str(pair.cert), str(pair.key))
        self._auth = auth
        self._implicit = implicit_tls
        self._controller: Controller | None = None
        self.up()

    @property
    def smarthost(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail_next(self, count: int, reply: str, at: str = "DATA") -> None:
        with self._lock:
            self._failures.extend([(at, reply)] * count)

    def _failure(self, at: str) -> str | None:
        with self._lock:
            if self._failures and self._failures[0][0] == at:
                return self._failures.pop(0)[1]
        return None

    def up(self) -> None:
        server = self

        class Handler:
            async def handle_RCPT(self, smtp: Any, session: Any, envelope: Any, address: str,
                                  options: list[str]) -> str:
                if reply := server._failure("RCPT"):
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def auth_CRAM__MD5(self, smtp: Any, args: list[str]) -> AuthResult:
                # aiosmtpd names the mechanism from the method: "__" is "-"
                challenge = f"<{time.time_ns()}@smtp.test>".encode()
                response = await smtp.challenge_auth(challenge)
                if not isinstance(response, bytes):
                    return AuthResult(success=False)
                login, _, digest = response.decode().partition(" ")
                expected = hmac.new(PASSWORD.encode(), challenge, "md5").hexdigest()
                ok = login == USER and hmac.compare_digest(digest, expected)
                server.logins.append(("CRAM-MD5", login))
                return AuthResult(success=ok, handled=False,
                                  auth_data=LoginPassword(login.encode(), b"") if ok else None)

            async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
                with server._lock:
                    server.attempts += 1
                if server.delay:
                    await asyncio.sleep(server.delay)
                if reply := server._failure("DATA"):
                    return reply
                login = session.auth_data.login.decode() if isinstance(
                    session.auth_data, LoginPassword) else ""
                with server._lock:
                    server.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos),
                                             envelope.original_content or envelope.content,
                                             # SMTPS: the only way in is TLS
                                             session.ssl is not None or server._implicit,
                                             login))
                return "250 Message accepted for delivery"

        def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
                  and auth_data.password == PASSWORD.encode())
            if isinstance(auth_data, LoginPassword):
                server.logins.append((mechanism, auth_data.login.decode()))
            # handled=False: aiosmtpd answers (235, or 535 on a wrong password) itself
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        kwargs: dict[str, Any] = {}
        if self._tls is not None and self._implicit:  # TLS from the first byte (port 465)
            kwargs.update(ssl_context=self._tls)
        elif self._tls is not None:
            kwargs.update(tls_context=self._tls, require_starttls=True)
        if self._auth:
            kwargs.update(authenticator=authenticator, auth_required=True,
                          # aiosmtpd sees only STARTTLS as TLS; SMTPS is TLS too
                          auth_require_tls=self._tls is not None and not self._implicit)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                      ready_timeout=10, **kwargs)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, count: int, timeout: float = 20) -> list[Mail]:
        wait_for(lambda: len(self.mails) >= count, timeout=timeout,
                 what=f"{count} mails at the SMTP server")
        return self.mails
