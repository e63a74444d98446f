"""Each webhook format's body as a real receiver gets it, and HMAC signing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.model import Alert
from tests.notify.conftest import PipelineFactory, firing, resolved
from tests.notify.receiver import Receiver
from tests.support import fuzz_examples


def all_formats(base: str) -> dict[str, Any]:
    return {
        "route": {"receiver": "all", "group_by": ["alertname", "site"], "group_wait": "0s",
                  "group_interval": "0.5s"},
        "receivers": [{"name": "all", "webhook_configs": [
            {"url": f"{base}/am", "hmac_secret_env": "WARDOPS_TEST_HMAC"},
            {"url": f"{base}/slack", "format": "slack"},
            {"url": f"{base}/teams", "format": "teams"},
            {"format": "telegram", "bot_token_env": "WARDOPS_TEST_TG_TOKEN", "chat_id": -100123,
             "api_url": f"{base}/tg"},
            {"url": f"{base}/tickets", "format": "template",
             "headers": {"X-Ticket-Priority": "{{ 'P1' if commonLabels.severity == 'critical' "
                                              "else 'P3' }}"},
             "body": '{"title": {{ (commonLabels.alertname ~ " at " ~ groupLabels.site) | tojson }},'
                     ' "devices": {{ alerts | map(attribute="labels.device") | list | tojson }},'
                     ' "state": "{{ status }}", "link": "{{ externalURL }}"}'},
        ]}],
    }


@pytest.fixture
def sent(receiver: Receiver, pipeline_factory: PipelineFactory,
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One firing notification of two ATMs at Kharagauli, through all five formats."""
    monkeypatch.setenv("WARDOPS_TEST_HMAC", "hmac-key")
    monkeypatch.setenv("WARDOPS_TEST_TG_TOKEN", "123456:ABC-def")
    base = receiver.url.removesuffix("/hook")
    p = pipeline_factory(all_formats(base))
    alerts = [Alert(labels={"alertname": "DeviceDown", "site": "Kharagauli", "severity": "critical",
                            "device": f"Kharagauli-ATM{i}"},
                    annotations={"summary": f"Kharagauli-ATM{i} <b>&</b> is DOWN"},
                    state="firing", starts_at=1_795_000_000.25, generator_url="http://prom/graph")
              for i in (1, 2)]
    p.process(alerts)
    receiver.wait(5)
    by_path = {r.path: r for r in receiver.requests}
    return {"by_path": by_path, "pipeline": p, "alerts": alerts}


def test_alertmanager_payload_is_version_4(sent: dict[str, Any]) -> None:
    body = sent["by_path"]["/am"].json()
    assert body["version"] == "4" and body["receiver"] == "all" and body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "DeviceDown", "site": "Kharagauli"}
    assert body["commonLabels"] == {"alertname": "DeviceDown", "site": "Kharagauli",
                                    "severity": "critical"}
    assert body["commonAnnotations"] == {}
    assert body["externalURL"] == "http://alerter.test:9470"
    assert body["groupKey"] == '{}:{alertname="DeviceDown", site="Kharagauli"}'
    assert body["truncatedAlerts"] == 0
    first = body["alerts"][0]
    assert first == {
        "status": "firing",
        "labels": sent["alerts"][0].labels,
        "annotations": {"summary": "Kharagauli-ATM1 <b>&</b> is DOWN"},
        "startsAt": "2026-11-18T11:06:40.25Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prom/graph",
        "fingerprint": sent["alerts"][0].fingerprint,
    }


