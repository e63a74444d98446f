"""Deep ``template`` recursion: the alerter's Go-template engine against Prometheus's.

    .venv/bin/python bench/template_depth_bench.py

Three annotation templates: an ordinary one (the peer's baseline), one calling itself with
the same dot (the alerter sees the repeat and gives Go's error at once) and one passing a
new dot at every level (it really walks 100,000 levels). The alerter's side is one
expansion in this process (CPU time; peak traced memory from a second, traced run). The
peer in the same run: ``promtool test rules`` expanding the same annotation for one alert
(Prometheus 2.42's engine, Go), timed as the wall time of the run minus that of the
baseline template's run; promtool checks that it renders the annotation the alerter did.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alerter.templating import compile_template

CASES = {
    "baseline": "{{ $labels.site }} down, value {{ $value }}",
    "repeating": '{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}',
    "new dot each level":
        '{{ define "a" }}{{ template "a" (args .) }}{{ end }}{{ template "a" 1 }}',
}


def ours(text: str) -> tuple[str, float, float]:
    """(annotation, CPU seconds, peak MB) of one expansion in the alerter's engine."""
    template = compile_template(text, "__alert_Deep")
    start = time.process_time()
    rendered, _ = template.expand({"site": "Gori"}, 1.0)
    cpu = time.process_time() - start
    tracemalloc.start()  # a second run: tracing slows it down several times
    template.expand({"site": "Gori"}, 1.0)
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return rendered, cpu, peak


def promtool(text: str, expected: str, tmp: Path) -> float:
    """Wall seconds of ``promtool test rules`` expecting ``expected`` for the annotation."""
    (tmp / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "Deep", "expr": 'up{site="Gori"} > 0', "annotations": {"t": text}}]}]}))
    (tmp / "test.yml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": [
            {"series": 'up{site="Gori"}', "values": "1x2"}],
            "alert_rule_test": [{"eval_time": "1m", "alertname": "Deep", "exp_alerts": [
                {"exp_labels": {"site": "Gori"}, "exp_annotations": {"t": expected}}]}]}]}))
    start = time.perf_counter()
    run = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp,
                         capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"promtool renders it differently:\n{run.stdout}{run.stderr}")
    return wall


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wardops-bench-") as name:
        tmp = Path(name)
        base_wall = None
        print(f"{'template':22} {'alerter CPU':>12} {'peak MB':>8} {'promtool':>10} "
              f"{'Go (net)':>10} {'ratio':>8}")
        for case, text in CASES.items():
            rendered, cpu, peak = ours(text)
            wall = promtool(text, rendered, tmp)
            if base_wall is None:  # the baseline itself: no net time to compare with
                base_wall = wall
                print(f"{case:22} {cpu:11.3f}s {peak:8.1f} {wall:9.3f}s {'-':>10} {'-':>8}")
                continue
            net = max(wall - base_wall, 0.001)
            print(f"{case:22} {cpu:11.3f}s {peak:8.1f} {wall:9.3f}s {net:9.3f}s "
                  f"{cpu / net:7.2f}x")
        print("Go (net): promtool's wall time less the baseline's (start-up, parsing, one "
              "evaluation); at least 1 ms")


if __name__ == "__main__":
    main()
