"""Notification config: every invalid fixture fails with its exact message; valid ones load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerter.notify.config import parse_notify_config

TESTDATA = Path(__file__).resolve().parents[1] / "testdata" / "notify"
INVALID = sorted(TESTDATA.glob("invalid-*.yml"))


def expected_error(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# error: "), f"{path.name} must start with '# error: <message>'"
    return first.removeprefix("# error: ").replace("{dir}", str(TESTDATA))


def test_there_are_enough_invalid_fixtures() -> None:
    assert len(INVALID) >= 12


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_config_is_rejected_with_exact_message(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    with pytest.raises(ValueError) as err:
        parse_notify_config(raw, base_dir=TESTDATA)
    assert str(err.value) == expected_error(path)


def test_route_tree_inherits_settings_and_resolves_secrets(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_URL", "http://127.0.0.1:9/secret-path")
    (tmp_path / "hmac").write_text("s3cret\n")
    raw = yaml.safe_load("""
route:
  receiver: chat
  group_by: [alertname, site]
  group_wait: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['{severity="critical", site=~"Tbil.*"}']
      receiver: oncall
      group_by: ['...']
      routes:
        - matchers: ['type!="atm"']
          continue: true
receivers:
  - name: chat
    webhook_configs:
      - url_env: CHAT_URL
        hmac_secret_file: hmac
        format: slack
        send_resolved: false
  - name: oncall
""")
    cfg = parse_notify_config(raw, base_dir=tmp_path)
    root = cfg.route
    assert root is not None and root.group_wait == 2.0 and root.group_interval == 300.0
    critical = root.routes[0]
    assert critical.receiver == "oncall" and critical.group_by_all
    assert [str(m) for m in critical.matchers] == ['severity="critical"', 'site=~"Tbil.*"']
    assert critical.repeat_interval == 3600.0 and critical.group_wait == 2.0
    leaf = critical.routes[0]
    assert leaf.receiver == "oncall" and leaf.continue_ and leaf.group_by_all
    hook = cfg.receivers["chat"].webhook_configs[0]
    assert hook.url is not None and hook.url.value == "http://127.0.0.1:9/secret-path"
    assert hook.hmac_secret is not None and hook.hmac_secret.value == "s3cret"
    assert not hook.send_resolved
    # Secrets never show in reprs (logs, tracebacks).
    assert "secret-path" not in repr(cfg) and "s3cret" not in repr(cfg)


def test_empty_config_means_no_notifications() -> None:
    cfg = parse_notify_config({})
    assert cfg.route is None and not cfg.receivers and cfg.api.bearer_token is None
