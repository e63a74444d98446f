"""A real HTTP webhook receiver on loopback that records requests and can misbehave."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port, wait_for


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")


class Receiver:
    """Records every POST. ``fail_next(n, status)`` answers the next n requests with
    ``status`` (and ``Retry-After`` if given); ``delay`` slows every answer down
    (``arrived`` holds a request from the moment it is read, before any delay);
    ``down()``/``up()`` close and reopen the listening socket on the same port."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.requests: list[Request] = []  # successful (2xx) deliveries
        self.attempts: list[Request] = []  # everything answered
        self.arrived: list[Request] = []   # everything read, answered or not yet
        self.delay = 0.0
        self._failures: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def fail_next(self, count: int, status: int = 503, retry_after: str | None = None) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                req = Request(self.path, dict(self.headers.items()), body, time.time())
                with receiver._lock:
                    receiver.arrived.append(req)
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.attempts.append(req)
                    failure = receiver._failures.pop(0) if receiver._failures else None
                    if failure is None:
                        receiver.requests.append(req)
                status, retry_after = failure or (200, None)
                self.send_response(status)
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait(self, count: int, timeout: float = 20.0) -> list[Request]:
        """Wait until at least ``count`` requests were accepted; return them."""
        wait_for(lambda: len(self.requests) >= count, timeout=timeout,
                 what=f"{count} notifications at {self.url}")
        return list(self.requests)

    def bodies(self) -> list[Any]:
        return [r.json() for r in list(self.requests)]
