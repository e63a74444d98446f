"""Forwarding to a real Alertmanager: two alerters give one notification; resolve arrives;
an Alertmanager that is down at first gets the alert once it is up (errors counted)."""

from __future__ import annotations

from pathlib import Path

from tests.amapi.conftest import Alertmanager, Lab, wait_metric
from tests.notify.receiver import Receiver
from tests.support import free_port, wait_for

FORWARD = """\
route:
  receiver: am
  group_wait: 0s
receivers:
  - name: am
    alertmanager_configs:
      - url: http://127.0.0.1:{port}
        resend_delay: 1s
        timeout: 2s
"""


def notifications(receiver: Receiver) -> list[tuple[str, list[str]]]:
    """(status, [device ...]) of every DeviceDown notification Alertmanager sent."""
    return [(body["status"], sorted(a["labels"]["device"] for a in body["alerts"]))
            for body in receiver.bodies() if body["groupLabels"].get("alertname") == "DeviceDown"]


def test_two_alerters_one_notification_then_resolved(lab: Lab, tmp_path: Path) -> None:
    hook = Receiver()
    am_port = free_port()
    am = Alertmanager(tmp_path / "am", hook.url, am_port)
    try:
        device = lab.exporter.add("Gori-SW1", site="Gori", dtype="switch")
        lab.prometheus.wait_value("count(wardops_device_up == 1)", 1)
        first = lab.alerter(FORWARD.format(port=am_port), name="alerter-a")
        second = lab.alerter(FORWARD.format(port=am_port), name="alerter-b")

        lab.exporter.set_up(device, False)
        # the Alertmanager is not running yet: posts fail, are counted and retried
        for alerter in (first, second):
            wait_metric(alerter, "wardops_alerter_forward_errors_total", 1,
                        reason="connection_refused")
        assert hook.requests == []
        am.start()

        firing = hook.wait(1, timeout=30)[0].json()
        assert firing["status"] == "firing"
        assert [(a["labels"]["device"], a["labels"]["severity"], a["annotations"]["summary"])
                for a in firing["alerts"]] == [("Gori-SW1", "critical",
                                                "Gori-SW1 at Gori is down")]
        assert "/graph?g0.expr=" in firing["alerts"][0]["generatorURL"]
        # both alerters keep re-sending (resend_delay 1s) and Alertmanager deduplicates
        for alerter in (first, second):
            sent = alerter.metric("wardops_alerter_forward_alerts_sent_total")
            wait_metric(alerter, "wardops_alerter_forward_alerts_sent_total", sent + 2)
        assert notifications(hook) == [("firing", ["Gori-SW1"])]
        in_am = am.alerts()
        assert [(a["labels"]["device"], a["status"]["state"]) for a in in_am
                if a["labels"]["alertname"] == "DeviceDown"] == [("Gori-SW1", "active")]

        lab.exporter.set_up(device, True)
        wait_for(lambda: ("resolved", ["Gori-SW1"]) in notifications(hook), timeout=30,
                 what="the resolved notification from Alertmanager")
        # resolved alerts keep being re-sent by both alerters; Alertmanager stays quiet
        for alerter in (first, second):
            sent = alerter.metric("wardops_alerter_forward_alerts_sent_total")
            wait_metric(alerter, "wardops_alerter_forward_alerts_sent_total", sent + 2)
        assert notifications(hook) == [("firing", ["Gori-SW1"]), ("resolved", ["Gori-SW1"])]
    finally:
        am.stop()
        hook.down()
