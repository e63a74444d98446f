"""Unquoted match values route as in Alertmanager: Go's YAML hands Alertmanager the text
as written (``0.50``, ``true``, ``yes``, ``0x1F``, ``1_000``, ``2024-01-02``; label names
``on`` and ``yes`` too), which the
importer keeps (``wardops_common.yamlfile``'s ``texts``) instead of PyYAML's ``0.5``,
``True``, ``31``. The converted routes are asked the same label sets as the real
Alertmanager (``amtool config routes test``) and must pick the same receivers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from alerter.am_import import convert_file
from alerter.notify.config import parse_notify_config
from alerter.notify.route import match_routes

SOURCE = """\
route:
  receiver: default
  routes:
    - {receiver: half, match: {ratio: 0.50}}
    - {receiver: maint, match: {maintenance: true}}
    - {receiver: flag, match: {flag: yes}}
    - {receiver: code, match: {code: 0x1F}}
    - {receiver: big, match: {count: 1_000}}
    - {receiver: day, match: {day: 2024-01-02}}
    - {receiver: version, match_re: {version: 1.0}}
    - {receiver: off, match: {state: off}}
    - {receiver: onkey, match: {on: x}}
    - {receiver: yeskey, match_re: {yes: "a.*"}}
receivers:
  - {name: default}
  - {name: half}
  - {name: maint}
  - {name: flag}
  - {name: code}
  - {name: big}
  - {name: day}
  - {name: version}
  - {name: off}
  - {name: onkey}
  - {name: yeskey}
"""
LABEL_SETS = [
    {"ratio": "0.50"}, {"ratio": "0.5"}, {"maintenance": "true"}, {"maintenance": "True"},
    {"flag": "yes"}, {"flag": "true"}, {"code": "0x1F"}, {"code": "31"},
    {"count": "1_000"}, {"count": "1000"}, {"day": "2024-01-02"},
    {"version": "1.0"}, {"version": "1x0"}, {"version": "1"}, {"state": "off"},
    {"state": "false"}, {"other": "x"},
    # label names YAML 1.1 types: Go reads the key as written
    {"on": "x"}, {"true": "x"}, {"True": "x"}, {"yes": "ab"},
]


def test_converted_routes_pick_alertmanagers_receivers(tmp_path: Path) -> None:
    source = tmp_path / "alertmanager.yml"
    source.write_text(SOURCE)
    checked = subprocess.run(["amtool", "check-config", str(source)], capture_output=True,
                             text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text, warnings, _ = convert_file(str(source))
    assert not [w for w in warnings if "unquoted" in w], warnings
    route = parse_notify_config(yaml.safe_load(text)).route
    assert route is not None
    for labels in LABEL_SETS:
        am = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={source}",
                             *(f"{k}={v}" for k, v in labels.items())],
                            capture_output=True, text=True, timeout=30)
        assert am.returncode == 0, am.stderr
        ours = ",".join(r.receiver for r in match_routes(route, labels))
        assert ours == am.stdout.strip(), labels
