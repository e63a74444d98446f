"""``wardops-alerter import-alertmanager-config``: a realistic alertmanager.yml converts to a
config ``check-config`` accepts, routes like the real Alertmanager routes it (asked with
``amtool config routes test``), and says exactly what it could not convert."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alerter.notify.config import parse_notify_config
from alerter.notify.route import match_routes
from tests.support import REPO, python_env

SOURCE = REPO / "tests/testdata/amapi/alertmanager.yml"
SRC = "tests/testdata/amapi/alertmanager.yml"
UNSUPPORTED = ("not converted (wardops delivers e-mail and webhooks: slack, teams, "
               "telegram, alertmanager or a template body)")
EXPECTED_WARNINGS = [
    f"warning: {SRC}: receivers[0].slack_configs[0].channel: not converted (an incoming "
    "webhook posts to its own channel)",
    f"warning: {SRC}: receivers[0].slack_configs[0].title: a Go template; not converted",
    f"warning: {SRC}: receivers[2].webhook_configs[0].http_config: carries a literal secret; "
    "consider moving it to a *_file",
    f"warning: {SRC}: receivers[2].pagerduty_configs: 1 integration(s) {UNSUPPORTED}",
    f"warning: {SRC}: templates: Go templates are not converted (use a template webhook with "
    "a Jinja2 body)",
]
# What the output says in place, above each receiver that lost integrations.
EXPECTED_COMMENTS = {
    "oncall": ["# NOT CONVERTED here: pagerduty_configs (1 integration); alerts routed to "
               "'oncall' no longer reach it"],
}

LABEL_SETS = [
    {"alertname": "Watchdog"},
    {"alertname": "DeviceDown", "severity": "critical", "site": "Tbilisi-Vake"},
    {"alertname": "DeviceDown", "severity": "critical", "site": "Tbilisi-Vake", "type": "atm"},
    {"alertname": "DeviceDown", "severity": "critical", "site": "Gori"},
    {"alertname": "HighLatency", "severity": "warning", "team": "network"},
    {"alertname": "HighLatency", "severity": "warning", "team": "atm"},
    {"alertname": "PacketLoss", "severity": "info", "type": "atm", "team": "atm"},
    {"alertname": "Other"},
]


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alerter", *args], capture_output=True,
                          text=True, env=python_env(), cwd=cwd, timeout=60)


def import_what_alertmanager_accepts(path: Path) -> subprocess.CompletedProcess[str]:
    """Check ``path`` with the real ``amtool check-config``, then convert it."""
    am = subprocess.run(["amtool", "check-config", str(path)], capture_output=True,
                        text=True, timeout=30)
    assert am.returncode == 0, am.stdout + am.stderr
    return run_cli("import-alertmanager-config", str(path))


@pytest.fixture(scope="module")
def converted() -> subprocess.CompletedProcess[str]:
    return run_cli("import-alertmanager-config", SRC)


def comments_above_receivers(text: str) -> dict[str, list[str]]:
    """{receiver name: the comment lines right above its ``- name:`` line}."""
    found: dict[str, list[str]] = {}
    pending: list[str] = []
    lines = text.splitlines()
    for line in lines[lines.index("receivers:"):]:
        if line.startswith("#"):
            pending.append(line)
        elif line.startswith("- name: "):
            if pending:
                found[line.removeprefix("- name: ")] = pending
            pending = []
        else:
            pending = []
    return found


def test_converts_with_exact_warnings(converted: subprocess.CompletedProcess[str]) -> None:
    # 0: every receiver that routes use kept an integration (the e-mail ones included)
    assert converted.returncode == 0, converted.stderr
    assert converted.stderr.splitlines() == EXPECTED_WARNINGS
    doc = yaml.safe_load(converted.stdout)
    receivers = {r["name"]: r.get("webhook_configs", []) for r in doc["receivers"]}
    assert receivers == {
        "noc-chat": [{"format": "slack", "send_resolved": True,
                      "url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX"}],
        "deadmans-switch": [{"url": "http://deadman.bank.example/ping", "send_resolved": False}],
        "oncall": [{"url": "http://tickets.bank.example/alertmanager", "max_alerts": 20,
                    "authorization": {"credentials": "t0ken"}}],
        "oncall-capital": [{"url": "http://capital-oncall.bank.example/hook"}],
        "atm-vendor": [],
    }
    emails = {r["name"]: r["email_configs"] for r in doc["receivers"] if "email_configs" in r}
    vendor = {"from": "alertmanager@bank.example", "smarthost": "mail.bank.example:25"}
    assert emails == {"oncall-capital": [{"to": "capital-noc@bank.example", **vendor}],
                      "atm-vendor": [{"to": "support@atm-vendor.example", **vendor}]}
    assert doc["inhibit_rules"] == [
        {"source_matchers": ['alertname="SiteDown"'], "target_matchers": ['alertname="DeviceDown"'],
         "equal": ["site"]},
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity=~"warning|info"'],
         "equal": ["device"]},
    ]


def test_output_names_what_each_receiver_lost(
        converted: subprocess.CompletedProcess[str]) -> None:
    assert comments_above_receivers(converted.stdout) == EXPECTED_COMMENTS


def test_lossless_conversion_exits_0_without_comments(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(BASE + "  - name: blackhole\n")  # empty on purpose in Alertmanager too
    result = run_cli("import-alertmanager-config", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    assert comments_above_receivers(result.stdout) == {}


def test_partial_loss_is_commented_but_exits_0(tmp_path: Path) -> None:
    """Only a receiver left with nothing (and routed to) makes the exit status 1."""
    path = tmp_path / "alertmanager.yml"
    path.write_text("route: {receiver: x}\nreceivers:\n- name: x\n"
                    "  webhook_configs: [{url: 'http://127.0.0.1:9/'}]\n"
                    "  pagerduty_configs: [{routing_key: k}]\n"
                    "- name: unused\n  pagerduty_configs: [{routing_key: k}]\n")
    result = run_cli("import-alertmanager-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "converted with losses" not in result.stderr
    assert list(comments_above_receivers(result.stdout)) == ["x", "unused"]


def test_output_passes_check_config(converted: subprocess.CompletedProcess[str],
                                    tmp_path: Path) -> None:
    out = tmp_path / "alerter.yml"
    out.write_text(converted.stdout)
    checked = run_cli("check-config", str(out))
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout


@pytest.mark.skipif(not shutil.which("amtool"), reason="amtool is not installed")
def test_routes_like_the_real_alertmanager(converted: subprocess.CompletedProcess[str]) -> None:
    config = parse_notify_config(yaml.safe_load(converted.stdout))
    assert config.route is not None
    for labels in LABEL_SETS:
        am = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={SOURCE}",
                             *(f"{k}={v}" for k, v in labels.items())],
                            capture_output=True, text=True, timeout=30)
        assert am.returncode == 0, am.stderr
        ours = ",".join(r.receiver for r in match_routes(config.route, labels))
        assert ours == am.stdout.strip(), labels


@pytest.mark.parametrize("content,message", [
    (None, "cannot read: No such file or directory"),
    ("route: [unclosed\n", "line 2: invalid YAML"),
    ("- just\n- a list\n", "not an Alertmanager config (expected a mapping)"),
    ("global: {}\n", "not an Alertmanager config (needs route and receivers)"),
    ("route: {receiver: x, matchers: ['sev==\"x\"']}\nreceivers: [{name: x}]\n",
     "route.matchers[0]: stray quote in unquoted value at position 8"),
])
def test_unreadable_input_exits_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "alertmanager.yml"
    if content is not None:
        path.write_text(content)
    result = run_cli("import-alertmanager-config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"import-alertmanager-config: {path}: {message}"), \
        result.stderr


def test_usage_error_exits_2() -> None:
    result = run_cli("import-alertmanager-config")
    assert result.returncode == 2 and "usage:" in result.stderr


BASE = ("route: {receiver: x}\n"
        "receivers:\n  - {name: x, webhook_configs: [{url: 'http://127.0.0.1:9/'}]}\n")


@pytest.mark.parametrize("content,message", [
    (BASE + "routez: {receiver: x}\n", "routez: unknown field: not in the configuration of Alertmanager 0.25 to 0.28, which rejects it; "
                                      "did you mean route?"),
    ("route: {receiver: x, routes: [{receiver: x, matcher: ['a=\"b\"']}]}\n"
     "receivers: [{name: x}]\n",
     "route.routes[0].matcher: unknown field: not in the configuration of Alertmanager 0.25 to 0.28, which rejects it; "
     "did you mean matchers?"),
    ("route: {receiver: x}\nreceivers: [{name: x, webhook_configs: [{url: 'http://h/', "
     "send_resolve: true}]}]\n",
     "receivers[0].webhook_configs[0].send_resolve: unknown field: not in the "
     "configuration of Alertmanager 0.25 to 0.28, which rejects it; did you mean "
     "send_resolved?"),
    ("route: {receiver: x}\nreceivers: [{name: x, msteams_configs: [{webhook_url: "
     "'http://h/', teams: x}]}]\n",
     "receivers[0].msteams_configs[0].teams: unknown field: not in the configuration of "
     "Alertmanager 0.25 to 0.28, which rejects it"),
    ("route: {receiver: x}\nreceivers: [{name: x, email_configs: [{to: a@b.example, "
     "from: c@d.example, smarthost: 'h:25', too: e@f.example}]}]\n",
     "receivers[0].email_configs[0].too: unknown field: not in the configuration of "
     "Alertmanager 0.25 to 0.28, which rejects it; did you mean to?"),
    ("route: {receiver: x}\nreceivers: [{name: x, webhook_config: [{url: 'http://h/'}]}]\n",
     "receivers[0].webhook_config: unknown field: not in the configuration of Alertmanager 0.25 to 0.28, which rejects it; "
     "did you mean webhook_configs?"),
    (BASE + "global: {resolve_timeot: 5m}\n",
     "global.resolve_timeot: unknown field: not in the configuration of Alertmanager 0.25 to 0.28, which rejects it; "
     "did you mean resolve_timeout?"),
    (BASE + "inhibit_rules: [{source_matchers: ['a=\"b\"'], target_matchers: ['c=\"d\"'], "
            "equals: [site]}]\n",
     "inhibit_rules[0].equals: unknown field: not in the configuration of Alertmanager 0.25 to 0.28, which rejects it; "
     "did you mean equal?"),
])
def test_unknown_key_is_an_error_like_in_alertmanager(tmp_path: Path, content: str,
                                                      message: str) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(content)
    result = run_cli("import-alertmanager-config", str(path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"import-alertmanager-config: {path}: {message}\n"
    # the real Alertmanager parser agrees that the file is not valid
    if shutil.which("amtool"):
        am = subprocess.run(["amtool", "check-config", str(path)], capture_output=True,
                            text=True, timeout=30)
        assert am.returncode != 0
        assert "not found in type" in am.stdout + am.stderr


def test_a_field_of_a_newer_alertmanager_is_not_an_error(tmp_path: Path) -> None:
    """webhook_configs' timeout (Alertmanager 0.28) is known: converted with a warning,
    not refused as an unknown field (the Debian amtool 0.25 would refuse it)."""
    path = tmp_path / "alertmanager.yml"
    path.write_text("route: {receiver: x}\nreceivers: [{name: x, webhook_configs: "
                    "[{url: 'http://127.0.0.1:9/', timeout: 10s}]}]\n")
    result = run_cli("import-alertmanager-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "receivers[0].webhook_configs[0].timeout: not converted" in result.stderr
    assert "url: http://127.0.0.1:9/" in result.stdout


def test_the_valid_fixture_is_valid_for_alertmanager_too() -> None:
    am = subprocess.run(["amtool", "check-config", str(SOURCE)], capture_output=True,
                        text=True, timeout=30)
    assert am.returncode == 0, am.stdout + am.stderr


def test_a_webhooks_tls_config_is_carried_over(tmp_path: Path) -> None:
    """A receiver behind a private CA keeps working after the import: http_config's
    tls_config (CA, client certificate) becomes the webhook's tls_config."""
    for name in ("bank-ca.crt", "alerter.crt", "alerter.key"):
        (tmp_path / name).write_text("placeholder\n")
    path = tmp_path / "alertmanager.yml"
    path.write_text("route: {receiver: x}\nreceivers:\n  - name: x\n    webhook_configs:\n"
                    "      - url: 'https://tickets.bank.example/hook'\n"
                    "        http_config:\n          tls_config:\n"
                    "            ca_file: bank-ca.crt\n            cert_file: alerter.crt\n"
                    "            key_file: alerter.key\n")
    result = run_cli("import-alertmanager-config", str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    [hook] = yaml.safe_load(result.stdout)["receivers"][0]["webhook_configs"]
    assert hook["tls_config"] == {"ca_file": "bank-ca.crt", "cert_file": "alerter.crt",
                                  "key_file": "alerter.key"}


def test_http_config_is_carried_over_and_loads(tmp_path: Path) -> None:
    """Every http_config key with an equivalent carries over (also from
    global.http_config, which Alertmanager applies to receivers without their own), the
    converted file loads, and what has none (OAuth2) is named."""
    (tmp_path / "bank-ca.crt").write_text("placeholder\n")
    (tmp_path / "hook.pass").write_text("s3cret\n")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump({
        "global": {"http_config": {
            "basic_auth": {"username": "alerter", "password_file": "hook.pass"},
            "proxy_url": "http://proxy.bank.example:3128", "follow_redirects": False,
            "enable_http2": True,
            "tls_config": {"ca_file": "bank-ca.crt", "server_name": "hooks.bank.example",
                           "min_version": "TLS12"}}},
        "route": {"receiver": "x"},
        "receivers": [{"name": "x", "webhook_configs": [
            {"url": "https://10.0.0.5/hook"},
            {"url": "https://10.0.0.6/hook", "http_config": {
                "authorization": {"type": "Token", "credentials_file": "hook.pass"},
                "oauth2": {"client_id": "a", "client_secret": "b",
                           "token_url": "https://sso.bank.example/token"}}}]}]}))
    result = run_cli("import-alertmanager-config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {path}: global.http_config.tls_config.min_version: not converted",
        f"warning: {path}: receivers[0].webhook_configs[1].http_config.oauth2: not converted"]
    first, second = yaml.safe_load(result.stdout)["receivers"][0]["webhook_configs"]
    assert first == {"url": "https://10.0.0.5/hook",
                     "basic_auth": {"username": "alerter", "password_file": "hook.pass"},
                     "proxy_url": "http://proxy.bank.example:3128", "follow_redirects": False,
                     "tls_config": {"ca_file": "bank-ca.crt",
                                    "server_name": "hooks.bank.example"}}
    assert second == {"url": "https://10.0.0.6/hook",
                      "authorization": {"type": "Token", "credentials_file": "hook.pass"}}
    converted = tmp_path / "alerter-notify.yml"
    converted.write_text(result.stdout)
    config = parse_notify_config(yaml.safe_load(result.stdout), base_dir=tmp_path)
    hooks = config.receivers["x"].webhook_configs
    assert hooks[0].http.headers() == {"Authorization": "Basic YWxlcnRlcjpzM2NyZXQ="}
    assert hooks[0].http.tls.server_name == "hooks.bank.example"
    assert hooks[0].http.follow_redirects is False
    assert hooks[1].http.headers() == {"Authorization": "Token s3cret"}


