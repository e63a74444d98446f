"""Hostile names: control characters, line separators, bidi overrides, at every place a
name or label value is read. Each is refused when the file is loaded, with one line that
names the place and shows the value escaped; printable text of any script is accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import fuzz_examples, python_env
from wardops_common.text import text_problem

BAD = {
    "CR LF (header/log forging)": "R1\r\nX-Injected: yes",
    "NUL": "R1\x00X",
    "ESC (terminal colours)": "R1\x1b[31m",
    "C1 NEL": "R1\x85X",
    "line separator": "R1\u2028X",
    "right-to-left override": "R1\u202egnp.exe",
}


def _yaml_string(value: str) -> str:
    """``value`` as a YAML double-quoted scalar (every non-printable escaped)."""
    out = []
    for ch in value:
        out.append(ch if ch.isprintable() and ch not in '"\\' else f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=60, env=python_env(), cwd=cwd)


def _places(bad: str, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """place → (command, text the refusal must contain)."""
    q = _yaml_string(bad)
    files = {
        "device name": f"sites: {{S1: {{}}}}\ndevices:\n  - {{name: {q}, address: 127.0.0.1, "
                       "site: S1}\n",
        "site name": f"sites: {{{q}: {{}}}}\ndevices: []\n",
        "device type": f"sites: {{S1: {{}}}}\ndevices:\n  - {{name: R1, address: 127.0.0.1, "
                       f"site: S1, type: {q}}}\n",
        "site label": f"sites: {{S1: {{labels: {{owner: {q}}}}}}}\ndevices: []\n",
    }
    out: dict[str, tuple[list[str], str]] = {}
    for place, text in files.items():
        path = tmp_path / f"{place.replace(' ', '-')}.yml"
        path.write_text(text)
        out[f"inventory {place}"] = (["-m", "exporter", "check-config", str(path)],
                                     str(path))
    csv = tmp_path / "inv.csv"
    csv.write_text('name,address,site\n"' + bad.replace('"', '""') + '",127.0.0.1,S1\n',
                   newline="")
    out["inventory CSV name"] = (["-m", "exporter", "check-config", str(csv)], str(csv))
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0"
                     f"\n        labels: {{team: {q}}}\n")
    config = tmp_path / "alerter.yml"
    config.write_text(f"rule_files: [{rules}]\nexternal_labels: {{}}\n")
    out["rule label"] = (["-m", "alerter", "check-config", str(config)], str(rules))
    ext = tmp_path / "alerter-ext.yml"
    ext.write_text(f"external_labels: {{dc: {q}}}\n")
    out["external label"] = (["-m", "alerter", "check-config", str(ext)], str(ext))
    return out


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_hostile_name_is_refused_at_load_in_one_line(kind: str, tmp_path: Path) -> None:
    bad = BAD[kind]
    for place, (command, file) in _places(bad, tmp_path).items():
        proc = _run(*command, cwd=tmp_path)
        assert proc.returncode == 2, (place, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, (place, proc.stderr)
        assert file in lines[0] and repr(bad) in lines[0], (place, lines[0])
        assert "Traceback" not in proc.stderr


def test_georgian_and_other_printable_names_are_accepted(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("sites: {თბილისი-ვაკე: {labels: {region: Tbilisi}}}\ndevices:\n"
                   "  - {name: ბანკომატი-1 (ATM), address: 127.0.0.1, site: თბილისი-ვაკე,"
                   " type: atm}\n", encoding="utf-8")
    proc = _run("-m", "exporter", "check-config", str(inv), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "devices: 1" in proc.stdout


def test_an_alert_name_must_be_a_metric_name_as_in_prometheus(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: Device Down\n"
                     "        expr: up == 0\n")
    config = tmp_path / "alerter.yml"
    config.write_text(f"rule_files: [{rules}]\n")
    proc = _run("-m", "alerter", "check-config", str(config), cwd=tmp_path)
    assert proc.returncode == 2
    assert "invalid alert name 'Device Down'" in proc.stderr


@settings(max_examples=fuzz_examples(2000), deadline=None)
@given(st.text())
def test_accepted_text_is_one_line_of_encodable_text(value: str) -> None:
    if text_problem(value) is None:
        assert len(value.splitlines()) <= 1
        value.encode("utf-8")
        assert not any(ch in value for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067")
