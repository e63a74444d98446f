"""E-mail templates with Alertmanager's data and functions: the same ``html``/``text``/
``headers`` templates and alerts through the real Alertmanager 0.25 (Debian's) to a real
SMTP sink, and through wardops's renderer; the mails must say the same."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from alerter.model import Alert
from alerter.notify.config import parse_notify_config
from alerter.notify.email import amdata
from alerter.notify.email.message import RenderError, build_message
from alerter.notify.formats.alertmanager import build_payload
from tests.notify.conftest import EXTERNAL_URL
from tests.notify.smtpserver import Mail, SmtpServer

TEXT = """\
{{ .Status | toUpper }} {{ .Alerts.Firing | len }}/{{ len .Alerts }} to {{ .Receiver }} \
{{ .GroupLabels }} {{ .ExternalURL }}
{{ range .Alerts }}- {{ .Labels.alertname }} {{ .Labels.device }} since {{ .StartsAt }} \
until {{ .EndsAt }} ({{ .Fingerprint }}) {{ .Status }}
{{ range .Labels.SortedPairs }}  {{ .Name }}={{ .Value }}
{{ end }}  {{ .Annotations.summary }} {{ .GeneratorURL }} {{ .StartsAt.Format "Jan 2 15:04:05" }}
{{ end }}common: {{ .CommonLabels.Remove .GroupLabels.Names }} | \
{{ .CommonLabels.Names | join "," }} | {{ .CommonAnnotations.SortedPairs.Values | join ";" }}
{{ title "bank BRANCH down" }} {{ reReplaceAll "-(SW|ATM)$" " [$1]" "Batumi-SW" }} \
{{ match "^Bat" .GroupLabels.site }} {{ stringSlice "x" "y" | join "+" }} \
{{ toLower "ABC" }} {{ .CommonLabels }} {{ .Alerts.Resolved | len }}
{{ with index .Alerts 0 }}{{ .Labels.missing }}|{{ .Annotations.runbook }}{{ end }}
"""
HTML = """\
<h1>{{ .CommonLabels.alertname }} at {{ .GroupLabels.site }}</h1>
{{ range .Alerts.Firing }}<p title="{{ .Annotations.summary }}">{{ .Labels.device }}: \
{{ .Annotations.summary }}</p>
{{ end }}{{ safeHtml "<hr>" }}<a href="{{ .ExternalURL }}">{{ len .Alerts }} alert(s)</a>
"""
SUBJECT = "[{{ .Status | toUpper }}:{{ .Alerts.Firing | len }}] {{ .GroupLabels.site }} " \
          "{{ .CommonLabels.severity }}"


def recent() -> float:
    """A start a moment ago, on a half second: Alertmanager flushes a group at once,
    whatever group_wait says, when an alert joins it that started longer than group_wait
    ago, and the two alerts must be in one mail."""
    return float(int(time.time()) - 2) + 0.5


def alerts(starts: float) -> list[Alert]:
    def one(device: str, summary: str, offset: float) -> Alert:
        return Alert({"alertname": "DeviceDown", "site": "Batumi", "severity": "critical",
                      "device": device}, {"summary": summary, "team": "noc"}, "firing",
                     starts + offset, generator_url="http://prometheus.test/graph?g0.expr=up")
    return [one("Batumi-SW", 'switch <b>down</b> & "dark" + \'out\'', 0.0),
            one("Batumi-ATM", "ATM unreachable", -1.25)]


@pytest.fixture
def sink() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.down()


def email_config(sink: SmtpServer) -> dict[str, Any]:
    return {"to": "noc@bank.example", "from": "am@bank.example", "smarthost": sink.smarthost,
            "require_tls": False, "html": HTML, "text": TEXT, "headers": {"Subject": SUBJECT}}


def through_alertmanager(alertmanager: Callable[[str], str], sink: SmtpServer,
                         starts: float) -> Mail:
    import yaml
    config = {"route": {"receiver": "mail", "group_by": ["site"], "group_wait": "5s"},
              "receivers": [{"name": "mail", "email_configs": [email_config(sink)]}]}
    base = alertmanager(yaml.safe_dump(config))
    body = [{"labels": a.labels, "annotations": a.annotations, "generatorURL": a.generator_url,
             "startsAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(a.starts_at)))
             + f"{a.starts_at % 1:.6f}"[1:].rstrip("0") + "Z"}
            for a in alerts(starts)]
    requests.post(base + "/api/v2/alerts", json=body, timeout=5).raise_for_status()
    return sink.wait(1, timeout=30)[0]


def through_wardops(sink: SmtpServer, starts: float) -> bytes:
    cfg = parse_notify_config({"route": {"receiver": "mail", "group_by": ["site"]},
                               "receivers": [{"name": "mail",
                                              "email_configs": [email_config(sink)]}]})
    hook = cfg.receivers["mail"].email_configs[0]
    data = build_payload(receiver="mail", group_key="{}:{site=\"Batumi\"}",
                         group_labels={"site": "Batumi"}, alerts=alerts(starts),
                         external_url=EXTERNAL_URL)
    return build_message(data, hook, message_id="x", now=starts + 100)


def test_templates_render_as_alertmanager_renders_them(
        alertmanager: Callable[[str], str], sink: SmtpServer) -> None:
    starts = recent()
    am = through_alertmanager(alertmanager, sink, starts)
    ours = Mail("", [], through_wardops(sink, starts), False, "")
    for part in ("plain", "html"):
        expected = am.part(part).replace("\r\n", "\n")
        assert ours.part(part).replace("\r\n", "\n") == expected, part
    assert str(ours.message["Subject"]) == str(am.message["Subject"])
    # what the comparison covers, so it cannot pass on two empty mails
    text = ours.part("plain")
    assert "FIRING 2/2 to mail" in text and "Bank Branch Down Batumi [SW] true x+y abc" in text
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(starts)))
    assert f"since {since}.5 +0000 UTC until 0001-01-01 00:00:00 +0000 UTC" in text
    assert "&lt;b&gt;down&lt;/b&gt; &amp; &#34;dark&#34; &#43; &#39;out&#39;" in ours.part("html")
    assert "<hr>" in ours.part("html")


def test_a_template_failing_on_a_group_is_a_render_error() -> None:
    payload = amdata.sample_payload({"alertname": "A"}, "http://x")
    with pytest.raises(amdata.ExecError, match="can't evaluate field Nope"):
        amdata.render("{{ .Alerts.Nope }}", payload)
    cfg = parse_notify_config({"route": {"receiver": "mail"}, "receivers": [{
        "name": "mail", "email_configs": [{"to": "a@b.example", "from": "c@d.example",
                                           "smarthost": "127.0.0.1:25",
                                           "text": '{{ if eq .GroupLabels.site "Batumi" }}'
                                                   '{{ index .Alerts 5 }}{{ end }}'}]}]})
    data = build_payload(receiver="mail", group_key="{}", group_labels={"site": "Batumi"},
                         alerts=alerts(recent()), external_url="")
    with pytest.raises(RenderError, match=r"text: template: :1:41: executing \"\" at "
                                          r"<index .Alerts 5>: error calling index: index out "
                                          "of range: 5"):
        build_message(data, cfg.receivers["mail"].email_configs[0], message_id="x", now=0)


def test_legacy_variables_and_newer_functions_work() -> None:
    """wardops's earlier e-mail variables, and trimSpace (Alertmanager 0.26+; 0.25 has
    none, so it is not in the differential test)."""
    payload = amdata.sample_payload({"alertname": "A", "site": "Gori"}, "http://x")
    assert amdata.render('{{ trimSpace "  t  " }}', payload) == "t"
    assert amdata.render("{{ $labels.site }} {{ $value }} {{ $externalURL }} {{ .Labels.site }}",
                         payload) == "Gori 1 http://x Gori"
