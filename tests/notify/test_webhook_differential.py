"""Differential: the same routing config (one YAML text) and the same alerts go to the
real Alertmanager and to wardops's notification pipeline, each notifying a real HTTP
receiver on loopback; the webhook payloads are compared field by field.

What wardops adds on purpose is listed in ``EXTRA_FIELDS`` (docs/alertmanager.md); any
other difference fails the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
import yaml

from alerter.model import Alert
from alerter.notify.formats.alertmanager import rfc3339
from tests.notify.conftest import EXTERNAL_URL, PipelineFactory
from tests.notify.receiver import Receiver
from tests.support import wait_for

#: payload fields wardops sends and Alertmanager does not (ordering, docs/notifications.md)
EXTRA_FIELDS = {"sequence"}

CONFIG = """\
route:
  receiver: all
  group_by: [alertname, site]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['site="Batumi"']
      receiver: batumi
      group_by: [site, severity]
      continue: true
    - matchers: ['site="Batumi"']
      receiver: all
    - matchers: ['site=~"Poti|Gori"', 'severity="critical"']
      receiver: truncated
receivers:
  - name: all
    webhook_configs:
      - url: {url}/all
  - name: batumi
    webhook_configs:
      - url: {url}/batumi
        send_resolved: true
  - name: truncated
    webhook_configs:
      - url: {url}/truncated
        max_alerts: 1
"""

def _alerts() -> list[Alert]:
    """The alerts, started now: Alertmanager flushes a new group at once, instead of
    after group_wait, when its first alert started more than group_wait ago
    (dispatch.go, ``hasFlushed``), and then a group's second alert, inserted a moment
    later from the same POST, made the first notification in some runs and not in others
    (one CI run in about thirty)."""
    starts = time.time()

    def alert(name: str, site: str, device: str, severity: str, **annotations: str) -> Alert:
        return Alert(labels={"alertname": name, "site": site, "device": device,
                             "severity": severity, "job": "wardops-exporter"},
                     annotations={"summary": f"{device} is down", **annotations},
                     state="firing", starts_at=starts,
                     generator_url="http://prometheus.bank.test/graph?g0.expr=up")
    return [
        alert("DeviceDown", "Batumi", "Batumi-R1", "critical", runbook="r"),
        alert("DeviceDown", "Batumi", "Batumi-ATM", "critical", runbook="r"),
        alert("DeviceDown", "Batumi", "Batumi-SW", "warning"),
        alert("DeviceDown", "Poti", "Poti-R1", "critical", runbook="r"),
        alert("DeviceDown", "Poti", "Poti-ATM", "critical", runbook="r"),
        alert("DeviceDown", "Gori", "Gori-R1", "critical"),
        alert("HighLatency", "Gori", "Gori-SW", "warning"),
        alert("HighLatency", "სამტრედია", "სამტრედია-R1", "warning", note='a "quoted"\nline'),
        alert("HighLatency", 'Zugdidi\t"port"\\2', "Zugdidi-R1", "warning"),
    ]


def _by_group(receiver: Receiver) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest payload a receiver got per (path, groupLabels)."""
    out = {}
    for request in receiver.requests:
        body = request.json()
        out[(request.path, yaml.safe_dump(body["groupLabels"]))] = body
    return out


def test_webhook_payloads_equal_alertmanagers(
        alertmanager: Callable[[str], str], receivers: Callable[[], Receiver],
        pipeline_factory: PipelineFactory) -> None:
    theirs, ours = receivers(), receivers()
    # batumi: {Batumi, critical} and {Batumi, warning}; all: Batumi's DeviceDown (second
    # child route) and HighLatency in Gori, სამტრედია and Zugdidi (root); truncated:
    # DeviceDown in Poti (2 alerts, 1 sent) and in Gori
    groups = 8

    base = alertmanager(CONFIG.format(url=theirs.url))
    alerts = _alerts()  # after Alertmanager is up: within group_wait of their start
    resp = requests.post(base + "/api/v2/alerts", timeout=5, json=[{
        "labels": a.labels, "annotations": a.annotations, "startsAt": rfc3339(a.starts_at),
        "generatorURL": a.generator_url} for a in alerts])
    assert resp.status_code == 200, resp.text

    pipeline = pipeline_factory(yaml.safe_load(CONFIG.format(url=ours.url)))
    pipeline.external_url = EXTERNAL_URL
    pipeline.process(alerts)

    _compare(theirs, ours, groups)

    # Two Batumi alerts resolve: a group left with one firing and one resolved alert,
    # a group wholly resolved, and the second route's group of all three.
    ends = time.time() - 1
    gone = {"Batumi-ATM", "Batumi-SW"}
    resp = requests.post(base + "/api/v2/alerts", timeout=5, json=[{
        "labels": a.labels, "annotations": a.annotations, "startsAt": rfc3339(a.starts_at),
        "endsAt": rfc3339(ends), "generatorURL": a.generator_url}
        for a in alerts if a.labels["device"] in gone])
    assert resp.status_code == 200, resp.text
    pipeline.process([Alert(labels=a.labels, annotations=a.annotations, state="resolved",
                            starts_at=a.starts_at, ends_at=ends,
                            generator_url=a.generator_url)
                      if a.labels["device"] in gone else a for a in alerts])
    _compare(theirs, ours, groups + 3)


def _compare(theirs: Receiver, ours: Receiver, count: int) -> None:
    wait_for(lambda: len(theirs.requests) >= count, timeout=30,
             what=f"Alertmanager's {count} notifications (got {len(theirs.requests)})")
    wait_for(lambda: len(ours.requests) >= len(theirs.requests), timeout=30,
             what="wardops's notifications")
    time.sleep(1.0)  # nothing more arrives on either side
    assert len(ours.requests) == len(theirs.requests) == count
    expected, got = _by_group(theirs), _by_group(ours)
    assert sorted(got) == sorted(expected)
    for group, body in expected.items():
        mine = got[group]
        assert set(mine) - set(body) == EXTRA_FIELDS, group
        for field in body:
            assert mine[field] == body[field], (group, field)
