"""Differential: the template corpus (tests/alerter/template_corpus.py) in one rule file,
evaluated by the real Prometheus 2.42 and by the wardops alerter (querying that
Prometheus); every rendered annotation and label, error markers included (positions and
all), must be the same. Templates promtool rejects must be rejected at load by wardops
with Prometheus's message."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.rules import RuleError, parse_rule_file
from tests.alerter.differential import alert_listing, prometheus_and_alerter
from tests.alerter.template_corpus import CORPUS, LABEL_CORPUS, REJECTED
from tests.support import wait_for

EXTERNAL_URL = "http://prom.example:9090/wardops"
EXTERNAL = {"monitor": "wardops"}


def _rule_file() -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {"alert": name, "expr": expr, "annotations": {"t": text}}
        for name, expr, text in CORPUS]
    rules += [{"alert": name, "expr": expr, "labels": {"sev": text}}
              for name, expr, text in LABEL_CORPUS]
    return {"groups": [{"name": "corpus", "interval": "1s", "rules": rules}]}


def test_templates_render_as_prometheus_renders_them(netns: None, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(_rule_file(), allow_unicode=True))
    check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    with prometheus_and_alerter(
            tmp_path, rules, prometheus_global={"external_labels": EXTERNAL},
            prometheus_args=[f"--web.external-url={EXTERNAL_URL}", "--web.route-prefix=/"],
            alerter_config={"external_url": EXTERNAL_URL, "external_labels": EXTERNAL},
    ) as (prom, ours):
        names = {name for name, _, _ in CORPUS + LABEL_CORPUS}
        for url in (prom, ours):
            wait_for(lambda url=url: names <= set(alert_listing(url)), timeout=30,
                     what=f"every corpus alert listed by {url}")
        theirs, mine = alert_listing(prom), alert_listing(ours)
    differences = []
    for name, _, text in CORPUS:
        want, got = theirs[name]["annotations"]["t"], mine[name]["annotations"]["t"]
        if want != got:
            differences.append(f"{name}: {text!r}\n  prometheus: {want!r}\n  wardops:    {got!r}")
    for name, _, text in LABEL_CORPUS:
        want, got = theirs[name]["labels"]["sev"], mine[name]["labels"]["sev"]
        if want != got:
            differences.append(f"{name}: {text!r}\n  prometheus: {want!r}\n  wardops:    {got!r}")
    assert not differences, "\n".join(differences)
    # the corpus is not vacuous: errors are among the outputs, compared like the rest
    corpus = {name for name, _, _ in CORPUS}
    assert sum("<error expanding template" in theirs[n]["annotations"]["t"]
               for n in corpus) >= 12


@pytest.mark.parametrize("text", REJECTED)
def test_templates_promtool_rejects_are_rejected_with_its_message(tmp_path: Path,
                                                                   text: str) -> None:
    doc = {"groups": [{"name": "g", "rules": [
        {"alert": "Bad", "expr": "vector(1)", "annotations": {"t": text}}]}]}
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(doc))
    check = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode != 0, f"promtool accepts {text!r}"
    with pytest.raises(RuleError) as info:
        parse_rule_file(path.read_text(), str(path), 60.0)
    # promtool: '  annotation "t": template: __alert_Bad:1: function "x" not defined'
    message = str(info.value).split("annotations.t: ", 1)[1]
    assert message in check.stdout + check.stderr, (message, check.stdout + check.stderr)
