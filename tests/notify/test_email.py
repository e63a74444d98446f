"""E-mail notifications against a real SMTP server on loopback (aiosmtpd): STARTTLS with
the example CA and AUTH, the default text and HTML bodies, templates; a 5xx is a dead
letter, a 4xx, a slow server and a server that is down are retried and lose nothing; a
kill -9 between queueing and delivery delivers once after the restart."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.notify import DeliveryFailed
from alerter.notify.config import parse_notify_config
from tests.notify.conftest import HOLD_SCRIPT, PipelineFactory, firing, queued_rows, resolved
from tests.notify.smtpserver import PASSWORD, USER, SmtpServer
from tests.support import Proc, free_port, python_env, wait_for


@pytest.fixture
def servers() -> Iterator[list[SmtpServer]]:
    made: list[SmtpServer] = []
    yield made
    for s in made:
        s.down()


def email_config(server: SmtpServer, **email: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"to": "NOC <noc@bank.example>, oncall@bank.example",
                           "from": "wardops <wardops@bank.example>",
                           "smarthost": server.smarthost, "require_tls": False, **email}
    return {"route": {"receiver": "mail", "group_by": ["site"], "group_wait": "0s",
                      "group_interval": "1s"},
            "receivers": [{"name": "mail", "email_configs": [cfg]}]}


def tls_auth(server: SmtpServer) -> dict[str, Any]:
    assert server.ca is not None
    return {"require_tls": True, "tls_config": {"ca_file": str(server.ca.pair.cert)},
            "auth_username": USER, "auth_password_env": "WARDOPS_TEST_SMTP_PASSWORD"}


def dead_letters(p: Any) -> list[dict[str, Any]]:
    return p.dead_letters()  # type: ignore[no-any-return]


def test_starttls_auth_and_readable_default_bodies(
        tmp_path: Path, servers: list[SmtpServer], pipeline_factory: PipelineFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDOPS_TEST_SMTP_PASSWORD", PASSWORD)
    server = SmtpServer(tmp_path / "pki", auth=True)
    servers.append(server)
    p = pipeline_factory(email_config(server, send_resolved=True, **tls_auth(server)))
    started = time.time() - 3725  # down for 1h 2m
    atm = firing(site="Kharagauli", device="Kharagauli-ATM", address="10.199.78.163",
                 starts_at=started)
    p.process([atm])
    mail = server.wait(1)[0]
    assert mail.tls and mail.login == USER  # STARTTLS before AUTH, then the mail
    assert mail.sender == "wardops@bank.example"
    assert mail.recipients == ["noc@bank.example", "oncall@bank.example"]
    msg = mail.message
    assert msg["Subject"] == "[FIRING:1] DeviceDown site=Kharagauli"
    assert msg["To"] == "NOC <noc@bank.example>, oncall@bank.example"
    assert msg["Message-Id"].startswith("<") and msg["Date"]
    text, html = mail.part("plain"), mail.part("html")
    since = time.strftime("%Y-%m-%d %H:%M", time.gmtime(started))
    for body in (text, html):
        assert "Kharagauli-ATM" in body and "10.199.78.163" in body and "Kharagauli" in body
        assert since in body and "1h 2m" in body  # since when, for how long
        assert "http://prometheus.test/graph" in body and "http://alerter.test:9470" in body
    assert "  for: 1h 2m" in text
    p.process([resolved(atm)])
    back = server.wait(2)[1]
    assert back.message["Subject"] == "[RESOLVED] DeviceDown site=Kharagauli"
    assert "lasted: 1h 2m" in back.part("plain")


# aiosmtpd counts only STARTTLS as TLS; on its SMTPS port everything is TLS
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_port_465_speaks_tls_from_the_first_byte(
        tmp_path: Path, servers: list[SmtpServer], pipeline_factory: PipelineFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As Alertmanager: smarthost port 465 is SMTPS (no STARTTLS round)."""
    monkeypatch.setenv("WARDOPS_TEST_SMTP_PASSWORD", PASSWORD)
    server = SmtpServer(tmp_path / "pki", auth=True, port=465, implicit_tls=True)
    servers.append(server)
    p = pipeline_factory(email_config(server, **tls_auth(server)))
    p.process([firing(site="Mestia", device="Mestia-R1")])
    mail = server.wait(1)[0]
    assert mail.tls and mail.login == USER and "Mestia-R1" in mail.part("plain")


