"""The query client over real HTTP: headers and basic auth sent, failures mapped to reasons.

The server is a small loopback HTTP server that answers like the Prometheus API (or
misbehaves on purpose), so each failure mode is produced for real: refused connections,
timeouts, 5xx, garbage.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from alerter.config import DataSource
from alerter.promapi import PromAPI, QueryError, Sample
from tests.support import free_port


class FakeAPI:
    def __init__(self) -> None:
        self.mode = "ok"
        self.seen: list[tuple[dict[str, str], dict[str, list[str]]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                api.seen.append((dict(self.headers.items()), form))
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
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    api = FakeAPI()
    yield api
    api.server.shutdown()
    api.server.server_close()


def test_query_sends_time_headers_and_basic_auth(fake: FakeAPI) -> None:
    client = PromAPI(DataSource(url=fake.url, timeout=1.0, headers={"X-Scope-OrgID": "bank"},
                                username="wardops", password="s3cret"))
    assert client.query("up == 1", 1764344462.5) == [Sample({"job": "x"}, 1.0)]
    headers, form = fake.seen[0]
    assert form == {"query": ["up == 1"], "time": ["1764344462.500"]}
    assert headers["X-Scope-OrgID"] == "bank"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"wardops:s3cret").decode()


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
