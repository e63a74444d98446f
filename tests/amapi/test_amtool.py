"""The real ``amtool`` against a real alerter: silences mute notifications, alert queries.

Two devices go down; a silence made with amtool for one of them keeps its notification
away from the (real, loopback) webhook receiver while the other one's arrives; expiring
the silence with amtool lets it through.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.amapi.conftest import TOKEN, AmtoolRun, Lab, amtool_json, wait_metric
from tests.notify.receiver import Receiver
from tests.support import Proc, free_port, wait_for

ROUTE = """\
route:
  receiver: hook
  group_by: [device]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
"""
NOTIFY = ROUTE + """\
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
"""


def devices_in(receiver: Receiver) -> list[tuple[str, str]]:
    """(device, status) of every alert the receiver got, in arrival order."""
    return [(a["labels"]["device"], a["status"]) for body in receiver.bodies()
            for a in body["alerts"] if a["labels"]["alertname"] == "DeviceDown"]


def test_amtool_silence_mutes_the_notification_and_expire_lifts_it(
        lab: Lab, amtool: Callable[[str], AmtoolRun]) -> None:
    receiver = Receiver()
    try:
        atm = lab.exporter.add("Kharagauli-ATM", site="Kharagauli")
        router = lab.exporter.add("Batumi-R1", site="Batumi")
        lab.prometheus.wait_value("count(wardops_device_up == 1)", 2)
        alerter = lab.alerter(NOTIFY.format(url=receiver.url))
        run = amtool(alerter.url)

        # writes need the token: refused without it and with a wrong one
        for auth in (None, "wrong"):
            refused = run("silence", "add", "device=Kharagauli-ATM", "--comment=x", auth=auth)
            assert refused.returncode != 0 and "401" in refused.stderr, refused
        added = run("silence", "add", "device=Kharagauli-ATM", "--duration=1h",
                    "--author=noc-operator", "--comment=ATM vendor maintenance")
        assert added.returncode == 0, added.stderr
        silence_id = added.stdout.strip()

        listed = amtool_json(run("-o", "json", "silence", "query"))
        assert [(s["id"], s["status"]["state"], s["createdBy"], s["comment"])
                for s in listed] == [(silence_id, "active", "noc-operator",
                                      "ATM vendor maintenance")]
        assert listed[0]["matchers"] == [{"name": "device", "value": "Kharagauli-ATM",
                                          "isRegex": False, "isEqual": True}]

        lab.exporter.set_up(atm, False)
        lab.exporter.set_up(router, False)
        receiver.wait(1)
        # the ATM's group was flushed and muted by the silence, not merely late
        wait_metric(alerter, "wardops_alerter_notifications_suppressed_total", 1,
                    reason="silenced")
        assert devices_in(receiver) == [("Batumi-R1", "firing")]

        # amtool alert query: default shows active (not silenced) alerts only
        active = amtool_json(run("-o", "json", "alert", "query", "alertname=DeviceDown"))
        assert [a["labels"]["device"] for a in active] == ["Batumi-R1"]
        silenced = amtool_json(run("-o", "json", "alert", "query", "--silenced",
                                   "device=~Kharagauli.*"))
        assert [(a["labels"]["device"], a["status"]["state"], a["status"]["silencedBy"])
                for a in silenced] == [("Kharagauli-ATM", "suppressed", [silence_id])]
        by_receiver = amtool_json(run("-o", "json", "alert", "query", "-a", "-s",
                                      "--receiver=ho.*"))
        assert sorted(a["labels"]["device"] for a in by_receiver) == ["Batumi-R1",
                                                                       "Kharagauli-ATM"]
        assert amtool_json(run("-o", "json", "alert", "query", "-a", "-s",
                               "--receiver=other")) == []

        # basic auth (token as password) works for writes too
        expired = run("silence", "expire", silence_id, auth="basic")
        assert expired.returncode == 0, expired.stderr
        assert amtool_json(run("-o", "json", "silence", "query")) == []
        gone = amtool_json(run("-o", "json", "silence", "query", "--expired"))
        assert [(s["id"], s["status"]["state"]) for s in gone] == [(silence_id, "expired")]

        wait_for(lambda: ("Kharagauli-ATM", "firing") in devices_in(receiver), timeout=20,
                 what="the ATM's notification after the silence expired")
        assert devices_in(receiver).count(("Batumi-R1", "firing")) == 1
    finally:
        receiver.down()


def test_amtool_silence_update_and_v1_sees_v2_silences(
        lab: Lab, amtool: Callable[[str], AmtoolRun]) -> None:
    alerter = lab.alerter("")
    run = amtool(alerter.url)
    added = run("silence", "add", "site=Tbilisi", "type=~atm|kiosk", "--duration=2h",
                "--comment=branch works")
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()
    # the same store serves /api/v1
    v1 = alerter.get("/api/v1/silences")["data"]
    assert [(s["id"], s["matchersText"]) for s in v1] == [
        (silence_id, ['site="Tbilisi"', 'type=~"atm|kiosk"'])]
    updated = run("silence", "update", silence_id, "--duration=3h", "--comment=longer")
    assert updated.returncode == 0, updated.stderr
    after = amtool_json(run("-o", "json", "silence", "query", "site=Tbilisi"))
    assert [(s["id"], s["comment"]) for s in after] == [(silence_id, "longer")]
    assert amtool_json(run("-o", "json", "silence", "query", "site=Batumi")) == []


# bcrypt of "secret" (libxcrypt), for Alertmanager's --web.config.file basic auth
BCRYPT_SECRET = "$2b$04$abcdefghijklmnopqrstuu2r9OfJnfCsdneAXAGHnS4UpFFP8WIrW"


def amtool_error(result: subprocess.CompletedProcess[str]) -> str:
    """amtool's error line (without its version-mismatch warning)."""
    return next(line for line in result.stderr.splitlines() if line.startswith("amtool: error"))


