"""Validation of SNMP settings: every tests/testdata/snmp/invalid-*.yml gives its exact error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from exporter.snmp.credentials import V2cCredentials, V3Credentials
from exporter.snmp.settings import parse_snmp_settings
from tests.snmp.conftest import TESTDATA

INVALID = sorted(TESTDATA.glob("invalid-*.yml"))


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_COMMUNITY", "community-from-env")
    monkeypatch.setenv("T_AUTH", "auth-from-env")
    monkeypatch.setenv("T_PRIV", "priv-from-env")
    monkeypatch.setenv("T_SHORT", "short")
    monkeypatch.delenv("T_NOT_SET", raising=False)


def test_there_are_invalid_fixtures() -> None:
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid(path: Path) -> None:
    text = path.read_text()
    expected = re.match(r"# error: (.*)\n", text)
    assert expected, f"{path.name} must start with '# error: <message>'"
    with pytest.raises(ValueError) as exc:
        parse_snmp_settings(yaml.safe_load(text))
    assert str(exc.value) == expected.group(1)


def test_defaults() -> None:
    s = parse_snmp_settings({"community_env": "T_COMMUNITY"})
    assert s.version == "2c" and s.port == 161 and s.interval == 60 and s.retries == 1
    assert isinstance(s.credentials, V2cCredentials)
    assert s.credentials.community.value == "community-from-env"
    assert s.uplinks == () and s.scalars == () and s.exclude_interfaces is None


def test_v3_full_and_case_insensitive_choices() -> None:
    s = parse_snmp_settings({"version": 3, "username": "wardops", "security_level": "authpriv",
                             "auth_protocol": "sha256", "auth_key_env": "T_AUTH",
                             "priv_protocol": "aes256", "priv_key_env": "T_PRIV",
                             "interval": "2m", "timeout": "3s", "retries": 2})
    creds = s.credentials
    assert isinstance(creds, V3Credentials)
    assert (creds.security_level, creds.auth_protocol, creds.priv_protocol) == (
        "authPriv", "SHA256", "AES256")
    assert s.interval == 120 and s.timeout == 3


def test_secrets_never_in_repr(tmp_path: Path) -> None:
    secret_file = tmp_path / "community"
    secret_file.write_text("file-secret\n")
    s = parse_snmp_settings({"community_file": str(secret_file)})
    assert s.credentials.community.value == "file-secret"  # trailing newline stripped
    v3 = parse_snmp_settings({"version": "3", "username": "u", "auth_key_env": "T_AUTH",
                              "priv_key_env": "T_PRIV"})
    for text in (repr(s), str(s), repr(v3)):
        for secret in ("file-secret", "auth-from-env", "priv-from-env"):
            assert secret not in text
    assert "env T_AUTH" in repr(v3)  # where it came from is shown, the value is not


def test_uplinks_and_interface_matchers() -> None:
    s = parse_snmp_settings({
        "community_env": "T_COMMUNITY",
        "uplinks": [{"alias": "^Magti_Internet$", "isp": "Magti"},
                    {"name": "^Gi0/0/1$", "isp": "Silknet"}],
        "include_interfaces": {"alias": "LAN"},
        "exclude_interfaces": r"\.\d+$"})
    magti, silknet = s.uplinks
    assert magti.matches("Gi0/0/0", "Magti_Internet") and not magti.matches("Gi0/0/0", "Magti")
    assert silknet.matches("Gi0/0/1", "whatever") and not silknet.matches("Gi0/0/1.200", "")
    assert s.include_interfaces is not None and s.include_interfaces.matches("x", "LAN core")
    assert s.exclude_interfaces is not None and s.exclude_interfaces.matches("Gi0/0/0.100", "")


def test_noauth_v3() -> None:
    s = parse_snmp_settings({"version": "3", "username": "ro", "security_level": "noAuthNoPriv"})
    assert isinstance(s.credentials, V3Credentials) and s.credentials.auth_key is None


def test_keys_of_the_other_version_are_ignored() -> None:
    """snmp_defaults give routers v2c; one site moves to v3: the merged mapping has both."""
    defaults = {"version": "2c", "community_env": "T_COMMUNITY", "interval": "60s"}
    site = {"version": 3, "username": "wardops", "auth_key_env": "T_AUTH", "priv_key_env": "T_PRIV"}
    v3 = parse_snmp_settings({**defaults, **site})
    assert isinstance(v3.credentials, V3Credentials) and v3.credentials.username == "wardops"
    v2c = parse_snmp_settings({**defaults, **site, "version": "2c"})
    assert isinstance(v2c.credentials, V2cCredentials)
