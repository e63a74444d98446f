"""E-mail templates with Alertmanager's data and functions: the same ``html``/``text``/
``headers`` templates and alerts through the real Alertmanager 0.25 (Debian's) to a real
SMTP sink, and through wardops's renderer; the mails must say the same."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.model import Alert
from alerter.notify.config import parse_notify_config
from alerter.notify.email import amdata
from alerter.notify.email.config import check_template
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


def email_config(sink: SmtpServer, html: str = HTML, text: str = TEXT,
                 subject: str = SUBJECT) -> dict[str, Any]:
    return {"to": "noc@bank.example", "from": "am@bank.example", "smarthost": sink.smarthost,
            "require_tls": False, "html": html, "text": text, "headers": {"Subject": subject}}


def through_alertmanager(alertmanager: Callable[[str], str], sink: SmtpServer,
                         starts: float, email: dict[str, Any] | None = None) -> Mail:
    import yaml
    config = {"route": {"receiver": "mail", "group_by": ["site"], "group_wait": "5s"},
              "receivers": [{"name": "mail",
                             "email_configs": [email or email_config(sink)]}]}
    base = alertmanager(yaml.safe_dump(config))
    body = [{"labels": a.labels, "annotations": a.annotations, "generatorURL": a.generator_url,
             "startsAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(a.starts_at)))
             + f"{a.starts_at % 1:.6f}"[1:].rstrip("0") + "Z"}
            for a in alerts(starts)]
    requests.post(base + "/api/v2/alerts", json=body, timeout=5).raise_for_status()
    return sink.wait(1, timeout=30)[0]


def through_wardops(sink: SmtpServer, starts: float,
                    email: dict[str, Any] | None = None) -> bytes:
    cfg = parse_notify_config({"route": {"receiver": "mail", "group_by": ["site"]},
                               "receivers": [{"name": "mail",
                                              "email_configs": [email or email_config(sink)]}]})
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


#: Alertmanager's named templates, as a config carried over from an alertmanager.yml calls
#: them (the html and subject are Alertmanager's defaults for e-mail)
NAMED_HTML = '{{ template "email.default.html" . }}'
NAMED_TEXT = """{{ template "__subject" . }}
{{ template "slack.default.fallback" . }}
{{ template "slack.default.text" . }}|{{ template "__description" . }}|
{{ template "opsgenie.default.description" . }}
{{ template "pagerduty.default.instances" .Alerts }}
{{ template "telegram.default.message" . }}
{{ template "wechat.default.message" . }}
"""
NAMED_SUBJECT = '{{ template "email.default.subject" . }}'


@pytest.mark.skipif(not amdata.discovered().trees,
                    reason="Alertmanager's default.tmpl/email.tmpl are not installed "
                           "(Debian's prometheus-alertmanager; scripts/bootstrap installs it)")
def test_alertmanagers_named_templates_mail_as_alertmanager_mails_them(
        alertmanager: Callable[[str], str], sink: SmtpServer) -> None:
    """email.default.html, email.default.subject, __subject, slack.default.*,
    opsgenie/pagerduty/telegram/wechat defaults: read from Alertmanager's own files (the
    ones Debian's Alertmanager reads), the same mail from both."""
    starts = recent()
    email = email_config(sink, NAMED_HTML, NAMED_TEXT, NAMED_SUBJECT)
    am = through_alertmanager(alertmanager, sink, starts, email)
    ours = Mail("", [], through_wardops(sink, starts, email), False, "")
    for part in ("plain", "html"):
        expected = am.part(part).replace("\r\n", "\n")
        assert ours.part(part).replace("\r\n", "\n") == expected, part
    assert str(ours.message["Subject"]) == str(am.message["Subject"])
    # what the comparison covers, so it cannot pass on two empty mails
    assert str(ours.message["Subject"]) == "[FIRING:2] Batumi (DeviceDown critical)"
    text = ours.part("plain")
    assert f"| {EXTERNAL_URL}/#/alerts?receiver=mail" in text
    assert " - device = Batumi-ATM" in text and "Source: http://prometheus.test/graph" in text
    html = ours.part("html")
    assert "<title>[FIRING:2] Batumi (DeviceDown critical)</title>" in html
    assert "switch &lt;b&gt;down&lt;/b&gt; &amp; &#34;dark&#34;" in html
    assert "View in Alertmanager" in html and "2 alerts for" in html


def test_named_templates_come_from_the_configured_directory(tmp_path: Path) -> None:
    """``alertmanager_templates_dir`` names where default.tmpl and email.tmpl are; a
    config's own define replaces a named one (as Go's Parse); none found: refused at load,
    saying where they were looked for."""
    (tmp_path / "default.tmpl").write_text('{{ define "__subject" }}S:{{ .Status }}{{ end }}')
    (tmp_path / "email.tmpl").write_text(
        '{{ define "email.default.subject" }}[{{ template "__subject" . }}]{{ end }}')
    raw = {"route": {"receiver": "mail"}, "alertmanager_templates_dir": str(tmp_path),
           "receivers": [{"name": "mail", "email_configs": [{
               "to": "a@b.example", "from": "c@d.example", "smarthost": "127.0.0.1:25",
               "text": '{{ define "__subject" }}mine{{ end }}{{ template "__subject" . }}',
               "headers": {"Subject": NAMED_SUBJECT}}]}]}
    hook = parse_notify_config(raw).receivers["mail"].email_configs[0]
    data = build_payload(receiver="mail", group_key="{}", group_labels={"site": "Batumi"},
                         alerts=alerts(recent()), external_url="")
    mail = Mail("", [], build_message(data, hook, message_id="x", now=0), False, "")
    assert str(mail.message["Subject"]) == "[S:firing]"
    assert mail.part("plain").strip() == "mine"
    (tmp_path / "email.tmpl").unlink()
    with pytest.raises(ValueError, match=r"^alertmanager_templates_dir: cannot read "
                                         rf"{tmp_path}/email.tmpl: No such file"):
        parse_notify_config(raw)
    (tmp_path / "email.tmpl").write_text('{{ define "email.default.subject" }}{{ if }}')
    with pytest.raises(ValueError, match=rf"^alertmanager_templates_dir: {tmp_path}/email.tmpl: "
                                         "template: :1: missing value for if"):
        parse_notify_config(raw)
    empty = amdata.NamedTemplates()
    with pytest.raises(ValueError, match=r"text: fails on a sample group: template: :1:12: "
                                         r'executing "" at <{{template "email.default.html" '
                                         r'.}}>: template "email.default.html" not defined .*'
                                         r"set alertmanager_templates_dir"):
        check_template('{{ template "email.default.html" . }}', "text", empty)


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
