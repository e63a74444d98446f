"""A webhook receiver over HTTPS with a private CA (and one that wants a client
certificate): with ``tls_config`` the signed notification is delivered; without the CA
it is not (the server is not trusted), and the failure is a retried transport error."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.notify.conftest import PipelineFactory, firing
from tests.support import wait_for
from tests.support.certs import CA


class HttpsReceiver:
    """An HTTPS server on 127.0.0.1 recording (path, headers) of every POST."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((self.path, dict(self.headers.items())))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca = CA(tmp_path / "pki")
    return {"ca": ca, "server": ca.issue("receiver", server=True),
            "client": ca.issue("alerter", server=False)}


@pytest.fixture
def receivers(pki: dict[str, Any]) -> Iterator[tuple[HttpsReceiver, HttpsReceiver]]:
    plain = HttpsReceiver(pki["server"].cert, pki["server"].key)
    mutual = HttpsReceiver(pki["server"].cert, pki["server"].key,
                           client_ca=pki["ca"].pair.cert)
    yield plain, mutual
    plain.stop()
    mutual.stop()


def test_https_receivers_with_a_private_ca_and_a_client_certificate(
        pipeline_factory: PipelineFactory, pki: dict[str, Any],
        receivers: tuple[HttpsReceiver, HttpsReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_HMAC", "h" * 32)
    plain, mutual = receivers
    ca = str(pki["ca"].pair.cert)
    p = pipeline_factory({
        "route": {"receiver": "all", "group_wait": "0s"},
        "receivers": [{"name": "all", "webhook_configs": [
            {"url": plain.url + "/ca", "tls_config": {"ca_file": ca},
             "hmac_secret_env": "HOOK_HMAC"},
            {"url": mutual.url + "/mutual",
             "tls_config": {"ca_file": ca, "cert_file": str(pki["client"].cert),
                            "key_file": str(pki["client"].key)}},
            {"url": plain.url + "/untrusted"},  # the system CAs do not know ours
            {"url": mutual.url + "/no-cert", "tls_config": {"ca_file": ca}},
        ]}]})
    p.process([firing(site="Batumi", device="Batumi-R1")])
    wait_for(lambda: {path for path, _ in plain.requests + mutual.requests} >= {"/ca", "/mutual"},
             timeout=15, what="both trusted deliveries")
    [(_, headers)] = [r for r in plain.requests if r[0] == "/ca"]
    assert headers["X-Wardops-Signature"].startswith("sha256=")
    wait_for(lambda: _failed_attempts(p) >= 2, timeout=15,
             what="the untrusted ones failing (and being retried)")
    paths = {path for path, _ in plain.requests + mutual.requests}
    assert "/untrusted" not in paths and "/no-cert" not in paths


def _failed_attempts(p: Any) -> float:
    """Attempts of receiver ``all`` that did not get an answer (transport errors)."""
    total = 0.0
    for metric in p.registry.collect():
        for sample in metric.samples:
            if (sample.name == "wardops_alerter_notification_attempts_total"
                    and sample.labels.get("receiver") == "all"
                    and sample.labels.get("outcome") not in ("ok",)
                    and not sample.labels.get("outcome", "").startswith("http_")):
                total += sample.value
    return total
