"""PromQL validation at load time: promtool's parser when installed, else a light check.

check-config, start-up and reload all go through ``load_config``; a bad ``expr`` is a
one-line error naming file, group, rule and field, exit 2, and a bad reload keeps the
running config. The fixtures ``invalid-rules-expr-*.yml`` (promtool's messages) run in
test_alerter_config.py with the other invalid files.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alerter.app import AlerterApp
from alerter.config import load_config
from alerter.promql_check import LIGHT_CHECK, light_syntax_error
from tests.support import python_env

GOOD = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
BAD = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 'up =='\n"


# expression → problem the light check reports (None: passes)
LIGHT_CASES = [
    ("up == 0", None),
    ('sum by (site) (rate(foo{job="a(b"}[5m])) > 0', None),   # bracket inside a string
    ("up # a comment with ( in it\n== 0", None),
    ("absent(up{job=`x}`})", None),                           # raw string
    ("up and on(site) foo", None),
    ("-up", None),                                            # unary minus is fine
    ("up ==", "ends with an operator or keyword: an operand is missing"),
    ("up and", "ends with an operator or keyword: an operand is missing"),
    ("up +  # trailing comment", "ends with an operator or keyword: an operand is missing"),
    ("sum(rate(foo[5m])", "unclosed '(' at position 4"),
    ("foo{a=\"b\"", "unclosed '{' at position 4"),
    ("foo)", "unexpected ')' at position 4"),
    ("rate(foo[5m)]", "unexpected ')' at position 12"),
    ('foo{a="b}', "unterminated string starting at position 7"),
    ("   ", "empty expression"),
    ("# only a comment", "empty expression"),
]


@pytest.mark.parametrize(("expr", "problem"), LIGHT_CASES, ids=[c[0] for c in LIGHT_CASES])
def test_light_syntax_check(expr: str, problem: str | None) -> None:
    assert light_syntax_error(expr) == problem


def write_config(tmp_path: Path, rules: str) -> Path:
    (tmp_path / "rules.yml").write_text(rules)
    config = tmp_path / "alerter.yml"
    config.write_text("rule_files: [rules.yml]\nstate_dir: state\n")
    return config


def check_config(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alerter", "check-config", str(config)],
                          check=False, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) missing")
def test_check_config_uses_promtool(tmp_path: Path) -> None:
    config = write_config(tmp_path, GOOD)
    proc = check_config(config, python_env())
    assert proc.returncode == 0, proc.stderr
    assert "(PromQL: promtool)" in proc.stdout
    (tmp_path / "rules.yml").write_text(BAD)
    proc = check_config(config, python_env())
    assert proc.returncode == 2
    assert proc.stderr == (f'check-config: {tmp_path / "rules.yml"}: group "g": rule "A": '
                           "expr: 1:6: parse error: unexpected end of input\n")


def test_without_promtool_the_light_check_runs_and_says_so(tmp_path: Path) -> None:
    env = python_env()
    # A PATH without promtool (the interpreter is started by absolute path).
    env["PATH"] = str(tmp_path / "empty-bin")
    config = write_config(tmp_path, GOOD)
    proc = check_config(config, env)
    assert proc.returncode == 0, proc.stderr
    assert f"(PromQL: {LIGHT_CHECK})" in proc.stdout
    (tmp_path / "rules.yml").write_text(BAD)
    proc = check_config(config, env)
    assert proc.returncode == 2
    assert proc.stderr == (f'check-config: {tmp_path / "rules.yml"}: group "g": rule "A": '
                           "expr: ends with an operator or keyword: an operand is missing\n")


def test_bad_expression_on_reload_keeps_running_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, GOOD)
    app = AlerterApp(load_config(config), "127.0.0.1:1")  # never served
    try:
        (tmp_path / "rules.yml").write_text(BAD.replace("alert: A", "alert: B"))
        with pytest.raises(ValueError, match=r'rule "B": expr: '):
            app.reload()
        assert [r.name for g in app.config.groups for r in g.rules] == ["A"]
        assert app.registry.get_sample_value("wardops_alerter_config_last_reload_successful") == 0
    finally:
        app.evaluator.close()
        app.store.close()