def test_amtool_auth_error_reads_like_alertmanager_behind_basic_auth(
        lab: Lab, amtool: Callable[[str], AmtoolRun], tmp_path: Path) -> None:
    """amtool prints no body for a status its swagger spec does not declare (401 is not),
    whatever the body: against a real Alertmanager behind basic auth it shows exactly the
    same line. So the alerter keeps the correct 401 with Alertmanager's JSON-string error
    body (curl and Grafana show it) and logs every refused write with its reason."""
    alerter = lab.alerter(NOTIFY.format(url="http://127.0.0.1:9/"))
    (tmp_path / "am.yml").write_text("route: {receiver: x}\nreceivers: [{name: x}]\n")
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  ops: {BCRYPT_SECRET}\n")
    port = free_port()
    am = Proc(["prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
               f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
               "--cluster.listen-address=", f"--web.config.file={tmp_path / 'web.yml'}"],
              log=tmp_path / "alertmanager.log")
    try:
        am_url = f"http://127.0.0.1:{port}"
        def refused() -> tuple[int, str]:
            resp = requests.post(am_url + "/api/v2/silences", json={}, timeout=5)
            return resp.status_code, resp.text
        # Alertmanager's own 401 body is plain text, not a JSON string
        assert wait_for(refused, timeout=30, what="Alertmanager") == (401, "Unauthorized\n")
        ours = amtool(alerter.url)("silence", "add", "a=b", "--comment=x", auth=None)
        theirs = amtool(am_url)("silence", "add", "a=b", "--comment=x", auth=None)
        assert ours.returncode == theirs.returncode == 1
        assert amtool_error(ours) == amtool_error(theirs)
        assert "(status 401)" in amtool_error(ours)
        # what amtool cannot show, the body and the alerter's log do
        wrong = amtool(alerter.url)("silence", "add", "a=b", "--comment=x", auth="wrong")
        assert "(status 401)" in amtool_error(wrong)
        body = requests.post(alerter.url + "/api/v2/silences", json={}, timeout=5)
        assert (body.status_code, body.json()) == (401, "missing token (send it as a bearer "
                                                        "token or as the basic-auth password)")
        log = (alerter.workdir / "alerter.log").read_text()
        assert 'msg="write refused: no token" method=POST path=/api/v2/silences' in log
        assert 'msg="write refused: wrong token" method=POST path=/api/v2/silences' in log
    finally:
        am.stop()


ESCALATING = ROUTE + """\
  escalation:
    - {{after: 2s, receiver: oncall}}
    - {{after: 1h, receiver: manager}}
receivers:
  - name: hook
    webhook_configs: [{{url: {url}}}]
  - name: oncall
    webhook_configs: [{{url: {url}}}]
  - name: manager
    webhook_configs: [{{url: {url}}}]
"""


def test_api_v2_alerts_carry_the_escalation_and_amtool_still_parses_them(
        lab: Lab, amtool: Callable[[str], AmtoolRun]) -> None:
    """``status.escalation`` in /api/v2/alerts (and groups) is /api/v1's: the level
    reached, whom it went to, the next level; an ack stops it. amtool ignores the extra
    field: its JSON and its table read as before."""
    receiver = Receiver()
    try:
        atm = lab.exporter.add("Kharagauli-ATM", site="Kharagauli")
        lab.prometheus.wait_value("count(wardops_device_up == 1)", 1)
        alerter = lab.alerter(ESCALATING.format(url=receiver.url))
        run = amtool(alerter.url)
        lab.exporter.set_up(atm, False)
        receiver.wait(2)  # the first notification, then level 1 two seconds later

        def escalation() -> Any:
            [alert] = alerter.get("/api/v2/alerts")
            return alert["status"].get("escalation")
        wait_for(lambda: (escalation() or {}).get("level") == 1, timeout=20,
                 what="level 1 in /api/v2/alerts")
        esc = escalation()
        assert esc["escalatedTo"] == ["oncall"] and esc["nextReceiver"] == "manager"
        assert esc["levels"] == 2 and esc["stopped"] is None and esc["nextLevelAt"]
        [v1] = alerter.get("/api/v1/alerts")["data"]["alerts"]
        assert v1["status"]["escalation"] == esc
        [group] = alerter.get("/api/v2/alerts/groups")
        assert group["alerts"][0]["status"]["escalation"] == esc

        queried = amtool_json(run("-o", "json", "alert", "query", "alertname=DeviceDown"))
        assert [(a["labels"]["device"], a["status"]["state"]) for a in queried] == [
            ("Kharagauli-ATM", "active")]
        table = run("alert", "query")
        assert table.returncode == 0 and "Kharagauli-ATM" not in table.stderr
        assert "DeviceDown" in table.stdout, table.stdout

        fingerprint = v1["fingerprint"]
        acked = requests.post(f"{alerter.url}/api/v1/alerts/{fingerprint}/ack",
                              json={"createdBy": "noc", "comment": "on it"}, timeout=5,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert acked.status_code == 200, acked.text
        esc = escalation()
        assert esc["stopped"] == "acked" and esc["nextLevelAt"] is None
        assert amtool_json(run("-o", "json", "alert", "query"))[0]["status"]["state"] == "active"
    finally:
        receiver.down()