def test_templates_and_headers(tmp_path: Path, servers: list[SmtpServer],
                               pipeline_factory: PipelineFactory) -> None:
    server = SmtpServer()
    servers.append(server)
    p = pipeline_factory(email_config(
        server, headers={"Subject": "{{ $labels.site }}: {{ $value }} down",
                         "X-Ticket-Queue": "noc-{{ .Labels.site | toLower }}"},
        text="Site {{ $labels.site }}: see {{ $externalURL }}\n",
        html="<p>Site <b>{{ $labels.site }}</b></p>\n"))
    p.process([firing(site="Batumi", device="Batumi-R1"), firing(site="Batumi", device="SW")])
    mail = server.wait(1)[0]
    assert mail.message["Subject"] == "Batumi: 2 down"
    assert mail.message["X-Ticket-Queue"] == "noc-batumi"
    assert mail.part("plain") == "Site Batumi: see http://alerter.test:9470\r\n"  # SMTP: CRLF
    assert mail.part("html") == "<p>Site <b>Batumi</b></p>\r\n"
    # a label value with CR/LF cannot add a header (Bcc) or a recipient
    p.process([firing(site="Poti\r\nBcc: thief@evil.example", device="Poti-R1")])
    forged = server.wait(2)[1]
    assert forged.message["Bcc"] is None
    assert forged.recipients == ["noc@bank.example", "oncall@bank.example"]
    assert forged.message["Subject"].startswith("Poti")


def test_5xx_is_a_dead_letter_with_the_servers_reply(
        servers: list[SmtpServer], pipeline_factory: PipelineFactory) -> None:
    server = SmtpServer()
    servers.append(server)
    server.fail_next(1, "550 5.1.1 <noc@bank.example>: no such user", at="RCPT")
    p = pipeline_factory(email_config(server, to="noc@bank.example"))
    p.process([firing(site="Poti", device="Poti-R1")])
    dead = wait_for(lambda: dead_letters(p), timeout=20, what="a dead letter")
    assert dead[0]["attempts"] == 1
    assert "smtp_5xx" in dead[0]["lastError"] and "no such user" in dead[0]["lastError"]
    assert "Poti-R1" in dead[0]["body"]
    time.sleep(1.5)
    assert server.mails == []
    assert p.registry.get_sample_value("wardops_alerter_notifications_total",
                                       {"receiver": "mail", "result": "failed"}) == 1


def test_4xx_is_retried_then_delivered_once(
        servers: list[SmtpServer], pipeline_factory: PipelineFactory) -> None:
    server = SmtpServer()
    servers.append(server)
    server.fail_next(2, "451 4.3.0 queue full, try again later")
    p = pipeline_factory(email_config(server))
    p.process([firing(site="Gori", device="Gori-R1")])
    mails = server.wait(1)
    time.sleep(1.0)
    assert len(mails) == 1 and server.attempts == 3
    assert dead_letters(p) == []
    assert p.registry.get_sample_value("wardops_alerter_notification_attempts_total",
                                       {"receiver": "mail", "outcome": "smtp_4xx"}) == 2


def test_slow_server_times_out_is_retried_and_nothing_is_lost(
        servers: list[SmtpServer], pipeline_factory: PipelineFactory) -> None:
    server = SmtpServer()
    servers.append(server)
    server.delay = 2.0
    p = pipeline_factory(email_config(server, timeout="0.5s"))
    p.process([firing(site="Zugdidi", device="Zugdidi-R1")])
    wait_for(lambda: p.registry.get_sample_value(
        "wardops_alerter_notification_attempts_total",
        {"receiver": "mail", "outcome": "timeout"}), timeout=20, what="a timed-out attempt")
    server.delay = 0.0
    mails = server.wait(1)
    time.sleep(2.5)  # a timed-out DATA the server finished anyway arrives too
    # at least once, and every copy is the same message (one Message-Id to drop repeats)
    assert len({m.message["Message-Id"] for m in mails}) == 1
    assert "Zugdidi-R1" in mails[0].part("plain")
    assert dead_letters(p) == []


def test_server_down_then_up_gets_it(servers: list[SmtpServer],
                                     pipeline_factory: PipelineFactory) -> None:
    server = SmtpServer()
    servers.append(server)
    server.down()
    p = pipeline_factory(email_config(server))
    p.process([firing(site="Telavi", device="Telavi-R1")])
    wait_for(lambda: p.registry.get_sample_value(
        "wardops_alerter_notification_attempts_total",
        {"receiver": "mail", "outcome": "connection_refused"}), timeout=20,
        what="a refused attempt")
    server.up()
    assert len(server.wait(1, timeout=30)) == 1


def test_require_tls_refuses_a_server_without_starttls(
        servers: list[SmtpServer], pipeline_factory: PipelineFactory) -> None:
    server = SmtpServer()
    servers.append(server)
    p = pipeline_factory(email_config(server, require_tls=True, max_attempts=1))
    p.process([firing(site="Ozurgeti", device="Ozurgeti-R1")])
    dead = wait_for(lambda: dead_letters(p), timeout=20, what="a dead letter")
    assert "does not advertise the STARTTLS extension" in dead[0]["lastError"]
    assert server.attempts == 0  # nothing sent in clear text