def test_hmac_signature_verifies(sent: dict[str, Any]) -> None:
    req = sent["by_path"]["/am"]
    expected = "sha256=" + hmac.new(b"hmac-key", req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Wardops-Signature"] == expected
    assert abs(int(req.headers["X-Wardops-Timestamp"]) - time.time()) < 30
    assert len(req.headers["Idempotency-Key"]) == 32
    assert "X-Wardops-Signature" not in sent["by_path"]["/slack"].headers  # no secret there


def test_slack_body(sent: dict[str, Any]) -> None:
    req = sent["by_path"]["/slack"]
    body = req.json()
    assert body["text"] == "[FIRING:2] DeviceDown site=Kharagauli"
    att = body["attachments"][0]
    assert att["color"] == "danger" and att["title_link"] == "http://alerter.test:9470"
    assert att["text"].splitlines() == [
        "FIRING: Kharagauli-ATM1 &lt;b&gt;&amp;&lt;/b&gt; is DOWN",
        "FIRING: Kharagauli-ATM2 &lt;b&gt;&amp;&lt;/b&gt; is DOWN"]


def test_teams_body_is_adaptive_card(sent: dict[str, Any]) -> None:
    body = sent["by_path"]["/teams"].json()
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = [b.get("text") for b in card["body"] if b["type"] == "TextBlock"]
    assert texts[0] == "[FIRING:2] DeviceDown site=Kharagauli"
    assert "FIRING: Kharagauli-ATM2 <b>&</b> is DOWN" in texts
    assert card["actions"][0]["url"] == "http://alerter.test:9470"


def test_telegram_send_message(sent: dict[str, Any]) -> None:
    req = sent["by_path"]["/tg/bot123456:ABC-def/sendMessage"]
    body = req.json()
    assert body["chat_id"] == -100123 and body["parse_mode"] == "HTML"
    assert body["text"].splitlines() == [
        "🔥 <b>[FIRING:2] DeviceDown site=Kharagauli</b>",
        "FIRING: Kharagauli-ATM1 &lt;b&gt;&amp;&lt;/b&gt; is DOWN",
        "FIRING: Kharagauli-ATM2 &lt;b&gt;&amp;&lt;/b&gt; is DOWN"]


def test_template_body_and_headers(sent: dict[str, Any]) -> None:
    req = sent["by_path"]["/tickets"]
    assert req.headers["X-Ticket-Priority"] == "P1"
    assert req.headers["Content-Type"] == "application/json"
    assert req.json() == {"title": "DeviceDown at Kharagauli",
                          "devices": ["Kharagauli-ATM1", "Kharagauli-ATM2"],
                          "state": "firing", "link": "http://alerter.test:9470"}


def test_resolved_formats(receiver: Receiver, pipeline_factory: PipelineFactory,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDOPS_TEST_HMAC", "k")
    monkeypatch.setenv("WARDOPS_TEST_TG_TOKEN", "1:x")
    p = pipeline_factory(all_formats(receiver.url.removesuffix("/hook")))
    a = firing(site="Batumi", device="Batumi-SW", severity="warning")
    p.process([a])
    receiver.wait(5)
    p.process([resolved(a)])
    receiver.wait(10)
    last = {r.path: r.json() for r in receiver.requests[5:]}
    assert last["/am"]["status"] == "resolved"
    assert last["/slack"]["attachments"][0]["color"] == "good"
    assert last["/slack"]["text"] == "[RESOLVED] DeviceDown site=Batumi"
    assert last["/teams"]["attachments"][0]["content"]["body"][0]["color"] == "Good"
    assert last["/tg/bot1:x/sendMessage"]["text"].startswith("✅ <b>[RESOLVED]")
    assert last["/tickets"]["state"] == "resolved"
    # each alert's line says RESOLVED too: a resolved DeviceDown's summary still reads
    # "... is DOWN since ...", so the chat text must not leave the status to the colour
    assert last["/slack"]["attachments"][0]["text"].startswith("RESOLVED: ")
    assert [b["text"] for b in last["/teams"]["attachments"][0]["content"]["body"][1:]
            if b.get("text", "").startswith("RESOLVED: ")]
    assert "\nRESOLVED: " in last["/tg/bot1:x/sendMessage"]["text"]


def test_failing_template_becomes_dead_letter(receiver: Receiver,
                                              pipeline_factory: PipelineFactory) -> None:
    p = pipeline_factory({
        "route": {"receiver": "t", "group_wait": "0s"},
        "receivers": [{"name": "t", "webhook_configs": [
            {"url": receiver.url, "format": "template", "body": "{{ commonLabels.ticket_queue }}"},
        ]}]})
    p.process([firing(site="A", device="a1")])
    letters = wait_dead(p)
    assert letters[0]["lastError"].startswith("render: 'dict object' has no attribute 'ticket_queue'")
    assert '"alertname": "DeviceDown"' in letters[0]["body"]  # the facts are kept
    assert receiver.attempts == []
    assert p.registry.get_sample_value("wardops_alerter_notify_errors_total",
                                       {"reason": "render"}) == 1


def test_a_template_failing_outside_jinja_is_a_dead_letter_and_others_still_deliver(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    """ZeroDivisionError (not a Jinja2 error) used to escape as a flush error: nothing
    delivered, no dead letter. Now it is a counted dead letter with the reason, and the
    receiver's other integration and the failed-notification count are unaffected."""
    p = pipeline_factory({
        "route": {"receiver": "t", "group_wait": "0s"},
        "receivers": [{"name": "t", "webhook_configs": [
            {"url": receiver.url + "/ticket", "format": "template",
             "body": "{{ 10 / (alerts | length - 1) }}"},  # fine for 2 alerts, not for 1
            {"url": receiver.url + "/am"},
        ]}]})
    p.process([firing(site="A", device="a1")])
    letters = wait_dead(p)
    assert letters[0]["lastError"].startswith("render: division by zero")
    from tests.support import wait_for
    wait_for(lambda: [r for r in receiver.requests if r.path.endswith("/am")], timeout=10,
             what=f"the other integration's delivery (got {receiver.requests})")
    assert p.registry.get_sample_value("wardops_alerter_notifications_total",
                                       {"receiver": "t", "result": "failed"}) == 1


def test_a_header_rendering_control_characters_is_sent_with_spaces(
        receiver: Receiver, pipeline_factory: PipelineFactory) -> None:
    """A label value with CR/LF (from any source Prometheus scrapes) in a header template
    used to make the HTTP client refuse the request; it is delivered, the line breaks
    turned into spaces (no header can be forged)."""
    p = pipeline_factory({
        "route": {"receiver": "t", "group_wait": "0s"},
        "receivers": [{"name": "t", "webhook_configs": [
            {"url": receiver.url, "format": "template", "body": "{{ status }}",
             "headers": {"X-Device": "{{ commonLabels.device }}"}}]}]})
    p.process([firing(site="A", device="a1\r\nX-Forged: yes")])
    from tests.support import wait_for
    [req] = wait_for(lambda: receiver.requests, timeout=10, what="the delivery")
    assert req.headers["X-Device"] == "a1  X-Forged: yes"
    assert "X-Forged" not in req.headers


def wait_dead(p: Any, count: int = 1) -> list[dict[str, Any]]:
    from tests.support import wait_for
    return wait_for(lambda: (d := p.dead_letters()) and len(d) >= count and d,
                    timeout=10, what="dead letters")


def test_template_files_can_be_included(receiver: Receiver, pipeline_factory: PipelineFactory,
                                        tmp_path: Any) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "jira.j2").write_text(
        '{"fields": {"project": {"key": "NET"}, "summary": {{ summary | tojson }}}}')
    p = pipeline_factory({
        "route": {"receiver": "jira", "group_by": ["site"], "group_wait": "0s"},
        "templates": ["templates/*.j2"],
        "receivers": [{"name": "jira", "webhook_configs": [{
            "url": receiver.url, "format": "template",
            "body": '{% set summary = status | upper ~ ": " ~ alerts | length ~ " down at " '
                    '~ groupLabels.site %}{% include "jira.j2" %}'}]}]})
    p.process([firing(site="Gori", device=f"g{i}") for i in range(3)])
    assert receiver.wait(1)[0].json() == {"fields": {"project": {"key": "NET"},
                                                     "summary": "FIRING: 3 down at Gori"}}


@pytest.mark.parametrize("body,error", [
    ("{{ 1 / 0 }}", "fails on a sample alert: ZeroDivisionError"),
    ("{{ alerts | map(attribute='labels') | sum }}", "fails on a sample alert: TypeError"),
    ("{% include 'missing.tmpl' %}", "fails on a sample alert: TemplateNotFound"),
    ("{{ commonLabels.ticket_queue | default('noc') }} {{ status }}", None),
    ("{{ commonLabels.ticket_queue }}", None),  # a label only real alerts carry: not refused
])
def test_templates_are_rendered_on_a_sample_alert_when_the_config_loads(
        body: str, error: str | None) -> None:
    from alerter.notify.config import parse_notify_config
    raw = {"route": {"receiver": "t"}, "receivers": [{"name": "t", "webhook_configs": [
        {"url": "http://127.0.0.1:9/t", "format": "template", "body": body}]}]}
    if error is None:
        parse_notify_config(raw)
        return
    with pytest.raises(ValueError, match="receivers\\[0\\].webhook_configs\\[0\\].body: ") as info:
        parse_notify_config(raw)
    assert error in str(info.value)


_values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=fuzz_examples(200), deadline=None)
@given(site=_values, device=_values, summary=_values,
       fmt=st.sampled_from(["alertmanager", "slack", "teams", "telegram"]))
def test_any_label_value_renders_to_valid_json_in_every_format(
        site: str, device: str, summary: str, fmt: str) -> None:
    """Label and annotation values (quotes, backslashes, <, &, any script, control
    characters) give a body that is valid JSON, carries the value, and for Telegram's HTML
    mode has no markup from the value (Telegram rejects a message with a stray tag)."""
    from html.parser import HTMLParser

    from alerter.model import Alert
    from alerter.notify.config import WebhookConfig
    from alerter.notify.formats import renderers
    from alerter.notify.formats.alertmanager import build_payload

    alert = Alert(labels={"alertname": "DeviceDown", "site": site, "device": device},
                  annotations={"summary": summary}, state="firing", starts_at=1.767e9)
    data = build_payload(receiver="r", group_key="{}:{}", group_labels={"site": site},
                         alerts=[alert], external_url="http://alerter.test", sequence=1)
    hook = WebhookConfig(format=fmt, chat_id="-100")
    rendered = renderers()[fmt](data, hook, {})
    body = json.loads(rendered.body)
    for name, value in rendered.headers.items():
        assert "\r" not in value and "\n" not in value, (name, value)
    if fmt == "alertmanager":
        assert body["alerts"][0]["labels"]["device"] == device
    if fmt == "telegram":
        tags: list[str] = []

        class Tags(HTMLParser):
            def handle_starttag(self, tag: str, attrs: object) -> None:
                tags.append(tag)

        Tags().feed(body["text"])
        assert set(tags) <= {"b", "i", "a", "code", "pre"}, (tags, body["text"])


def test_truncation_keeps_firing_alerts_and_shows_alertmanagers_order() -> None:
    """max_alerts keeps firing alerts before resolved ones (Alertmanager would cut in
    its label order and keep the resolved a0); what is sent is in Alertmanager's order
    (job, instance, labels), and the common labels are those of the alerts sent."""
    from alerter.notify.formats.alertmanager import build_payload
    a0 = resolved(firing(site="A", device="a0"))
    a1, a2 = firing(site="A", device="a1"), firing(site="A", device="a2")
    body = build_payload(receiver="r", group_key="{}:{}", group_labels={"site": "A"},
                         alerts=[a2, a0, a1], external_url="http://x", max_alerts=2)
    assert [a["labels"]["device"] for a in body["alerts"]] == ["a1", "a2"]
    assert body["truncatedAlerts"] == 1 and body["status"] == "firing"
    whole = build_payload(receiver="r", group_key="{}:{}", group_labels={"site": "A"},
                          alerts=[a2, a0, a1], external_url="http://x")
    assert [a["labels"]["device"] for a in whole["alerts"]] == ["a0", "a1", "a2"]
    one = build_payload(receiver="r", group_key="{}:{}", group_labels={"site": "A"},
                        alerts=[a2, a1], external_url="http://x", max_alerts=1)
    assert one["commonLabels"]["device"] == "a1"
