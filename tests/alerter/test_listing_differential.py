"""Differential: one rule file evaluated by the real Prometheus (its own rule engine) and
by the wardops alerter (querying that Prometheus); their ``/api/v1/alerts`` listings are
compared: labels, annotations, state, ``value`` as Go formats it, and ``activeAt``
staying at the moment the alert went pending."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

from tests.alerter.differential import alert_listing, prometheus_and_alerter
from tests.support import wait_for

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


def _time(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Go) or microseconds (Python)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).timestamp()


def test_alert_listing_equals_prometheuss(netns: None, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    until = time.time() + 8  # Kept's condition ends then; keep_firing_for holds it
    rules.write_text(RULES.replace("{until}", f"{until:.0f}"))
    with prometheus_and_alerter(tmp_path, rules) as (prom, ours):
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
        for url, listing in ((prom, theirs), (ours, mine)):
            # activeAt stays when the alert went pending, 3 s (its `for`) before it fired
            held = _time(listing["Held"]["activeAt"])
            assert held <= firing_seen[url] - 2.5, (url, listing["Held"])
