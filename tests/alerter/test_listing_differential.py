"""Differential: one rule file evaluated by the real Prometheus (its own rule engine) and
by the wardops alerter (querying that Prometheus); their ``/api/v1/alerts`` listings are
compared: labels (without the external labels, which Prometheus adds only when sending;
a rule's own label of the same name and value stays),
annotations, state, ``value`` as Go formats it, and ``activeAt`` staying at the moment
the alert went pending. What Prometheus sends (to a real Alertmanager) is compared with
the alerter's own API v2: labels with the external labels, and ``generatorURL``, the
Prometheus page of the rule's expression."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import requests
import yaml

from tests.alerter.differential import alert_listing, prometheus_and_alerter
from tests.amapi.conftest import Alertmanager
from tests.support import wait_for

PROM_URL = "http://prometheus.bank.test:9090/prom"
EXTERNAL = {"monitor": "wardops"}
RULES = """\
groups:
  - name: listing
    interval: 1s
    rules:
      - alert: Big
        expr: vector(1234567.891)
        labels: {severity: warning}
        annotations: {summary: "value {{ $value }}"}
      - alert: Small
        expr: vector(0.000012)
      - alert: Negative
        expr: vector(-2.5)
      - alert: Whole
        expr: vector(3)
      - alert: NotANumber
        expr: vector(NaN)
      - alert: Infinite
        expr: vector(+Inf)
      - alert: Held
        expr: vector(42)
        for: 3s
      - alert: Waiting
        expr: vector(7)
        for: 1h
      - alert: OwnMonitor
        expr: vector(1)
        labels: {monitor: wardops}
      - alert: Kept
        expr: vector(5) and on() (vector(time()) < {until})
        keep_firing_for: 1h
