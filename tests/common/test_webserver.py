"""The shared web server: a busy shutdown is clean, a taken port is named."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import requests

from tests.support import free_port, wait_http
from wardops_common.webserver import ListenError, WebServer


def slow_app(environ, start_response):  # type: ignore[no-untyped-def]
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.5)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


def test_close_lets_requests_in_progress_finish(caplog: pytest.LogCaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    crashes: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    port = free_port()
    server = WebServer(slow_app, f"127.0.0.1:{port}", ident="test", threads=2)
    server.start()
    wait_http(f"http://127.0.0.1:{port}/")
    answers: list[int] = []
    clients = [threading.Thread(target=lambda: answers.append(
        requests.get(f"http://127.0.0.1:{port}/slow", timeout=5).status_code))
        for _ in range(2)]
    for client in clients:
        client.start()
    time.sleep(0.2)  # both requests are being answered now
    with caplog.at_level(logging.WARNING):
        server.close()
    for client in clients:
        client.join(5)
    assert answers == [200, 200]
    assert not server._thread.is_alive()
    assert not crashes, [f"{c.thread.name}: {c.exc_value!r}" for c in crashes]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_a_taken_port_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError) as err:
            WebServer(slow_app, f"127.0.0.1:{port}", ident="test")
    assert str(err.value) == f"--web.listen-address 127.0.0.1:{port}: address already in use"
