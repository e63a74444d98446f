"""amtool's ``config routes show`` and ``config routes test`` read the running config
from ``/api/v2/status``: the real amtool against the real Alertmanager and against the
alerter, both loaded with one routing YAML, must print the same tree and pick the same
receivers; the alerter's copy hides the webhook URLs' paths (their tokens)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml

from tests.support import Proc, free_port, wait_http

ROUTING = """\
route:
  receiver: chat
  group_by: [alertname, site]
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
      continue: true
      routes:
        - matchers: ['site=~"Batumi|Poti"', 'team="west"']
          receiver: west
    - matchers: ['alertname="Watchdog"']
      receiver: deadman
      group_by: ['...']
    - matchers: ['type="atm"']
      receiver: mail
      mute_time_intervals: [cash-in-transit]
      active_time_intervals: [office-hours]
time_intervals:
  - name: office-hours
    time_intervals:
      - times: [{start_time: '08:30', end_time: '18:00'}]
        weekdays: ['monday:friday', saturday]
        location: Asia/Tbilisi
  - name: cash-in-transit
    time_intervals:
      - {days_of_month: ['1:7', '-1'], months: ['january:march', december], years: ['2026']}
receivers:
  - name: mail
    email_configs:
      - to: 'NOC <noc@bank.example>'
        from: wardops@bank.example
        smarthost: mail.bank.example:587
        auth_username: wardops
        auth_password: sm7pPassw0rd
        headers: {Subject: '{{ .GroupLabels.site }} down'}
        send_resolved: true
  - name: chat
    webhook_configs: [{url: "https://hooks.slack.com/services/T000/B000/s3cretT0ken"}]
  - name: oncall
    webhook_configs: [{url: "http://127.0.0.1:9/oncall?token=s3cret"}]
  - name: west
    webhook_configs: [{url: "http://127.0.0.1:9/west"}]
  - name: deadman
    webhook_configs: [{url: "http://127.0.0.1:9/deadman"}]
"""

CASES = [(), ("severity=critical",), ("severity=critical", "site=Batumi", "team=west"),
         ("alertname=Watchdog",), ("severity=critical", "alertname=Watchdog"), ("type=atm",)]
#: wardops's own route key (Alertmanager refuses it): added to the alerter's copy only
ESCALATION = [{"after": "15m", "receiver": "oncall"}, {"after": "1h30m", "receiver": "mail"}]


def amtool(url: str, *args: str) -> str:
    result = subprocess.run(["amtool", f"--alertmanager.url={url}", *args],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    # amtool warns that the versions differ: the alerter is not Alertmanager 0.25
    return "\n".join(line for line in result.stdout.splitlines() if line.strip())


@pytest.fixture
def both(netns: None, tmp_path: Path) -> Callable[[], tuple[str, str]]:
    procs: list[Proc] = []

    def start() -> tuple[str, str]:
        (tmp_path / "am.yml").write_text(ROUTING)
        am_port, alerter_port = free_port(), free_port()
        procs.append(Proc(["prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
                           f"--storage.path={tmp_path / 'am'}",
                           f"--web.listen-address=127.0.0.1:{am_port}",
                           "--cluster.listen-address="], log=tmp_path / "am.log"))
        routing = yaml.safe_load(ROUTING)
        routing["route"]["routes"][0]["escalation"] = ESCALATION
        config = routing | {
            "prometheus": {"url": f"http://127.0.0.1:{free_port()}", "timeout": "1s"},
            "rule_files": [], "state_dir": str(tmp_path / "state"),
            "data_health": {"targets": "", "probe_timestamp": ""}}
        (tmp_path / "alerter.yml").write_text(yaml.safe_dump(config))
        procs.append(Proc.python("alerter", "--config", str(tmp_path / "alerter.yml"),
                                 "--web.listen-address", f"127.0.0.1:{alerter_port}",
                                 log=tmp_path / "alerter.log"))
        urls = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{alerter_port}"
        for url in urls:
            wait_http(url + "/-/ready", timeout=30)
        return urls

    yield start
    for proc in procs:
        proc.stop()


def test_amtool_config_routes_agree_with_alertmanager(both: Callable[[], tuple[str, str]]
                                                      ) -> None:
    alertmanager, alerter = both()
    shown = amtool(alertmanager, "config", "routes", "show")
    assert "default-route" in shown and "west" in shown
    assert amtool(alerter, "config", "routes", "show") == shown
    for labels in CASES:
        expected = amtool(alertmanager, "config", "routes", "test", *labels)
        assert amtool(alerter, "config", "routes", "test", *labels) == expected, labels
    original = requests.get(alerter + "/api/v2/status", timeout=5).json()["config"]["original"]
    assert "s3cret" not in original and "T000" not in original
    assert "https://hooks.slack.com/%3Csecret%3E" in original
    # time intervals, e-mail receivers and escalation are shown; secrets as Alertmanager
    theirs = yaml.safe_load(requests.get(alertmanager + "/api/v2/status",
                                         timeout=5).json()["config"]["original"])
    ours = yaml.safe_load(original)
    assert ours["time_intervals"] == theirs["time_intervals"]
    for key in ("matchers", "mute_time_intervals", "active_time_intervals"):
        assert ours["route"]["routes"][-1][key] == theirs["route"]["routes"][-1][key], key
    mail = next(r for r in ours["receivers"] if r["name"] == "mail")["email_configs"][0]
    am_mail = next(r for r in theirs["receivers"] if r["name"] == "mail")["email_configs"][0]
    assert "sm7pPassw0rd" not in original and am_mail["auth_password"] == "<secret>"
    for key in ("to", "from", "smarthost", "auth_username", "auth_password", "headers",
                "send_resolved", "require_tls", "hello"):
        assert mail[key] == am_mail[key], key
    assert ("    # wardops escalation: [{after: 15m, receiver: oncall}, "
            "{after: 1h30m, receiver: mail}]\n") in original
