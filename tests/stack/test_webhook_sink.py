"""The demo webhook sink prints notifications readably and records them."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import requests

from stackparts import SINK, WebhookSink
from tests.support import Proc, free_port, wait_http

PAYLOAD = {
    "version": "4", "receiver": "demo", "status": "firing",
    "groupLabels": {"alertname": "DeviceDown", "site": "Kharagauli"},
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "DeviceDown", "severity": "critical", "device": "Kharagauli-ATM",
                   "address": "10.199.78.163", "site": "Kharagauli"},
        "annotations": {"summary": "Kharagauli-ATM (10.199.78.163) at Kharagauli is DOWN"},
        "startsAt": "2026-11-28T15:41:02.5Z", "endsAt": "0001-01-01T00:00:00Z",
    }],
}


def test_sink_prints_each_alert_and_records_the_request(tmp_path: Path) -> None:
    sink = WebhookSink(tmp_path)
    try:
        resp = requests.post(f"{sink.url}/demo", json=PAYLOAD, timeout=5,
                             headers={"Idempotency-Key": "abc123"})
        assert resp.status_code == 200
        [record] = sink.requests()
        assert record["path"] == "/demo"
        assert record["payload"] == PAYLOAD
        assert record["headers"]["Idempotency-Key"] == "abc123"
        assert sink.alerts()[0][1:] == ("firing", PAYLOAD["alerts"][0]["labels"])
    finally:
        sink.stop()
    out = sink.proc.output()
    assert "FIRING   DeviceDown [critical] device=Kharagauli-ATM address=10.199.78.163 " \
           "site=Kharagauli (since 15:41:02 UTC)" in out
    assert "Kharagauli-ATM (10.199.78.163) at Kharagauli is DOWN" in out


def test_sink_rejects_a_body_that_is_not_json(tmp_path: Path) -> None:
    sink = WebhookSink(tmp_path)
    try:
        resp = requests.post(f"{sink.url}/x", data=b"{not json", timeout=5)
        assert resp.status_code == 400
        assert sink.requests() == []
    finally:
        sink.stop()
    assert "not JSON" in sink.proc.output()


def test_sink_checks_the_hmac_signature(tmp_path: Path) -> None:
    port = free_port()
    proc = Proc([sys.executable, str(SINK), "--listen", f"127.0.0.1:{port}",
                 "--hmac-secret-env", "SINK_SECRET", "--jsonl", str(tmp_path / "n.jsonl")],
                log=tmp_path / "sink.log", env={"SINK_SECRET": "s3cret", "PATH": "/usr/bin"})
    try:
        wait_http(f"http://127.0.0.1:{port}/-/healthy")
        body = json.dumps(PAYLOAD).encode()
        good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        for sig in (good, "sha256=00"):
            requests.post(f"http://127.0.0.1:{port}/", data=body, timeout=5,
                          headers={"X-Wardops-Signature": sig,
                                   "Content-Type": "application/json"})
    finally:
        proc.stop()
    records = [json.loads(line) for line in (tmp_path / "n.jsonl").read_text().splitlines()]
    assert [r["signature"] for r in records] == ["ok", "BAD"]


def test_sink_refuses_a_missing_secret_variable() -> None:
    result = subprocess.run([sys.executable, str(SINK), "--hmac-secret-env", "NOPE_NOT_SET"],
                            capture_output=True, text=True, env={"PATH": "/usr/bin"}, timeout=10)
    assert result.returncode == 2
    assert result.stderr.strip() == "sink: --hmac-secret-env: $NOPE_NOT_SET is not set"
