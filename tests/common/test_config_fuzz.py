"""Fuzzing the config readers: the bundled example configs, with one value anywhere in
them replaced by something hostile or out of range, must either load or be refused with
the one ``ConfigError`` type and a one-line message. Any other exception (TypeError from
a number where text was expected, OverflowError from 1e309s, RecursionError, ...) is a
crash an operator would see as a traceback, or a reload that silently did nothing.

The alerter's rule files are replaced by none here (promtool per example would make the
fuzzing slow); rule files have their own hostile-input tests.

Longer runs: ``scripts/fuzz`` (every property test, 50 times the examples).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerter.config import load_config
from exporter.config import load_inventory
from tests.support import fuzz_examples
from wardops_common.yamlfile import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = fuzz_examples(300)

HOSTILE_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2**70, max_value=2**70),
    st.floats(),  # NaN, ±inf, subnormals
    st.sampled_from(["", " ", "1e309s", "-5s", "0s", "999999999999y", "NaN", "Infinity",
                     "10ms", "1h", "5", "0.0.0.0", "::", "127.0.0.1", "http://", "a" * 5000,
                     "R1\r\nX: y", "\x00", "\ud800", "$(rm -rf /)", "{{ .Foo }}", "{{",
                     "[", ".*", "(a+)+$", "~", "2025-13-45", "-1", "1/0", "🙂"]),
    st.text(max_size=30),
)
VALUES = st.recursive(HOSTILE_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``doc`` a value can be replaced (mapping keys and list items)."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _paths(value, (*prefix, index))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = _replace(doc[head], rest, value)
    return copy


def _fuzz(base: dict[str, Any], load: Callable[[Path], object], tmp: Path,
          data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(base)), label="where")
    value = data.draw(VALUES, label="value")
    doc = _replace(base, path, value)
    if isinstance(doc, dict) and data.draw(st.booleans(), label="add a key"):
        doc = {**doc, data.draw(st.text(max_size=12), label="key"): value}
    file = tmp / "fuzzed.yml"
    try:
        file.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8",
                        errors="surrogatepass")
    except (UnicodeEncodeError, yaml.YAMLError):
        return
    try:
        load(file)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)


def _fuzz_from(base: dict[str, Any], load: Callable[[Path], object], tmp: Path) -> None:
    """Check ``base`` loads (the fuzzing starts from a valid file), then fuzz it."""
    load_base = tmp / "base.yml"
    load_base.write_text(yaml.safe_dump(base))
    load(load_base)

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def run(data: st.DataObject) -> None:
        _fuzz(base, load, tmp, data)

    run()


def _alerter_base(tmp: Path) -> dict[str, Any]:
    base = yaml.safe_load((REPO / "examples" / "alerter.yml").read_text())
    base["rule_files"] = []
    base["state_dir"] = str(tmp / "state")
    return base


@pytest.mark.parametrize("which", ["exporter inventory", "alerter config"])
def test_one_hostile_value_anywhere_is_loaded_or_refused_cleanly(
        which: str, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    for name in ("CHAT_WEBHOOK_URL", "ONCALL_WEBHOOK_URL", "DEADMANS_SWITCH_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/hook")
    for name in ("ONCALL_HMAC", "WARDOPS_API_TOKEN"):
        monkeypatch.setenv(name, "s3cret-for-fuzzing")
    if which == "exporter inventory":
        base = yaml.safe_load((REPO / "examples" / "devices.yml").read_text())
        load: Callable[[Path], object] = load_inventory
    else:
        base = _alerter_base(tmp)
        load = load_config
    _fuzz_from(base, load, tmp)


def test_one_hostile_value_anywhere_in_the_default_rules(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same for rule files (parsed as the alerter parses them; PromQL is promtool's)."""
    from alerter.rules import parse_rule_file

    tmp = tmp_path_factory.mktemp("fuzz-rules")
    base = yaml.safe_load((REPO / "rules" / "wardops.yml").read_text())

    def load(file: Path) -> object:
        return parse_rule_file(file.read_text(encoding="utf-8", errors="surrogatepass"),
                               str(file), 10.0)

    _fuzz_from(base, load, tmp)


_cells = st.one_of(st.text(max_size=20), st.sampled_from(
    ["127.0.0.1", "::1", "256.1.1.1", "true", "no", "maybe", "91.5", "-200", "nan", "inf",
     "a\"b", "\ufeffname", "\x00", "label_x"]))


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(st.sampled_from(
           ["name", "address", "ip", "site", "branch", "type", "region", "vendor", "latitude",
            "longitude", "enabled", "label_owner", "label_", "bogus", ""]),
           min_size=1, max_size=6),
       rows=st.lists(st.lists(_cells, min_size=0, max_size=7), max_size=5))
def test_any_csv_inventory_loads_or_is_refused_cleanly(
        header: list[str], rows: list[list[str]], tmp_path: Path) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    file = tmp_path / "devices.csv"
    try:
        file.write_text(out.getvalue(), encoding="utf-8")
    except UnicodeEncodeError:
        return
    try:
        load_inventory(file)
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
