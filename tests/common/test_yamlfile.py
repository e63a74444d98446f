"""Hostile and broken YAML, through every program that reads YAML.

Each document below is what an attacker or a bad merge produces: too deep, an alias bomb,
an alias inside itself, a key given twice, a date Python cannot hold, not UTF-8, too large.
For each, every entry point that reads YAML — the exporter's inventory, the alerter's
config, a rule file, an Alertmanager config to import — must exit 2 at once with one line
naming the file and what is wrong; none may hang, crash with a traceback, or take the
last of two keys silently. Valid YAML must load exactly as PyYAML's safe loader loads it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import fuzz_examples, python_env
from wardops_common.yamlfile import MAX_BYTES, ConfigError, load_yaml, read_yaml

REPO = Path(__file__).resolve().parents[2]


def _laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE: dict[str, tuple[bytes, str]] = {
    # name: (document, what the one-line message must say)
    "deep-flow": (b"x: " + b"[" * 100_000, "nest"),
    "deep-block": ("".join("  " * i + "- \n" for i in range(500)).encode(), "deeper than"),
    "billion-laughs": (_laughs().encode(), "expand to more than"),
    "recursive-alias": (b"a: &a [1, *a]\n", "contains it"),
    "duplicate-key": (b"devices: []\nprobe: {interval: 5s}\nprobe: {interval: 1h}\n",
                      "'probe' is given twice"),
    # PyYAML would keep one of two keys that both become True (or 1) without a word
    "typed-duplicate-key": (b"labels: {on: a, yes: b}\n", "'yes' is given twice in one mapping (as True"),
    "year-zero": (b"when: 0000-01-01\n", "year 0 is out of range"),
    "not-utf8": (b"name: \xff\xfe\n", "not UTF-8"),
    "undefined-alias": (b"a: *nowhere\n", "undefined alias"),
}


def _entry_points(tmp_path: Path, doc: Path) -> dict[str, tuple[list[str], Path]]:
    """name → (command, the file its message must name)."""
    config = tmp_path / "alerter.yml"
    config.write_text(f"rule_files: [{doc}]\n")
    python = sys.executable
    return {
        "exporter inventory": ([python, "-m", "exporter", "check-config", str(doc)],
                               doc),
        "alerter config": ([python, "-m", "alerter", "check-config", str(doc)], doc),
        "alerter rule file": ([python, "-m", "alerter", "check-config", str(config)], doc),
        "alertmanager import": ([python, "-m", "alerter", "import-alertmanager-config",
                                 str(doc)], doc),
    }


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_yaml_reader_refuses_hostile_yaml_in_one_line(case: str, tmp_path: Path) -> None:
    content, says = HOSTILE[case]
    doc = tmp_path / f"{case}.yml"
    doc.write_bytes(content)
    for entry, (command, named) in _entry_points(tmp_path, doc).items():
        started = time.monotonic()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              env=python_env(), cwd=tmp_path)
        took = time.monotonic() - started
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (entry, proc.returncode, proc.stderr[-2000:])
        assert len(lines) == 1, (entry, proc.stderr[-2000:])
        assert str(named) in lines[0] and says in lines[0], (entry, lines[0])
        assert "Traceback" not in proc.stderr
        assert took < 30, f"{entry} took {took:.0f} s on {case}"


def test_the_exporter_cli_rejects_the_inventory_it_is_given(tmp_path: Path) -> None:
    """The entry-point table above must really run the exporter on ``doc``: a good
    inventory passes, so the failures above are about the YAML, not the command."""
    doc = tmp_path / "devices.yml"
    doc.write_text("sites: {S1: {}}\ndevices:\n  - {name: R1, address: 127.0.0.1, site: S1}\n")
    proc = subprocess.run([sys.executable, "-m", "exporter", "check-config", str(doc)],
                          capture_output=True, text=True, timeout=60, env=python_env(),
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    doc = tmp_path / "huge.yml"
    with doc.open("wb") as fh:
        fh.write(b"devices:\n")
        fh.truncate(MAX_BYTES + 10)  # sparse: no disk used
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"huge\.yml: larger than 64 MiB"):
        read_yaml(doc)
    assert time.monotonic() - started < 5


def test_merge_keys_are_not_duplicates() -> None:
    doc = "base: &b {interval: 5s}\nfast:\n  <<: *b\n  timeout: 1s\n"
    assert load_yaml(doc, "x.yml") == yaml.safe_load(doc)


def test_an_alias_used_many_times_within_the_limit_loads() -> None:
    """Anchors are legitimate (a shared label set); only expansion past the bound is refused."""
    doc = "labels: &l {region: Mountains, tier: branch}\n" + "".join(
        f"s{i}: *l\n" for i in range(1000))
    assert load_yaml(doc, "x.yml") == yaml.safe_load(doc)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63),
                     st.floats(allow_nan=False), st.text(max_size=20))
_docs = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5),
    st.dictionaries(st.text(max_size=10), inner, max_size=5)), max_leaves=30)


@settings(max_examples=fuzz_examples(300), deadline=None)
@given(_docs)
def test_valid_yaml_loads_as_pyyaml_loads_it(data: object) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    assert load_yaml(text, "x.yml") == yaml.safe_load(text)


@settings(max_examples=fuzz_examples(500), deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_fails_with_a_one_line_config_error(text: str) -> None:
    try:
        load_yaml(text, "x.yml")
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("x.yml: ")
