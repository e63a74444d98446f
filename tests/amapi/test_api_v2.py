"""/api/v2 over HTTP from a running alerter: the JSON Grafana's Alertmanager datasource
(implementation: prometheus) reads, filters, auth, errors; the provisioned datasource."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from flask import Flask

from alerter.amapi import create_blueprint, prom_duration
from alerter.notify import NotificationPipeline
from alerter.notify.config import parse_notify_config
from tests.amapi.conftest import TOKEN, Lab
from tests.support import REPO, wait_for

NOTIFY = """\
route:
  receiver: chat
  group_by: [site]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['device="Core-R1"']
      receiver: oncall
      continue: true
receivers:
  - name: chat
  - name: oncall
inhibit_rules:
  - source_matchers: ['device="Core-R1"']
    target_matchers: ['device!="Core-R1"']
    equal: [site]
"""

# What Grafana's Alertmanager datasource types (AlertmanagerAlert, AlertmanagerGroup,
# Silence, AlertmanagerStatus) read; gettableAlert's required fields in the OpenAPI spec.
ALERT_KEYS = {"annotations", "endsAt", "fingerprint", "receivers", "startsAt", "status",
              "updatedAt", "generatorURL", "labels"}
SILENCE_KEYS = {"id", "matchers", "startsAt", "endsAt", "updatedAt", "createdBy", "comment",
                "status"}


def rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"grafana:{password}".encode()).decode()}


def by_device(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["labels"]["device"]: a for a in alerts if "device" in a["labels"]}


def test_v2_json_filters_auth_as_grafana_and_amtool_read_it(lab: Lab) -> None:
    core = lab.exporter.add("Core-R1", site="Tbilisi")
    atm = lab.exporter.add("Tbilisi-ATM", site="Tbilisi", dtype="atm")
    batumi = lab.exporter.add("Batumi-R1", site="Batumi")
    lab.prometheus.wait_value("count(wardops_device_up == 1)", 3)
    alerter = lab.alerter(NOTIFY)
    v2 = alerter.url + "/api/v2"

    # writes: 401 without/with a wrong token, basic auth with the token as password works
    silence = {"matchers": [{"name": "site", "value": "Batumi", "isRegex": False,
                             "isEqual": True}],
               "startsAt": "2020-01-01T00:00:00Z",
               "endsAt": datetime.fromtimestamp(time.time() + 3600).astimezone().isoformat(),
               "createdBy": "grafana-user", "comment": "Batumi fibre works"}
    assert requests.post(v2 + "/silences", json=silence, timeout=5).status_code == 401
    assert requests.post(v2 + "/silences", json=silence, headers=basic("nope"),
                         timeout=5).status_code == 401
    resp = requests.post(v2 + "/silences", json=silence, headers=basic(TOKEN), timeout=5)
    assert resp.status_code == 200, resp.text
    silence_id = resp.json()["silenceID"]

    for key in (core, atm, batumi):
        lab.exporter.set_up(key, False)
    alerts = wait_for(lambda: (found := by_device(alerter.get("/api/v2/alerts"))) and
                      len(found) == 3 and found["Tbilisi-ATM"]["status"]["inhibitedBy"]
                      and found, timeout=30, what="three DeviceDown alerts, one inhibited")

    for a in alerts.values():
        assert set(a) == ALERT_KEYS
        assert set(a["status"]) == {"state", "silencedBy", "inhibitedBy", "mutedBy"}
        assert rfc3339(a["startsAt"]) <= rfc3339(a["updatedAt"]) < rfc3339(a["endsAt"])
        # the Prometheus table view of the rule's expression (a page a person can open)
        assert a["generatorURL"].endswith("/graph?g0.expr=wardops_device_up+%3D%3D+0&g0.tab=1")
    status = {d: (a["status"]["state"], a["status"]["silencedBy"], a["status"]["inhibitedBy"],
                  [r["name"] for r in a["receivers"]]) for d, a in alerts.items()}
    assert status == {
        "Core-R1": ("active", [], [], ["oncall"]),  # a matching child takes it from the root
        "Tbilisi-ATM": ("suppressed", [], [alerts["Core-R1"]["fingerprint"]], ["chat"]),
        "Batumi-R1": ("suppressed", [silence_id], [], ["chat"]),
    }

    def devices(path: str = "/api/v2/alerts", **params: Any) -> list[str]:
        return sorted(by_device(alerter.get(path, **params)))

    assert devices(silenced="false", inhibited="false") == ["Core-R1"]
    assert devices(active="false") == ["Batumi-R1", "Tbilisi-ATM"]
    assert devices(filter=['site="Tbilisi"', 'type=~"atm|kiosk"']) == ["Tbilisi-ATM"]
    assert devices(receiver="on.*") == ["Core-R1"]
    bad = requests.get(v2 + "/alerts", params={"filter": "site=~(("}, timeout=5)
    assert bad.status_code == 400 and isinstance(bad.json(), str) and "filter" in bad.json()

    groups = alerter.get("/api/v2/alerts/groups")
    assert [(g["receiver"]["name"], g["labels"], sorted(a["labels"]["device"]
                                                        for a in g["alerts"]))
            for g in groups if g["labels"].get("site")] == [
        ("chat", {"site": "Batumi"}, ["Batumi-R1"]),
        ("chat", {"site": "Tbilisi"}, ["Tbilisi-ATM"]),
        ("oncall", {"site": "Tbilisi"}, ["Core-R1"]),
    ]
    assert all(set(a) == ALERT_KEYS for g in groups for a in g["alerts"])

    silences = alerter.get("/api/v2/silences")
    assert [set(s) - {"matchersText"} for s in silences] == [SILENCE_KEYS]
    one = alerter.get(f"/api/v2/silence/{silence_id}")
    assert (one["id"], one["status"]["state"], one["createdBy"]) == (silence_id, "active",
                                                                     "grafana-user")
    assert rfc3339(one["startsAt"]) > time.time() - 120  # not back-dated to 2020
    assert requests.get(v2 + "/silence/00000000-0000-0000-0000-000000000000",
                        timeout=5).status_code == 404
    # an update that keeps matchers and start (as read back) keeps the id, as in
    # Alertmanager; DELETE needs the token (bearer here)
    update = {**silence, "id": silence_id, "startsAt": one["startsAt"],
              "comment": "Batumi fibre works, day 2"}
    assert requests.post(v2 + "/silences", json=update, headers=basic(TOKEN),
                         timeout=5).json() == {"silenceID": silence_id}
    assert requests.delete(f"{v2}/silence/{silence_id}", timeout=5).status_code == 401
    gone = requests.delete(f"{v2}/silence/{silence_id}",
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert gone.status_code == 200
    assert alerter.get(f"/api/v2/silence/{silence_id}")["status"]["state"] == "expired"
    assert alerter.get(f"/api/v2/silence/{silence_id}")["comment"] == "Batumi fibre works, day 2"

    st = alerter.get("/api/v2/status")
    assert set(st) == {"cluster", "versionInfo", "config", "uptime"}
    assert st["cluster"]["status"] == "disabled"
    assert set(st["versionInfo"]) == {"version", "revision", "branch", "buildUser",
                                      "buildDate", "goVersion"}
    assert rfc3339(st["uptime"]) <= time.time()
    original = yaml.safe_load(st["config"]["original"])
    assert original["route"]["receiver"] == "chat"
    assert original["route"]["routes"] == [{"receiver": "oncall",
                                            "matchers": ['device="Core-R1"'], "continue": True}]
    assert original["inhibit_rules"][0]["equal"] == ["site"]
    assert [r["name"] for r in original["receivers"]] == ["chat", "oncall"]
    assert alerter.get("/api/v2/receivers") == [{"name": "chat"}, {"name": "oncall"}]
    # Grafana's datasource test asks this first; a 200 would make it say "Mimir detected"
    assert requests.get(alerter.url + "/alertmanager/api/v2/status", timeout=5).status_code == 404

    # bad writes are 400 (or, failing the spec's checks, 422 as Alertmanager answers)
    # with a message, never 500
    for body, status, message in (
            (b"{not json", 400, "invalid JSON"), (b"[]", 400, "must be a JSON object"),
            (b'{"matchers": [], "endsAt": "2030-01-01T00:00:00Z"}', 422, "comment in body is required"),
            (b"x" * 70000, 400, "larger than 65536 bytes")):
        resp = requests.post(v2 + "/silences", data=body, headers=basic(TOKEN), timeout=5)
        assert resp.status_code == status and message in resp.text, (body[:20], resp.text)


def test_writes_are_refused_without_a_configured_token(tmp_path: Path) -> None:
    pipeline = NotificationPipeline(parse_notify_config({}), tmp_path,
                                    external_url="http://alerter.test")
    app = Flask("t")
    app.register_blueprint(create_blueprint(alerts=lambda: [], pipeline=pipeline,
                                            config=lambda: None))
    resp = app.test_client().post("/api/v2/silences", json={}, headers=basic("anything"))
    assert resp.status_code == 403
    assert "api.bearer_token_env" in resp.get_json()
    assert app.test_client().get("/api/v2/silences").get_json() == []


@pytest.mark.parametrize("seconds,text", [(0, "0s"), (30, "30s"), (300, "5m"), (5400, "1h30m"),
                                          (14400, "4h"), (1.5, "1s500ms"), (90000, "1d1h")])
def test_prom_duration(seconds: float, text: str) -> None:
    assert prom_duration(seconds) == text


def test_grafana_datasource_is_provisioned() -> None:
    path = REPO / "grafana/provisioning/datasources/wardops-alertmanager.yml"
    (ds,) = yaml.safe_load(path.read_text())["datasources"]
    assert (ds["type"], ds["uid"], ds["url"], ds["jsonData"]["implementation"]) == (
        "alertmanager", "wardops-alerter", "http://alerter:9470", "prometheus")
    # the token comes from the environment, never a literal in the repository
    assert ds["secureJsonData"]["basicAuthPassword"] == "${WARDOPS_API_TOKEN}"
