"""The whole alerter process with the default rules, a real Prometheus scraping a metrics
target, and real webhook receivers: DeviceDown delivered signed, SiteDown inhibiting its
devices, an ack over the API, and the resolve still delivered."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.alerter.harness import TSDB, FakeExporter
from tests.notify.receiver import Receiver
from tests.support import REPO, Proc, free_port, python_env, wait_for, wait_http

TOKEN = "e2e-token"
SECRET = "e2e-hmac"


@pytest.fixture
def stack(netns: None, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if not shutil.which("prometheus"):
        pytest.skip("prometheus is not installed (scripts/bootstrap installs it)")
    exporter = FakeExporter()
    keys = {name: exporter.add(name, site=site) for name, site in
            (("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B"))}
    tsdb = TSDB("prometheus", exporter.port, tmp_path / "prometheus").start()
    chat, deadman = Receiver(), Receiver()
    (tmp_path / "rules").mkdir()
    shutil.copy(REPO / "rules" / "wardops.yml", tmp_path / "rules" / "wardops.yml")
    config = tmp_path / "alerter.yml"
    config.write_text(textwrap.dedent(f"""\
        prometheus: {{url: "{tsdb.url}", timeout: 2s}}
        evaluation_interval: 1s
        rule_files: [rules/*.yml]
        state_dir: state
        external_url: http://alerter.test:9470
        api: {{bearer_token_env: E2E_TOKEN}}
        route:
          receiver: chat
          group_by: [alertname, site]
          group_wait: 1s
          group_interval: 2s
          routes:
            - matchers: ['alertname="Watchdog"']
              receiver: deadman
        inhibit_rules:
          - source_matchers: ['alertname="SiteDown"']
            target_matchers: ['alertname="DeviceDown"']
            equal: [site]
        receivers:
          - name: chat
            webhook_configs: [{{url: "{chat.url}", hmac_secret_env: E2E_HMAC}}]
          - name: deadman
            webhook_configs: [{{url: "{deadman.url}"}}]
        """))
    port = free_port()
    alerter = Proc.python("alerter", "--config", str(config), "--web.listen-address",
                          f"127.0.0.1:{port}", log=tmp_path / "alerter.log",
                          env=python_env(E2E_TOKEN=TOKEN, E2E_HMAC=SECRET))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/-/ready", timeout=30)
        yield {"exporter": exporter, "keys": keys, "chat": chat, "deadman": deadman,
               "base": base, "alerter": alerter}
    finally:
        alerter.stop()
        tsdb.stop()
        exporter.close()
        chat.down()
        deadman.down()


def notifications(receiver: Receiver, alertname: str) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies() if b["commonLabels"].get("alertname") == alertname]


def test_whole_alerter_delivers_inhibits_and_resolves(stack: dict[str, Any]) -> None:
    exporter, keys, chat = stack["exporter"], stack["keys"], stack["chat"]
    base = stack["base"]
    # The dead man's switch goes to its own receiver.
    wait_for(lambda: notifications(stack["deadman"], "Watchdog"), timeout=30, what="Watchdog")

    exporter.set_up(keys["b1"], False)
    down = wait_for(lambda: notifications(chat, "DeviceDown"), timeout=30, what="DeviceDown b1")
    alert = down[0]["alerts"][0]
    assert alert["labels"]["device"] == "b1" and alert["status"] == "firing"
    assert alert["annotations"]["summary"].startswith("b1 (127.20.0.3) at B is DOWN since")
    req = next(r for r in chat.requests if r.json() is not None and
               r.json()["commonLabels"].get("alertname") == "DeviceDown")
    assert req.headers["X-Wardops-Signature"] == \
        "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()

    # All of site A goes down: one SiteDown, its DeviceDowns inhibited.
    exporter.set_up(keys["a1"], False)
    exporter.set_up(keys["a2"], False)
    site = wait_for(lambda: notifications(chat, "SiteDown"), timeout=30, what="SiteDown A")
    assert site[0]["groupLabels"] == {"alertname": "SiteDown", "site": "A"}
    time.sleep(3)  # a group_interval: the inhibited DeviceDowns must still not show up
    assert [b["groupLabels"]["site"] for b in notifications(chat, "DeviceDown")] == ["B"]
    alerts = requests.get(base + "/api/v1/alerts", params={"filter": 'alertname="DeviceDown"'},
                          timeout=5).json()["data"]["alerts"]
    by_device = {a["labels"]["device"]: a for a in alerts}
    assert by_device["a1"]["status"]["inhibitedBy"] and not by_device["b1"]["status"]["muted"]

    # Ack b1 over the API; its resolve is still delivered.
    resp = requests.post(f"{base}/api/v1/alerts/{by_device['b1']['fingerprint']}/ack",
                         json={"createdBy": "nino", "comment": "on site"},
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    exporter.set_up(keys["b1"], True)
    resolved = wait_for(lambda: [b for b in notifications(chat, "DeviceDown")
                                 if b["status"] == "resolved"], timeout=30, what="b1 resolved")
    assert resolved[0]["alerts"][0]["labels"]["device"] == "b1"
    metrics = requests.get(base + "/metrics", timeout=5).text
    assert 'wardops_alerter_notifications_total{receiver="chat",result="delivered"}' in metrics
    assert stack["alerter"].alive()
