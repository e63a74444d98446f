"""The demo webhook sink prints notifications readably and records them."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
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


def test_sink_refuses_forged_unsigned_and_replayed_notifications(tmp_path: Path) -> None:
    """With a secret, only a body signed with it and a fresh timestamp is applied; the
    old sink answered 200 to all of these and only printed BAD/missing."""
    port = free_port()
    proc = Proc([sys.executable, str(SINK), "--listen", f"127.0.0.1:{port}",
                 "--hmac-secret-env", "SINK_SECRET", "--jsonl", str(tmp_path / "n.jsonl")],
                log=tmp_path / "sink.log", env={"SINK_SECRET": "s3cret", "PATH": "/usr/bin"})
    try:
        wait_http(f"http://127.0.0.1:{port}/-/healthy")
        body = json.dumps(PAYLOAD).encode()
        good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        now = str(int(time.time()))
        cases = [  # (headers, body, expected status)
            ({"X-Wardops-Signature": good, "X-Wardops-Timestamp": now}, body, 200),
            ({"X-Wardops-Signature": "sha256=00", "X-Wardops-Timestamp": now}, body, 401),
            ({"X-Wardops-Signature": good, "X-Wardops-Timestamp": now},
             body.replace(b"DOWN", b"UP!!"), 401),                     # tampered body
            ({"X-Wardops-Timestamp": now}, body, 401),                   # unsigned
            ({"X-Wardops-Signature": good}, body, 401),                  # no timestamp
            ({"X-Wardops-Signature": good,
              "X-Wardops-Timestamp": str(int(time.time()) - 3600)}, body, 401),  # replayed
        ]
        statuses = [requests.post(f"http://127.0.0.1:{port}/", data=data, timeout=5,
                                  headers={**headers, "Content-Type": "application/json"}
                                  ).status_code for headers, data, _ in cases]
    finally:
        proc.stop()
    assert statuses == [status for _, _, status in cases]
    records = [json.loads(line) for line in (tmp_path / "n.jsonl").read_text().splitlines()]
    assert [r["verdict"] for r in records] == ["applied"] + ["rejected"] * 5
    assert "refused (401): signature BAD" in proc.output()


def test_sink_applies_notifications_in_sequence_order_once(tmp_path: Path) -> None:
    """A late retry (lower sequence) never overwrites the newer state; a retry of one
    already applied (same Idempotency-Key) is dropped; both get 200 so the sender stops."""
    sink = WebhookSink(tmp_path)
    resolved = {**PAYLOAD, "status": "resolved", "groupKey": "{}:{site=\"K\"}",
                "alerts": [{**PAYLOAD["alerts"][0], "status": "resolved"}]}
    firing = {**PAYLOAD, "groupKey": "{}:{site=\"K\"}"}
    other_group = {**firing, "groupKey": "{}:{site=\"L\"}"}
    try:
        sends = [(resolved, "20", "k2"), (firing, "10", "k1"),  # the firing arrives late
                 (resolved, "20", "k2"),                          # a retry of the applied one
                 (other_group, "5", "k3"),                        # its own group's order
                 ({**firing, "sequence": 30}, None, "k4")]        # sequence in the body only
        codes = [requests.post(f"{sink.url}/hook", json=payload, timeout=5,
                               headers={"Idempotency-Key": key,
                                        **({"X-Wardops-Sequence": seq} if seq else {})}
                               ).status_code for payload, seq, key in sends]
        verdicts = [r["verdict"] for r in sink.requests()]
    finally:
        sink.stop()
    assert codes == [200] * 5
    assert verdicts == ["applied", "stale", "duplicate", "applied", "applied"]
    assert "ignored: stale" in sink.proc.output()


def test_sink_refuses_a_missing_secret_variable() -> None:
    result = subprocess.run([sys.executable, str(SINK), "--hmac-secret-env", "NOPE_NOT_SET"],
                            capture_output=True, text=True, env={"PATH": "/usr/bin"}, timeout=10)
    assert result.returncode == 2
    assert result.stderr.strip() == "sink: --hmac-secret-env: $NOPE_NOT_SET is not set"