def test_match_values_convert_as_alertmanager_reads_them(tmp_path: Path) -> None:
    """Go's YAML gives match values their text as written (the reader keeps it): an
    unquoted true/0.50/yes/0x1F converts to that text, without a warning; null is the
    empty string in ``match`` (as in Alertmanager, not "None") and refused in
    ``match_re`` (as Alertmanager refuses it); api_url and api_url_file together are
    refused, as Alertmanager refuses them. Routing by them is compared with the real
    Alertmanager in tests/alerter/test_am_scalars.py."""
    path = tmp_path / "alertmanager.yml"
    path.write_text("route:\n  receiver: x\n  routes:\n"
                    "    - {receiver: x, match: {maintenance: true, ratio: 0.50, flag: yes, "
                    "code: 0x1F, site: null}}\n"
                    "receivers: [{name: x}]\n")
    result = run_cli("import-alertmanager-config", str(path))
    assert result.returncode == 0, result.stderr
    route = yaml.safe_load(result.stdout)["route"]["routes"][0]
    assert route["matchers"] == ['maintenance="true"', 'ratio="0.50"', 'flag="yes"',
                                 'code="0x1F"', 'site=""']
    assert "None" not in result.stdout
    assert result.stderr.splitlines() == [
        f"warning: {path}: route.routes[0].match.site: null: matches an empty or missing "
        "label, as in Alertmanager"]
    for name, text, message in [
            ("nil_re.yml", "route:\n  receiver: x\n  routes: [{receiver: x, match_re: "
             "{site: null}}]\nreceivers: [{name: x}]\n",
             'route.routes[0].match_re.site: invalid regexp value for "site"'),
            ("both.yml", "route: {receiver: x}\nreceivers:\n  - name: x\n    slack_configs:\n"
             "      - {api_url: 'https://hooks.slack.com/a', api_url_file: f}\n",
             "at most one of api_url and api_url_file must be configured")]:
        refused_file = tmp_path / name
        refused_file.write_text(text)
        refused = run_cli("import-alertmanager-config", str(refused_file))
        assert refused.returncode == 2
        assert message in refused.stderr
        am = subprocess.run(["amtool", "check-config", str(refused_file)],
                            capture_output=True, text=True, timeout=30)
        assert am.returncode != 0  # the real one refuses it as well


