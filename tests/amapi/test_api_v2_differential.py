"""Differential: the same API v2 requests, valid and not, to the real Alertmanager and
to the alerter; status codes, body shapes (a JSON string, a ``{"code", "message"}``
object from the spec's validation, or nothing), the spec errors' codes and messages and
``Allow`` must agree. Where the alerter differs on purpose the case says so (and
docs/alertmanager.md lists it)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support import Proc, free_port, wait_http

TOKEN = "differential-t0ken"
M = [{"name": "site", "value": "Batumi", "isRegex": False, "isEqual": True}]
OK = {"matchers": M, "startsAt": "2030-01-01T00:00:00Z", "endsAt": "2031-01-01T00:00:00Z",
      "createdBy": "noc", "comment": "fibre works"}
UUID0 = "00000000-0000-0000-0000-000000000000"

# (method, path, body, why wardops differs or "")
CASES: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/v2/silences", {}, ""),
    ("POST", "/api/v2/silences", {"matchers": M}, ""),
    ("POST", "/api/v2/silences", {k: v for k, v in OK.items() if k != "startsAt"}, ""),
    ("POST", "/api/v2/silences", {**OK, "matchers": []}, ""),
    ("POST", "/api/v2/silences", {**OK, "matchers": [{"name": "site", "value": "B"}]}, ""),
    ("POST", "/api/v2/silences", {**OK, "endsAt": "2029-01-01T00:00:00Z"}, ""),
    ("POST", "/api/v2/silences",
     {**OK, "matchers": [{"name": "site", "value": "", "isRegex": False}]}, ""),
    ("POST", "/api/v2/silences", {**OK, "startsAt": "not a time"}, ""),
    ("POST", "/api/v2/silences", "not json", ""),
    ("POST", "/api/v2/silences", {**OK, "id": "no-such-silence"}, ""),
    ("POST", "/api/v2/silences", OK, ""),
    ("POST", "/api/v2/silences", {**OK, "createdBy": ""},
     "an author and a comment are required (the bank's audit: who silenced what, and why)"),
    ("GET", "/api/v2/silence/not-a-uuid", None, ""),
    ("DELETE", "/api/v2/silence/not-a-uuid", None, ""),
    ("GET", f"/api/v2/silence/{UUID0}", None, ""),
    ("DELETE", f"/api/v2/silence/{UUID0}", None,
     "an unknown silence is a 404 (Alertmanager answers 500)"),
    ("GET", "/api/v2/alerts?filter=bad", None, ""),
    ("GET", "/api/v2/silences?filter=%7B", None, ""),
    ("GET", "/api/v2/alerts/groups?receiver=%5B", None, ""),
    ("GET", "/api/v2/alerts?active=maybe", None,
     "an unreadable boolean is a 400 (Alertmanager ignores it)"),
    ("TRACE", "/api/v2/status", None, ""),
    ("PUT", "/api/v2/silences", None, ""),
    ("GET", "/api/v2/status", None, ""),
    ("GET", "/api/v2/receivers", None, ""),
]


def _shape(resp: requests.Response) -> tuple[Any, ...]:
    """What must agree: status, the kind of body, a spec error's code and message (the
    wording of the servers' own 400s differs), and Allow."""
    text = resp.text.strip()
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    allow = resp.headers.get("Allow")
    if allow:  # Alertmanager lists the methods in Go's map order, which varies
        allow = ",".join(sorted(allow.split(",")))
    if isinstance(body, dict) and set(body) == {"code", "message"}:
        message = body["message"] if resp.status_code != 400 else ""
        if resp.status_code == 405:
            message = re.sub(r"\[(.*)\]", lambda m: f"[{allow}]", message)
        kind: Any = ("spec-error", body["code"], message)
    elif isinstance(body, str):
        kind = "string"
    elif body is None:
        kind = "empty"
    else:
        kind = type(body).__name__
    return resp.status_code, kind, allow


@pytest.fixture
def servers(netns: None, tmp_path: Path) -> Iterator[tuple[str, str]]:
    routing = "route: {receiver: chat}\nreceivers: [{name: chat}]\n"
    (tmp_path / "am.yml").write_text(routing)
    am_port, alerter_port = free_port(), free_port()
    procs = [Proc(["prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
                   f"--storage.path={tmp_path / 'am'}", "--cluster.listen-address=",
                   f"--web.listen-address=127.0.0.1:{am_port}"], log=tmp_path / "am.log")]
    config = yaml.safe_load(routing) | {
        "prometheus": {"url": f"http://127.0.0.1:{free_port()}", "timeout": "1s"},
        "rule_files": [], "state_dir": str(tmp_path / "state"),
        "data_health": {"targets": "", "probe_timestamp": ""},
        "api": {"bearer_token_env": "DIFF_TOKEN"}}
    (tmp_path / "alerter.yml").write_text(yaml.safe_dump(config))
    procs.append(Proc.python("alerter", "--config", str(tmp_path / "alerter.yml"),
                             "--web.listen-address", f"127.0.0.1:{alerter_port}",
                             log=tmp_path / "alerter.log",
                             env={**os.environ, "DIFF_TOKEN": TOKEN}))
    urls = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{alerter_port}"
    try:
        for url in urls:
            wait_http(url + "/-/ready", timeout=30)
        yield urls
    finally:
        for proc in procs:
            proc.stop()


def test_api_v2_answers_as_alertmanager(servers: tuple[str, str]) -> None:
    alertmanager, alerter = servers
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    unexpected, differing = [], []
    for method, path, body, why in CASES:
        data = None if body is None else body if isinstance(body, str) else json.dumps(body)
        theirs, ours = (_shape(requests.request(method, url + path, data=data,
                                                headers=headers, timeout=5))
                        for url in (alertmanager, alerter))
        if why:
            differing.append((method, path))
            assert theirs != ours, f"{method} {path}: now equal; drop the note: {why}"
        elif theirs != ours:
            unexpected.append((method, path, body, theirs, ours))
    assert not unexpected, "\n".join(map(str, unexpected))
    assert len(differing) == 3
