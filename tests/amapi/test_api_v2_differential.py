"""Differential: the same API v2 requests, valid and not, to the real Alertmanager and
to the alerter; status codes, body shapes (a JSON string, a ``{"code", "message"}``
object from the spec's validation, or nothing), the spec errors' codes and messages and
``Allow`` must agree. Where the alerter differs on purpose the case says so (and
docs/alertmanager.md lists it)."""

from __future__ import annotations

import json
import os
import re
import subprocess
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


def _post(url: str, body: dict[str, Any]) -> str:
    resp = requests.post(url + "/api/v2/silences", json=body, timeout=5,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["silenceID"])


def _silence(url: str, silence_id: str) -> dict[str, Any]:
    resp = requests.get(f"{url}/api/v2/silence/{silence_id}", timeout=5)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_silence_updates_keep_or_replace_the_id_as_alertmanager(
        servers: tuple[str, str]) -> None:
    """An update keeps the silence's ID only when Alertmanager's canUpdate allows it
    (same matchers; an active one keeps its start); otherwise the old silence expires
    and a new ID is issued. Both servers, same requests, same outcome."""
    outcomes = []
    for url in servers:
        first = _post(url, {**OK, "startsAt": "2020-01-01T00:00:00Z"})  # active from now
        active = _silence(url, first)
        steps = [
            # a longer end: updated in place
            ("endsAt", {**OK, "id": first, "startsAt": active["startsAt"],
                        "endsAt": "2032-01-01T00:00:00Z"}),
            # other matchers: expired and replaced
            ("matchers", {**OK, "id": first, "startsAt": active["startsAt"],
                          "matchers": [{**M[0], "value": "Poti"}]}),
        ]
        seen = []
        current = first
        for what, body in steps:
            new = _post(url, {**body, "id": current})
            seen.append((what, new == current,
                         _silence(url, current)["status"]["state"]))
            current = new
        # amtool's update sends the start back to the millisecond: still the same silence
        http = Path(f"/tmp/amtool-http-{os.getpid()}.yml")
        http.write_text(yaml.safe_dump({"authorization": {"credentials": TOKEN}}))
        updated = subprocess.run(
            ["amtool", f"--alertmanager.url={url}", f"--http.config.file={http}", "silence",
             "update", current, "--duration=3h", "--comment=longer"],
            capture_output=True, text=True, timeout=30, check=False)
        http.unlink()
        assert updated.returncode == 0, updated.stderr
        # (amtool 0.25 prints a pointer for the new ID: read the silence instead; updated
        # in place, it is still active with the new comment)
        after = _silence(url, current)
        seen.append(("amtool update", after["status"]["state"], after["comment"]))
        pending = _post(url, OK)  # starts in 2030: pending
        moved = _post(url, {**OK, "id": pending, "startsAt": "2030-06-01T00:00:00Z"})
        seen.append(("pending start", moved == pending, _silence(url, pending)["status"]["state"]))
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == [("endsAt", True, "active"), ("matchers", False, "expired"),
                           ("amtool update", "active", "longer"),
                           ("pending start", True, "pending")]
