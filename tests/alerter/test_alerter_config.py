"""Config and rule-file validation: every invalid fixture gives its exact one-line message.

Each ``tests/testdata/alerter/invalid-*.yml`` starts with ``# expect: MESSAGE`` ({file} is
the path, {dir} its directory). ``invalid-config-*`` are alerter configs,
``invalid-rules-*`` rule files, loaded
through a config that points at them. The CLI gives the same line and exit status 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alerter.config import ConfigError, load_config
from tests.support import REPO, python_env

TESTDATA = REPO / "tests" / "testdata" / "alerter"
FIXTURES = sorted(TESTDATA.glob("invalid-*.yml"))


def expected(path: Path, shown: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its # expect: line"
    return (first.removeprefix("# expect: ").replace("{file}", str(shown))
            .replace("{dir}", str(path.parent)))


def config_for(fixture: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(config to load, file named in the message)."""
    if fixture.name.startswith("invalid-rules-"):
        config = tmp_path / "alerter.yml"
        config.write_text(f"rule_files: [{fixture}]\n")
        return config, fixture
    return fixture, fixture


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURES) >= 15


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_invalid(fixture: Path, tmp_path: Path) -> None:
    config, shown = config_for(fixture, tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert str(info.value) == expected(fixture, shown)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("fixture", FIXTURES[:3] + [TESTDATA / "invalid-rules-recording.yml",
                                                    TESTDATA / "invalid-config-external-label-name.yml"],
                         ids=lambda f: f.name)
def test_check_config_cli(fixture: Path, tmp_path: Path) -> None:
    config, shown = config_for(fixture, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "alerter", "check-config", str(config)],
                          check=False, capture_output=True, text=True, env=python_env(),
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"check-config: {expected(fixture, shown)}\n"


def test_run_with_bad_config_exits_2(tmp_path: Path) -> None:
    fixture = TESTDATA / "invalid-config-url.yml"
    proc = subprocess.run([sys.executable, "-m", "alerter", "--config", str(fixture)],
                          check=False, capture_output=True, text=True, env=python_env(),
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"wardops-alerter: {expected(fixture, fixture)}\n"


# The example reads its webhook URLs and secrets from the environment; the notification
# config refuses to load when one is missing (a receiver without a URL would silently
# never notify), so the check runs with placeholders for them.
EXAMPLE_SECRETS = {"WARDOPS_API_TOKEN": "token", "CHAT_WEBHOOK_URL": "http://127.0.0.1:9/chat",
                   "ONCALL_WEBHOOK_URL": "http://127.0.0.1:9/oncall", "ONCALL_HMAC": "secret",
                   "DEADMANS_SWITCH_URL": "http://127.0.0.1:9/deadman"}


def test_example_config_and_default_rules_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    config = load_config(REPO / "examples" / "alerter.yml")
    names = [r.name for g in config.groups if g.file.endswith("wardops.yml") for r in g.rules]
    assert names == ["DeviceDown", "DeviceFlapping", "SiteDown", "HighLatency", "PacketLoss",
                     "ProbeStale", "ProbeFailing", "MaintenanceWindow", "ExporterDown", "ExporterStateFileFailing",
                     "ExporterConfigReloadFailed", "AlerterConfigReloadFailed",
                     "WebConfigReloadFailed", "AlerterNotificationsFailed", "AlerterNotificationsStuck",
                     "ExporterCycleOverruns", "Watchdog"]
    rules = sum(len(g.rules) for g in config.groups)
    assert config.state_dir == REPO / "examples" / "data" / "alerter"
    proc = subprocess.run([sys.executable, "-m", "alerter", "check-config",
                           str(REPO / "examples" / "alerter.yml")],
                          check=False, capture_output=True, text=True,
                          env=python_env(**EXAMPLE_SECRETS), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(config.groups)} groups, {rules} alerting rules" in proc.stdout


def test_example_names_every_missing_variable_in_one_error() -> None:
    env = {k: v for k, v in python_env().items() if k not in EXAMPLE_SECRETS}
    proc = subprocess.run([sys.executable, "-m", "alerter", "check-config",
                           str(REPO / "examples" / "alerter.yml")],
                          check=False, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "5 environment variables or files missing" in proc.stderr
    for name in EXAMPLE_SECRETS:
        assert f"environment variable {name} is not set" in proc.stderr


def test_readme_dry_check_command_works() -> None:
    """The one-liner in docs/alerter.md (and at the top of the example) sets every variable."""
    readme = (REPO / "docs" / "alerter.md").read_text()
    example = (REPO / "examples" / "alerter.yml").read_text()
    lines = [line for line in readme.splitlines()
             if line.startswith("env ") and "check-config examples/alerter.yml" in line]
    assert len(lines) == 1
    assert f"#   {lines[0]}" in example.splitlines()
    words = lines[0].split()
    assignments = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    assert set(assignments) == set(EXAMPLE_SECRETS)
    env = {k: v for k, v in python_env().items() if k not in EXAMPLE_SECRETS} | assignments
    proc = subprocess.run([sys.executable, "-m", "alerter", "check-config",
                           str(REPO / "examples" / "alerter.yml")],
                          check=False, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_relative_paths_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf" / "rules").mkdir(parents=True)
    (tmp_path / "conf" / "rules" / "a.yml").write_text(
        "groups: [{name: g, interval: 1m, rules: [{alert: A, expr: vector(1)}]}]\n")
    (tmp_path / "conf" / "secret").write_text("s3cret\n")
    config_path = tmp_path / "conf" / "alerter.yml"
    config_path.write_text(
        "prometheus:\n  url: http://127.0.0.1:9090/\n"
        "  basic_auth: {username: u, password_file: secret}\n"
        "rule_files: [rules/*.yml]\nstate_dir: st\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(config_path)
    assert config.datasource.url == "http://127.0.0.1:9090"
    assert config.datasource.http.headers() == {"Authorization": "Basic dTpzM2NyZXQ="}  # u:s3cret
    assert "s3cret" not in repr(config.datasource)
    assert config.state_dir == tmp_path / "conf" / "st"
    assert [(g.name, g.interval) for g in config.groups] == [("g", 60.0)]
    assert config.evaluation_interval == 15.0
    assert config.data_health.targets == 'up{job="wardops-exporter"}'


def test_unusable_state_dir_exits_2(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file, not a directory")
    config = tmp_path / "alerter.yml"
    config.write_text("state_dir: state\n")
    proc = subprocess.run([sys.executable, "-m", "alerter", "--config", str(config)],
                          check=False, capture_output=True, text=True, env=python_env(),
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"wardops-alerter: {config}: state_dir: cannot use "
                                  f"{tmp_path / 'state'}: ")
    assert proc.stderr.count("\n") == 1


def test_bad_listen_address_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "alerter.yml"
    config.write_text("state_dir: state\n")
    proc = subprocess.run([sys.executable, "-m", "alerter", "--config", str(config),
                           "--web.listen-address", "localhost"], check=False,
                          capture_output=True, text=True, env=python_env(), timeout=60)
    assert (proc.returncode, proc.stderr) == (
        2, "wardops-alerter: --web.listen-address: invalid listen address 'localhost' (use HOST:PORT or :PORT)\n")
