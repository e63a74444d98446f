#!/usr/bin/env python3
"""A demo webhook receiver: prints each wardops notification readably.

It accepts the Alertmanager webhook payload (version 4, the alerter's default format)
and prints one line per alert. It is the model for receivers, so it does what one should:

- **Authenticity** (with the secret): a missing or wrong ``X-Wardops-Signature`` (HMAC
  of the body) or an ``X-Wardops-Timestamp`` older than ``--max-age`` (default 300 s) is
  refused with 401, so a forged or replayed notification is never applied.
- **Order**: ``X-Wardops-Sequence`` (or the payload's ``sequence``) increases strictly per
  group; a notification whose sequence is not above the last one applied for its
  ``groupKey`` is a late retry overtaken by a newer state: answered 200 (so the sender
  stops retrying) and ignored. Senders without a sequence are applied in arrival order.
- **Duplicates**: a repeated ``Idempotency-Key`` (a retry of one already applied) is
  answered 200 and ignored.

With ``--jsonl FILE`` it also appends every request (receive time, headers, body, and
``verdict``: applied, stale, duplicate or rejected) to FILE, one JSON object per line,
which the end-to-end tests and the latency benchmark read. Standard library only, so it
runs anywhere Python 3.11 does.

    python3 examples/webhook_sink.py --listen 127.0.0.1:9099
    python3 examples/webhook_sink.py --listen 127.0.0.1:9099 --hmac-secret-env CHAT_HMAC
    python3 examples/webhook_sink.py --listen 0.0.0.0:9099 --tls-cert sink.crt --tls-key sink.key

Endpoints: ``POST /<anything>`` (a notification), ``GET /-/healthy``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import ssl
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 10 * 1024 * 1024
COLOURS = {"firing": "\033[1;31m", "resolved": "\033[1;32m"}
RESET = "\033[0m"


def _clock(iso: str) -> str:
    """``2026-11-28T15:41:02.123Z`` → ``15:41:02 UTC``; anything else as it is."""
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return str(iso)
    if when.year < 1971:  # Alertmanager's zero time for "not ended"
        return ""
    return when.astimezone(UTC).strftime("%H:%M:%S UTC")


def format_notification(payload: dict[str, Any], *, colour: bool = False) -> str:
    """A notification as a short block of text: a header and one line per alert."""
    alerts = payload.get("alerts") or []
    group = ", ".join(f"{k}={v}" for k, v in sorted((payload.get("groupLabels") or {}).items()))
    status = str(payload.get("status", "?"))
    head = (f"── {status.upper()} · receiver {payload.get('receiver', '?')} · "
            f"{len(alerts)} alert(s)" + (f" · {group}" if group else ""))
    lines = [head]
    for alert in alerts:
        labels = alert.get("labels") or {}
        notes = alert.get("annotations") or {}
        state = str(alert.get("status", status))
        tag = state.upper()
        if colour and state in COLOURS:
            tag = f"{COLOURS[state]}{tag}{RESET}"
        where = " ".join(f"{k}={labels[k]}" for k in ("device", "address", "site") if k in labels)
        summary = notes.get("summary") or notes.get("description") or ""
        times = f"since {_clock(alert.get('startsAt', ''))}"
        ended = _clock(alert.get("endsAt", ""))
        if state == "resolved" and ended:
            times += f", ended {ended}"
        sev = labels.get("severity", "")
        lines.append(f"   {tag:<8} {labels.get('alertname', '?')}"
                     + (f" [{sev}]" if sev else "") + (f" {where}" if where else "")
                     + f" ({times})")
        if summary:
            lines.append(f"            {summary}")
    return "\n".join(lines)


def timestamp_status(header: str | None, now: float, max_age: float) -> str:
    """"ok", "missing", "BAD" (not a number) or "stale" (older, or newer, than max_age)."""
    if not header:
        return "missing"
    try:
        sent = float(header)
    except ValueError:
        return "BAD"
    return "ok" if abs(now - sent) <= max_age else "stale"


class Ledger:
    """What this receiver has applied: the last sequence per group, the keys it has seen."""

    def __init__(self, remember: int = 100_000) -> None:
        self.sequences: dict[tuple[str, str], int] = {}
        self.keys: dict[str, None] = {}  # insertion-ordered: the oldest are forgotten first
        self.remember = remember

    def verdict(self, path: str, payload: Any, sequence: str | None, key: str | None) -> str:
        """"applied", "duplicate" or "stale" (and record an applied one)."""
        if key and key in self.keys:
            return "duplicate"
        group = str(payload.get("groupKey", "")) if isinstance(payload, dict) else ""
        if sequence is None and isinstance(payload, dict) and "sequence" in payload:
            sequence = str(payload["sequence"])
        if sequence is not None and sequence.isdigit():
            number = int(sequence)
            if number <= self.sequences.get((path, group), 0):
                return "stale"
            self.sequences[(path, group)] = number
        if key:
            self.keys[key] = None
            if len(self.keys) > self.remember:
                del self.keys[next(iter(self.keys))]
        return "applied"


def signature_status(body: bytes, header: str | None, secret: str | None) -> str:
    """"ok", "BAD", "missing" or "" (no secret to check against)."""
    if not secret:
        return ""
    if not header:
        return "missing"
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return "ok" if hmac.compare_digest(expected, header) else "BAD"


class Sink(ThreadingHTTPServer):
    """The HTTP server, with what its handler needs."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, jsonl: str | None, secret: str | None,
                 colour: bool, quiet: bool, max_age: float = 300.0,
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__(address, Handler)
        self.tls = tls
        self.jsonl = jsonl
        self.secret = secret
        self.max_age = max_age
        self.ledger = Ledger()
        self.colour = colour
        self.quiet = quiet
        self.lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a client that
        # stalls in it holds up nobody else.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                # the client sees it; the operator reading this sink should too (a wrong
                # CA or an expired certificate otherwise looks like "nothing arrives")
                print(f"webhook-sink: TLS handshake with {client_address[0]} failed: {exc}",
                      file=sys.stderr, flush=True)
                return
        super().finish_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """One request: a notification (POST) or a health check (GET)."""

    server: Sink
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # http.server's naming
        if self.path in ("/-/healthy", "/-/ready"):
            self._reply(200, "OK\n")
        else:
            self._reply(404, "POST notifications to any path; GET /-/healthy\n")

    def do_POST(self) -> None:
        received_at = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, "body too large\n")
            return
        body = self.rfile.read(length)
        try:
            payload = json.loads(body)
        except ValueError as exc:
            print(f"sink: {self.path}: not JSON ({exc}); answered 400", file=sys.stderr,
                  flush=True)
            self._reply(400, f"not JSON: {exc}\n")
            return
        sig = signature_status(body, self.headers.get("X-Wardops-Signature"), self.server.secret)
        if sig and sig != "ok":
            refusal = f"signature {sig}"
        elif sig:
            stamp = timestamp_status(self.headers.get("X-Wardops-Timestamp"), received_at,
                                     self.server.max_age)
            refusal = "" if stamp == "ok" else f"timestamp {stamp}"
        else:
            refusal = ""
        record = {"received_at": received_at, "path": self.path,
                  "headers": {k: v for k, v in self.headers.items()}, "payload": payload,
                  "signature": sig}
        with self.server.lock:
            record["verdict"] = "rejected" if refusal else self.server.ledger.verdict(
                self.path, payload, self.headers.get("X-Wardops-Sequence"),
                self.headers.get("Idempotency-Key"))
            if self.server.jsonl:
                with open(self.server.jsonl, "a", encoding="utf-8") as out:
                    out.write(json.dumps(record) + "\n")
            if not self.server.quiet:
                stamp = datetime.fromtimestamp(received_at, UTC).strftime("%H:%M:%S")
                extra = f" · signature {sig}" if sig else ""
                key = self.headers.get("Idempotency-Key")
                extra += f" · id {key[:12]}" if key else ""
                if record["verdict"] == "applied":
                    text = (format_notification(payload, colour=self.server.colour)
                            if isinstance(payload, dict) else json.dumps(payload))
                elif refusal:
                    text = f"   refused (401): {refusal}"
                else:
                    text = f"   ignored: {record['verdict']}"
                _print(f"[{stamp}] {self.path}{extra}\n{text}")
        if refusal:
            self._reply(401, f"refused: {refusal}\n")
        else:
            self._reply(200, "OK\n")

    def _reply(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are printed as notifications above, not as access-log lines."""


def _print(text: str) -> None:
    """Print, but never let a closed stdout (`| head`, a dead `tee`) stop the receiver."""
    try:
        print(text, flush=True)
    except (BrokenPipeError, OSError):
        pass


def _stop(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve until interrupted (Ctrl-C or SIGTERM)."""
    parser = argparse.ArgumentParser(description="Print wardops webhook notifications.")
    parser.add_argument("--listen", default="127.0.0.1:9099", metavar="HOST:PORT")
    parser.add_argument("--jsonl", metavar="FILE", help="also append every request to FILE")
    parser.add_argument("--hmac-secret-env", metavar="VAR",
                        help="check X-Wardops-Signature with the secret in this variable")
    parser.add_argument("--quiet", action="store_true", help="print nothing per request")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", metavar="FILE", help="... and this key")
    parser.add_argument("--max-age", type=float, default=300.0, metavar="SECONDS",
                        help="with a secret: refuse notifications whose X-Wardops-Timestamp "
                             "is further than this from now (default 300)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        print(f"sink: --listen: expected HOST:PORT, got {args.listen!r}", file=sys.stderr)
        return 2
    secret = os.environ.get(args.hmac_secret_env) if args.hmac_secret_env else None
    if args.hmac_secret_env and not secret:
        print(f"sink: --hmac-secret-env: ${args.hmac_secret_env} is not set", file=sys.stderr)
        return 2
    tls = None
    if bool(args.tls_cert) != bool(args.tls_key):
        print("sink: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"sink: --tls-cert/--tls-key: {exc}", file=sys.stderr)
            return 2
    server = Sink((host.strip("[]"), int(port)), jsonl=args.jsonl, secret=secret,
                  colour=sys.stdout.isatty(), quiet=args.quiet, max_age=args.max_age, tls=tls)
    scheme = "https" if tls else "http"
    print(f"sink: listening on {scheme}://{args.listen}/", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
