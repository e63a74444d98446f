"""Differential: one rule file evaluated by the real Prometheus (its own rule engine) and
by the wardops alerter (querying that Prometheus); their ``/api/v1/alerts`` listings are
compared: labels (without the external labels, which Prometheus adds only when sending),
annotations, state, ``value`` as Go formats it, and ``activeAt`` staying at the moment
the alert went pending. What Prometheus sends (to a real Alertmanager) is compared with
the alerter's own API v2: labels with the external labels, and ``generatorURL``, the
Prometheus page of the rule's expression."""

from __future__ import annotations

import re
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

import requests

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
      - alert: Kept
        expr: vector(5) and on() (vector(time()) < {until})
        keep_firing_for: 1h
"""


def _graph(prom: str, url: str) -> tuple[str, dict[str, list[str]]]:
    """A graph link as (base, parameters), the expression as Prometheus formats it."""
    base, _, query = url.partition("?")
    params = urllib.parse.parse_qs(query)
    params["g0.expr"] = [requests.get(prom + "/api/v1/format_query", timeout=5,
                                      params={"query": params["g0.expr"][0]}).json()["data"]]
    return base, params


def _time(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Go) or microseconds (Python)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).timestamp()


def test_alert_listing_equals_prometheuss(netns: None, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    until = time.time() + 8  # Kept's condition ends then; keep_firing_for holds it
    rules.write_text(RULES.replace("{until}", f"{until:.0f}"))
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
                     "Waiting", "Kept"}
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
                # the same page: Prometheus prints the parsed expression, the alerter
                # links the rule's text; Prometheus formats both the same
                assert _graph(prom, ours_v2[name]["generatorURL"]) == \
                    _graph(prom, sent[name]["generatorURL"]), name
            assert sent["Big"]["labels"]["monitor"] == "wardops"
            assert ours_v2["Big"]["generatorURL"] == (
                f"{PROM_URL}/graph?g0.expr=vector%281234567.891%29&g0.tab=1")
            for url, listing in ((prom, theirs), (ours, mine)):
                # activeAt stays when the alert went pending, 3 s (its `for`) before it fired
                held = _time(listing["Held"]["activeAt"])
                assert held <= firing_seen[url] - 2.5, (url, listing["Held"])
    finally:
        am.stop()