def test_time_intervals_convert_with_the_same_meaning(tmp_path: Path) -> None:
    """time_intervals, the deprecated top-level mute_time_intervals and routes'
    mute/active_time_intervals carry over; an unquoted 10:00 (a base-60 number to PyYAML,
    text to Alertmanager) keeps its meaning; the result loads and mutes at the same times
    as the original (which amtool accepts)."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        "route:\n  receiver: x\n  routes:\n"
        "    - {receiver: x, matchers: ['site=\"A\"'], mute_time_intervals: [night, weekend]}\n"
        "    - {receiver: x, matchers: ['site=\"B\"'], active_time_intervals: [office]}\n"
        "receivers: [{name: x, webhook_configs: [{url: 'http://127.0.0.1:9/'}]}]\n"
        "mute_time_intervals:\n"
        "  - name: night\n    time_intervals:\n"
        "      - times: [{start_time: 22:00, end_time: '24:00'}, {start_time: '00:00', "
        "end_time: 06:00}]\n"
        "time_intervals:\n"
        "  - name: weekend\n    time_intervals: [{weekdays: [saturday, sunday]}]\n"
        "  - name: office\n    time_intervals:\n"
        "      - weekdays: ['monday:friday']\n        times: [{start_time: 10:00, "
        "end_time: 18:00}]\n"
        "        days_of_month: [1, '-7:-1']\n        months: [january:june]\n"
        "        years: [2026]\n        location: Asia/Tbilisi\n")
    result = import_what_alertmanager_accepts(path)
    assert (result.returncode, result.stderr) == (0, "")
    doc = yaml.safe_load(result.stdout)
    assert [r.get("mute_time_intervals") or r.get("active_time_intervals")
            for r in doc["route"]["routes"]] == [["night", "weekend"], ["office"]]
    assert [i["name"] for i in doc["time_intervals"]] == ["night", "weekend", "office"]
    assert doc["time_intervals"][2]["time_intervals"][0]["times"] == \
        [{"start_time": "10:00", "end_time": "18:00"}]
    config = parse_notify_config(doc)
    office = config.time_intervals["office"][0]
    assert office.times == ((600, 1080),) and office.days_of_month == ((1, 1), (-7, -1))
    assert office.months == ((1, 6),) and office.years == ((2026, 2026),)
    assert str(office.location) == "Asia/Tbilisi"
    assert config.time_intervals["night"][0].times == ((1320, 1440), (0, 360))


def test_email_configs_convert_with_the_global_smtp_defaults(tmp_path: Path) -> None:
    """email_configs carry over field by field, the global.smtp_* defaults filled in as
    Alertmanager fills them; a template wardops's engine runs (Alertmanager's data, as
    .Alerts, or Alertmanager's own email.default.subject) is kept, one it cannot (a name
    defined in the alertmanager.yml's own template files) gives way to the default, with
    a warning; the result loads."""
    (tmp_path / "smtp.password").write_text("s3cret\n")
    (tmp_path / "ca.crt").write_text("placeholder\n")
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        "global:\n  smtp_smarthost: 'mail.bank.example:587'\n  smtp_from: 'am@bank.example'\n"
        "  smtp_auth_username: alertmanager\n  smtp_auth_password_file: smtp.password\n"
        "  smtp_hello: am.bank.example\n"
        "route: {receiver: noc}\n"
        "receivers:\n  - name: noc\n    email_configs:\n"
        "      - to: 'noc@bank.example, duty@bank.example'\n        send_resolved: true\n"
        "        tls_config: {ca_file: ca.crt, server_name: mail.bank.example}\n"
        "        headers: {Subject: '{{ template \"email.default.subject\" . }}',"
        " X-Queue: '{{ .Alerts | len }}'}\n"
        "        html: '{{ template \"bank.mail.html\" . }}'\n"
        "        text: 'Site {{ $labels.site }}'\n"
        "      - {to: vendor@atm.example, from: 'wardops@bank.example', require_tls: false,\n"
        "         smarthost: 'relay.bank.example:25', auth_username: ''}\n")
    result = import_what_alertmanager_accepts(path)
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"warning: {path}: receivers[0].email_configs[0].html: a Go "
                                  "template wardops cannot run (")
    assert warnings[0].endswith("; the default body is used")
    doc = yaml.safe_load(result.stdout)
    first, second = doc["receivers"][0]["email_configs"]
    assert first == {"to": "noc@bank.example, duty@bank.example", "from": "am@bank.example",
                     "smarthost": "mail.bank.example:587", "hello": "am.bank.example",
                     "auth_username": "alertmanager", "auth_password_file": "smtp.password",
                     "tls_config": {"ca_file": "ca.crt", "server_name": "mail.bank.example"},
                     "send_resolved": True, "text": "Site {{ $labels.site }}",
                     "headers": {"Subject": '{{ template "email.default.subject" . }}',
                                 "X-Queue": "{{ .Alerts | len }}"}}
    assert second["from"] == "wardops@bank.example" and second["require_tls"] is False
    assert second["smarthost"] == "relay.bank.example:25"
    config = parse_notify_config(doc, base_dir=tmp_path)
    noc = config.receivers["noc"].email_configs[0]
    assert noc.auth_password is not None and noc.auth_password.value == "s3cret"
    assert noc.recipients == ["noc@bank.example", "duty@bank.example"]
    assert config.receivers["noc"].email_configs[1].auth_username == "alertmanager"
