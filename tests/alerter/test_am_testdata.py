"""Alertmanager's own config test data through ``amtool check-config`` and the importer.

The files are Alertmanager 0.25's ``config/testdata`` (Debian's
golang-github-prometheus-alertmanager-dev, unpacked by ``scripts/bootstrap test`` into
``.cache/am-src``; not committed). For each file the real Alertmanager's verdict decides
what the importer must do:

- Alertmanager refuses it: the importer refuses it too, with Alertmanager's reason;
- Alertmanager accepts it: it converts with exit 0, or it is refused or converted with
  losses for a reason listed in ``EXPECTED_DIFFERENCES`` (naming the feature wardops does
  not have); and nothing is dropped silently: every value in the file reaches the output
  or a warning names the field it sits in.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from alerter.am_import import ConversionError, convert_file
from tests.support import REPO
from wardops_common.yamlfile import read_yaml

TESTDATA = (REPO / ".cache/am-src/usr/share/gocode/src/github.com/prometheus/alertmanager"
            "/config/testdata")
FILES = sorted(p.name for p in TESTDATA.glob("*.yml"))

_NO_INTEGRATION = "wardops has no {} integration: a receiver with only that one is left " \
                  "empty, so the conversion ends 'with losses' (exit 1) and says which"
#: files Alertmanager accepts that do not convert cleanly: file -> (what the warnings
#: must name, why)
EXPECTED_DIFFERENCES: dict[str, tuple[list[str], str]] = {
    "conf.good.yml": (["pagerduty_configs", "victorops_configs", "opsgenie_configs"],
                      _NO_INTEGRATION.format("PagerDuty, VictorOps or OpsGenie")),
    "conf.opsgenie-default-apikey.yml": (["opsgenie_configs"],
                                         _NO_INTEGRATION.format("OpsGenie")),
    "conf.opsgenie-default-apikey-file.yml": (["opsgenie_configs"],
                                              _NO_INTEGRATION.format("OpsGenie")),
    "conf.victorops-default-apikey.yml": (["victorops_configs"],
                                          _NO_INTEGRATION.format("VictorOps")),
    "conf.victorops-default-apikey-file.yml": (["victorops_configs"],
                                               _NO_INTEGRATION.format("VictorOps")),
    "conf.sns-topic-arn.yml": (["sns_configs"], _NO_INTEGRATION.format("Amazon SNS")),
}
#: files both refuse where the importer words the reason differently: file -> (what its
#: message must name instead, why)
MESSAGE_DIFFERENCES: dict[str, tuple[str, str]] = {
    "conf.opsgenie-default-apikey-old-team.yml": (
        "receivers[0].opsgenie_configs[0].teams: unknown field",
        "Go's YAML library names its Go type ('field teams not found in type config.plain'); "
        "the importer names the field's path"),
}


def amtool_verdict(path: Path) -> tuple[bool, str]:
    """(accepted, reason) from the real ``amtool check-config``."""
    out = subprocess.run(["amtool", "check-config", str(path)], capture_output=True,
                         text=True, timeout=30)
    text = out.stdout + out.stderr
    reason = text.split("FAILED: ", 1)[1].splitlines()[0] if "FAILED: " in text else ""
    return out.returncode == 0, reason


def leaves(node: object, path: str = "") -> Iterator[tuple[str, object]]:
    """(path, value) of every scalar in a YAML document, paths as the importer writes
    them (``receivers[0].email_configs[0].to``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, f"{path}[{i}]")
    else:
        yield path, node


def named(path: str, warnings: list[str]) -> bool:
    """Whether a warning names ``path`` or a field that contains it."""
    for line in warnings:
        where = line.split(": ", 2)[1] if line.count(": ") >= 2 else ""
        if path == where or path.startswith(where + ".") or path.startswith(where + "["):
            return True
    return False


def test_the_test_data_is_there() -> None:
    assert len(FILES) >= 20, f"no Alertmanager test data in {TESTDATA}: run scripts/bootstrap test"


@pytest.mark.parametrize("name", FILES)
def test_importer_agrees_with_alertmanager(name: str) -> None:
    path = TESTDATA / name
    accepted, reason = amtool_verdict(path)
    if not accepted:
        assert reason, f"amtool gave no reason for refusing {name}"
        with pytest.raises(ConversionError) as refused:
            convert_file(str(path))
        expected = MESSAGE_DIFFERENCES.get(name, (reason, ""))[0]
        assert expected in str(refused.value), (reason, str(refused.value))
        return
    assert name not in MESSAGE_DIFFERENCES
    text, warnings, lost = convert_file(str(path))
    if name in EXPECTED_DIFFERENCES:
        features, _why = EXPECTED_DIFFERENCES[name]
        assert lost, f"{name} now converts without losses: drop it from EXPECTED_DIFFERENCES"
        for feature in features:
            assert any(f".{feature}: " in w and "not converted" in w for w in warnings), \
                (feature, warnings)
    else:
        assert lost == [], warnings
    # nothing dropped silently: every value reaches the output or a warning names its field
    # (a match value sits inside a matcher string, hence "in" the text of the values)
    out_values = "\n".join(str(v) for _, v in leaves(yaml.safe_load(text)))
    silent = [(where, value) for where, value in leaves(read_yaml(path))
              if value not in (None, "") and str(value) not in out_values
              and not named(where, warnings)]
    assert silent == [], (silent, warnings)
