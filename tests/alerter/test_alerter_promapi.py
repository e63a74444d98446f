"""The query client over real HTTP: headers and credentials sent, the http_config keys
(proxy, redirects, TLS server name) honoured, failures mapped to reasons.

The server is a small loopback HTTP server that answers like the Prometheus API (or
misbehaves on purpose), so each failure mode is produced for real: refused connections,
timeouts, 5xx, garbage.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from alerter.config import DataSource
from alerter.promapi import PromAPI, QueryError, Sample
from tests.support import free_port
from tests.support.certs import CA
from wardops_common.httpclient import read_http_config


class FakeAPI:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.mode = "ok"
        self.seen: list[tuple[dict[str, str], dict[str, list[str]]]] = []
        self.paths: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                api.seen.append((dict(self.headers.items()), form))
                api.paths.append(self.path)
                if self.path.startswith("/moved/"):  # /moved/<status>/api/v1/query
                    status = int(self.path.split("/")[2])
                    self.send_response(status)
                    self.send_header("Location", "/api/v1/query")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if api.mode == "slow":
                    time.sleep(1.5)
                status, body = {
                    "ok": (200, json.dumps({"status": "success", "data": {
                        "resultType": "vector", "result": [
                            {"metric": {"__name__": "up", "job": "x"}, "value": [1, "1"]}]}})),
                    "slow": (200, "{}"),
                    "503": (503, "overloaded"),
                    "garbage": (200, "<html>login</html>"),
                    "bad": (400, json.dumps({"status": "error", "errorType": "bad_data",
                                             "error": "1:5: parse error"})),
                }[api.mode]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    api = FakeAPI()
    yield api
    api.server.shutdown()
    api.server.server_close()


def _source(url: str, tmp: Path, **http: object) -> DataSource:
    """A data source as ``prometheus:`` in the alerter's config reads it."""
    return DataSource(url=url, timeout=1.0, headers={"X-Scope-OrgID": "bank"},
                      http=read_http_config(http, "prometheus", tmp))


def test_query_sends_time_headers_and_basic_auth(fake: FakeAPI, tmp_path: Path) -> None:
    (tmp_path / "password").write_text("s3cret\n")
    client = PromAPI(_source(fake.url, tmp_path, basic_auth={
        "username": "wardops", "password_file": "password"}))
    assert client.query("up == 1", 1764344462.5) == [Sample({"job": "x"}, 1.0)]
    headers, form = fake.seen[0]
    assert form == {"query": ["up == 1"], "time": ["1764344462.500"]}
    assert headers["X-Scope-OrgID"] == "bank"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"wardops:s3cret").decode()


def test_authorization_credentials_come_from_a_file(fake: FakeAPI, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0ken\n")
    client = PromAPI(_source(fake.url, tmp_path, authorization={
        "type": "Bearer", "credentials_file": "token"}))
    client.query("up", 1.0)
    assert fake.seen[0][0]["Authorization"] == "Bearer t0ken"


def test_proxy_url_carries_the_query(fake: FakeAPI, tmp_path: Path) -> None:
    """The Prometheus is named by a host only the proxy can reach (the fake API plays
    the proxy: it is sent the absolute URL); nothing leaves loopback."""
    client = PromAPI(_source("http://prometheus.bank.invalid:9090", tmp_path,
                             proxy_url=fake.url))
    assert client.query("up", 1.0) == [Sample({"job": "x"}, 1.0)]
    assert fake.paths == ["http://prometheus.bank.invalid:9090/api/v1/query"]


@pytest.mark.parametrize("status,follow,reached", [
    (307, True, True), (308, True, True),
    (302, True, False),    # a POST turned into a body-less GET: not followed, a failure
    (301, True, False), (303, True, False),
    (307, False, False)])  # follow_redirects: false
def test_redirects_of_a_post_are_followed_only_when_they_keep_the_body(
        fake: FakeAPI, tmp_path: Path, status: int, follow: bool, reached: bool) -> None:
    client = PromAPI(_source(f"{fake.url}/moved/{status}", tmp_path, follow_redirects=follow))
    if reached:
        assert client.query("up", 1.0) == [Sample({"job": "x"}, 1.0)]
        assert fake.paths == [f"/moved/{status}/api/v1/query", "/api/v1/query"]
        assert fake.seen[1][1]["query"] == ["up"]  # the body went along
    else:
        with pytest.raises(QueryError):
            client.query("up", 1.0)
        assert fake.paths == [f"/moved/{status}/api/v1/query"]


def test_tls_server_name_is_the_name_checked_in_the_certificate(tmp_path: Path) -> None:
    """A Prometheus reached by address whose certificate names only its DNS name: the
    query fails without tls_config.server_name and works with it."""
    ca = CA(tmp_path / "pki")
    pair = ca.issue("prometheus", server=True, names=("prometheus.bank.local",))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    api = FakeAPI(tls=context)
    try:
        tls = {"ca_file": str(ca.pair.cert)}
        with pytest.raises(QueryError, match="certificate|hostname|match"):
            PromAPI(_source(api.url, tmp_path, tls_config=tls)).query("up", 1.0)
        named = PromAPI(_source(api.url, tmp_path, tls_config={
            **tls, "server_name": "prometheus.bank.local"}))
        assert named.query("up", 1.0) == [Sample({"job": "x"}, 1.0)]
        wrong = PromAPI(_source(api.url, tmp_path, tls_config={
            **tls, "server_name": "other.bank.local"}))
        with pytest.raises(QueryError):
            wrong.query("up", 1.0)
    finally:
        api.server.shutdown()
        api.server.server_close()


@pytest.mark.parametrize("http,says", [
    ({"basic_auth": {"username": "u", "password": "p"}, "bearer_token": "t"},
     "give one of basic_auth, authorization or bearer_token, not basic_auth and bearer_token"),
    ({"authorization": {"type": "Basic", "credentials": "x"}}, "not Basic (use basic_auth)"),
    ({"authorization": {"credentials_file": "missing"}}, "missing"),
    ({"proxy_url": "socks5://127.0.0.1:1080"}, "proxy_url: must be an http(s) URL"),
    ({"follow_redirects": "yes"}, "follow_redirects: must be true or false"),
    ({"tls_config": {"server_name": "a/b"}}, "server_name: must be a host name"),
    ({"basic_auth": {"username": "a:b", "password": "p"}}, "without ':'"),
])
def test_bad_http_config_is_refused_by_name(tmp_path: Path, http: dict[str, object],
                                            says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        read_http_config(http, "prometheus", tmp_path)


@pytest.mark.parametrize("mode,reason", [
    ("slow", "timeout"), ("503", "server_error"), ("garbage", "bad_response"),
    ("bad", "bad_query")])
def test_failures_have_reasons(fake: FakeAPI, mode: str, reason: str) -> None:
    fake.mode = mode
    with pytest.raises(QueryError) as info:
        PromAPI(DataSource(url=fake.url, timeout=0.5)).query("up", time.time())
    assert info.value.reason == reason
    assert fake.url in str(info.value)


def test_refused_connection_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(QueryError) as info:
        PromAPI(DataSource(url=url, timeout=1.0)).query("up", time.time())
    assert info.value.reason == "unreachable"
    assert str(info.value).startswith(f"{url}: ")