def test_cram_md5_with_auth_secret(
        tmp_path: Path, servers: list[SmtpServer], pipeline_factory: PipelineFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only ``auth_secret`` configured: the CRAM-MD5 exchange (the secret never crosses
    the wire), which the server checks."""
    monkeypatch.setenv("WARDOPS_TEST_SMTP_SECRET", PASSWORD)
    server = SmtpServer(tmp_path / "pki", auth=True)
    servers.append(server)
    cfg = {**tls_auth(server), "auth_secret_env": "WARDOPS_TEST_SMTP_SECRET"}
    del cfg["auth_password_env"]
    p = pipeline_factory(email_config(server, **cfg))
    p.process([firing(site="Kutaisi", device="Kutaisi-R1")])
    mail = server.wait(1)[0]
    assert mail.login == USER and server.logins == [("CRAM-MD5", USER)]


def test_wrong_password_is_a_dead_letter(
        tmp_path: Path, servers: list[SmtpServer], pipeline_factory: PipelineFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDOPS_TEST_SMTP_PASSWORD", "wrong")
    server = SmtpServer(tmp_path / "pki", auth=True)
    servers.append(server)
    p = pipeline_factory(email_config(server, **tls_auth(server)))
    p.process([firing(site="Sighnaghi", device="Sighnaghi-R1")])
    dead = wait_for(lambda: dead_letters(p), timeout=20, what="a dead letter")
    assert "535" in dead[0]["lastError"] and server.mails == []


def test_send_test_names_the_smtp_failure(tmp_path: Path, servers: list[SmtpServer]) -> None:
    from alerter.notify import NotificationPipeline

    server = SmtpServer()
    servers.append(server)
    server.fail_next(1, "554 5.7.1 relaying denied", at="RCPT")
    p = NotificationPipeline(parse_notify_config(email_config(server, to="noc@bank.example")),
                             tmp_path / "s", external_url="http://x")
    with pytest.raises(DeliveryFailed, match="email #0: smtp_5xx .*relaying denied"):
        p.send_test("mail")
    assert p.send_test("mail") == "email #0: ok"
    assert server.mails[0].message["Subject"].startswith("[FIRING:1] WardopsTestNotification")


@pytest.mark.parametrize(("email", "message"), [
    ({"smarthost": "mail.bank.example"}, "receivers[0].email_configs[0].smarthost: address "
     "mail.bank.example: missing port in address (host:port)"),
    ({"from": "a@b.example, c@d.example"}, "receivers[0].email_configs[0].from: must be "
     "exactly one e-mail address"),
    ({"html": "{{ range .Alerts }}{{ .Labels.nope.deeper }}{{ end }}"},
     "receivers[0].email_configs[0].html: fails on a sample group: "),
    ({"text": '{{ template "noc.mail.body" . }}'},
     "receivers[0].email_configs[0].text: fails on a sample group: template: :1:"),
    ({"text": "{{ .Alerts.Nope }}"}, "receivers[0].email_configs[0].text: fails on a sample "
     "group: "),
    ({"text": "{{ if .Alerts }}"}, "receivers[0].email_configs[0].text: template error"),
    ({"auth_username": "u"}, "receivers[0].email_configs[0].auth_password: required with "
     "auth_username"),
    ({"tls": {}}, "receivers[0].email_configs[0].tls: unknown key"),
])
def test_invalid_email_configs(email: dict[str, Any], message: str) -> None:
    raw = {"route": {"receiver": "r"}, "receivers": [{"name": "r", "email_configs": [{
        "to": "noc@bank.example", "from": "wardops@bank.example",
        "smarthost": "127.0.0.1:25", **email}]}]}
    with pytest.raises(ValueError) as err:
        parse_notify_config(raw)
    assert str(err.value).startswith(message)




def test_kill_9_between_queueing_and_delivery_delivers_once_after_restart(
        tmp_path: Path, servers: list[SmtpServer]) -> None:
    port = free_port()
    smarthost = f"127.0.0.1:{port}"
    state = tmp_path / "state"
    script = tmp_path / "hold.py"
    script.write_text(HOLD_SCRIPT)
    mail = json.dumps({"email_configs": [{"to": "noc@bank.example", "from": "wardops@bank.example",
                                          "smarthost": smarthost, "require_tls": False}]})
    first = Proc([sys.executable, str(script), mail, str(state)],
                 log=tmp_path / "first.log", env=python_env())
    try:  # the SMTP server is down: the mail is queued and its first attempt fails
        rows = wait_for(lambda: [r for r in queued_rows(state) if r[1] >= 1], timeout=20,
                        what="a queued e-mail with a failed attempt")
    finally:
        first.stop(kill=True)
    assert first.popen.returncode == -9
    key = rows[0][0]
    server = SmtpServer(port=port)
    servers.append(server)
    second = Proc([sys.executable, str(script), mail, str(state)],
                  log=tmp_path / "second.log", env=python_env())
    try:
        server.wait(1)
        time.sleep(1.5)
        assert len(server.mails) == 1  # the same e-mail, once
        assert server.mails[0].message["Message-Id"].startswith(f"<{key}@")
        wait_for(lambda: queued_rows(state) == [], timeout=10, what="queue emptied")
    finally:
        second.stop()
