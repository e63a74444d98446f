"""A receiver that misbehaves on demand: an HTTP proxy in front of the real webhook sink.

In mode ``ok`` every request is forwarded to the sink and its answer returned. The other
modes are what real receivers do on a bad day:

- ``429``: answers 429 Too Many Requests with ``Retry-After: 2``, forwards nothing;
- ``500``: answers 500, forwards nothing;
- ``slow``: forwards the request (the sink has it) but answers only after ``slow_for``
  seconds, later than the sender's timeout, so the sender retries what was delivered
  (the sink must drop the repeat by its ``Idempotency-Key``).

Listens on 127.0.0.1 only; the sink it forwards to is on 127.0.0.1 too.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

MODES = ("ok", "429", "500", "slow")
#: headers not passed on (hop-by-hop, or recomputed by requests)
_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}


class FlakyReceiver:
    """``url`` for senders; ``mode`` switches behaviour; counts what it refused."""

    def __init__(self, upstream: str, *, slow_for: float = 5.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.slow_for = slow_for
        self.mode = "ok"
        self.refused: dict[str, int] = {m: 0 for m in MODES}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = receiver.mode
                with receiver._lock:
                    receiver.refused[mode] += 1
                if mode in ("429", "500"):
                    self.send_response(int(mode))
                    if mode == "429":
                        self.send_header("Retry-After", "2")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                try:
                    resp = requests.post(receiver.upstream + self.path, data=body,
                                         headers=headers, timeout=10)
                    status, payload = resp.status_code, resp.content
                except requests.RequestException:
                    status, payload = 502, b""
                if mode == "slow":
                    time.sleep(receiver.slow_for)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the sender gave up waiting (slow mode): expected
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set_mode(self, mode: str) -> None:
        """Switch to ``mode`` (one of ``MODES``) for the requests that arrive from now on."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode

    def stop(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()