"""


# Expressions whose printed form (Prometheus's expr.String(): the rules API's "query" and
# generatorURL's g0.expr) is compared byte for byte. Each selects metrics nobody has, so
# none fires and the listing compared above stays the same.
PRINTED = [
    "sum by (site) (nx_up)", "sum(nx_up) by (site, type)", "sum by () (nx_up)",
    "sum without (instance) (rate(nx_total[5m]))", "count without () (nx_up)",
    "topk(3, nx_up)", "quantile(0.95, rate(nx_total[5m]))",
    'count_values("version", nx_build_info)', "nx_up offset 5m", "nx_up offset -1h",
    "rate(nx_total[90m] offset 1h30m)", "nx_up @ 1700000000",
    "nx_up offset 5m @ 1700000000.5", "rate(nx_total[5m] @ end())", "nx_up @ start()",
    "max_over_time(rate(nx_total[5m])[1h:])",
    "max_over_time(rate(nx_total[5m])[1h:1m] offset 10m)", "nx_up[5m:30s]",
    "nx_a * on (instance) group_left (site) nx_b",
    "nx_a / ignoring (code) group_right nx_c", "nx_a + on () nx_b",
    "nx_a and on (x) nx_b", "nx_a or nx_b", "nx_a unless ignoring (job) nx_b",
    "nx_a + ignoring () nx_b", "nx_up > bool 0.5", "nx_up == bool 1", "((nx_up + 1) * 2)",
    "-(nx_up - 1)", "- nx_up", "1e6 * nx_up", "0.000012 < nx_up", "0x1F + nx_up",
    "nx_up + Inf", "nx_up^2 % 3", "nx_a atan2 nx_b",
    'label_replace(nx_up, "dst", "$1-x", "src", "(.*)")',
    'nx_up{job=~"a|b",instance!="c",env!~"d.*"}', r'nx_up{path=~"/api/v1/.+\\.json"}',
    r'nx_up{a="quote\"and\\backslash"}', "nx_up{a='single'}",
    r'nx_up{a="ünïcode", b="tab\there"}', '{__name__=~"nx_.*", job="x"}',
    "time() - nx_up > 300",
    "histogram_quantile(0.9, sum by (le) (rate(nx_bucket[5m])))",
    "count(nx_a) by (a) > 1 unless count(nx_b) by (a)",
    "predict_linear(nx_up[1h], 4 * 3600) < 0", r"nx_up{a=~`\d+\.`}", "+nx_up",
]
#: where the alerter shows the rule's text instead: expression -> why
PRINTED_DIFFERENCES = {
    '+nx_up{b="1",a="2"}': "promql-parser drops a unary '+' that Prometheus keeps: the "
                           "alerter shows the rule's text",
    "nx_up @ -1": "promql-parser cannot return an @ time before 1970: the alerter shows the "
                  "rule's text",
}


def _time(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Go) or microseconds (Python)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).timestamp()


def _printed_group() -> str:
    """The corpus as one more group of RULES (indented under its ``groups:``)."""
    exprs = [*PRINTED, *PRINTED_DIFFERENCES]
    text = yaml.safe_dump([{"name": "printed", "interval": "1s", "rules": [
        {"alert": f"P{i:02d}", "expr": e} for i, e in enumerate(exprs)]}],
        allow_unicode=True)
    return "".join("  " + line for line in text.splitlines(keepends=True))


def _queries(url: str) -> dict[str, str]:
    """Rule name -> the rules API's "query" (the printed expression)."""
    groups = requests.get(url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
    return {r["name"]: r["query"] for g in groups if g["name"] == "printed" for r in g["rules"]}


def test_alert_listing_equals_prometheuss(netns: None, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    until = time.time() + 8  # Kept's condition ends then; keep_firing_for holds it
    rules.write_text(RULES.replace("{until}", f"{until:.0f}") + _printed_group())
    am = Alertmanager(tmp_path / "am", "http://127.0.0.1:9/unused").start()
    try:
        with prometheus_and_alerter(
                tmp_path, rules, prometheus_global={"external_labels": EXTERNAL},
                prometheus_config={"alerting": {"alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{am.port}"]}]}]}},
                prometheus_args=[f"--web.external-url={PROM_URL}", "--web.route-prefix=/",
                             "--rules.alert.resend-delay=1s"],
                alerter_config={"external_labels": EXTERNAL},
                datasource={"external_url": PROM_URL}) as (prom, ours):
            names = {"Big", "Small", "Negative", "Whole", "NotANumber", "Infinite", "Held",
                     "Waiting", "Kept", "OwnMonitor"}
            for url in (prom, ours):
                wait_for(lambda url=url: set(alert_listing(url)) == names, timeout=30,
                         what=f"every alert listed by {url}")
            firing_seen = {}
            for url in (prom, ours):
                wait_for(lambda url=url: alert_listing(url)["Held"]["state"] == "firing", timeout=30,
                         what=f"Held firing at {url}")
                firing_seen[url] = datetime.now().timestamp()
            for url in (prom, ours):
                wait_for(lambda url=url: "keepFiringSince" in alert_listing(url)["Kept"], timeout=30,
                         what=f"Kept held by keep_firing_for at {url}")
            theirs, mine = alert_listing(prom), alert_listing(ours)
            for name in sorted(names):
                for field in ("labels", "annotations", "state", "value"):
                    assert mine[name][field] == theirs[name][field], (name, field)
                assert ("keepFiringSince" in mine[name]) == ("keepFiringSince" in theirs[name])
            kept = {url: _time(listing["Kept"]["keepFiringSince"])
                    for url, listing in ((prom, theirs), (ours, mine))}
            assert all(until - 1.5 <= since <= until + 2.5 for since in kept.values()), kept
            sent = wait_for(lambda: (got := {a["labels"]["alertname"]: a for a in am.alerts()})
                            and names - {"Waiting"} <= set(got) and got, timeout=60,
                            what="Prometheus's alerts in Alertmanager")
            ours_v2 = {a["labels"]["alertname"]: a
                       for a in requests.get(ours + "/api/v2/alerts", timeout=5).json()}
            for name in sorted(set(sent) & names):  # pending alerts are not sent
                assert ours_v2[name]["labels"] == sent[name]["labels"], name
                # byte for byte: Prometheus links its printed expression (Kept's time
                # bound prints as 1.7...e+09)
                assert ours_v2[name]["generatorURL"] == sent[name]["generatorURL"], name
            assert sent["Big"]["labels"]["monitor"] == "wardops"
            # a rule's own label named and valued like an external label stays listed
            assert mine["OwnMonitor"]["labels"]["monitor"] == "wardops"
            assert "monitor" not in mine["Big"]["labels"]
            assert ours_v2["Big"]["generatorURL"] == (
                f"{PROM_URL}/graph?g0.expr=vector%281.234567891e%2B06%29&g0.tab=1")
            theirs_q, mine_q = _queries(prom), _queries(ours)
            exprs = [*PRINTED, *PRINTED_DIFFERENCES]
            assert len(theirs_q) == len(mine_q) == len(exprs)
            for i, expr in enumerate(exprs):
                if expr in PRINTED_DIFFERENCES:  # still different, else drop it from there
                    assert mine_q[f"P{i:02d}"] == expr != theirs_q[f"P{i:02d}"], expr
                else:
                    assert mine_q[f"P{i:02d}"] == theirs_q[f"P{i:02d}"], expr
            for url, listing in ((prom, theirs), (ours, mine)):
                # activeAt stays when the alert went pending, 3 s (its `for`) before it fired
                held = _time(listing["Held"]["activeAt"])
                assert held <= firing_seen[url] - 2.5, (url, listing["Held"])
    finally:
        am.stop()
