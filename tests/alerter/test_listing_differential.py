"""Differential: one rule file evaluated by the real Prometheus (its own rule engine) and
by the wardops alerter (querying that Prometheus); their ``/api/v1/alerts`` listings are
compared: labels, annotations, state, ``value`` as Go formats it, and ``activeAt``
staying at the moment the alert went pending."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support import Proc, free_port, wait_for, wait_http

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


def _listing(url: str) -> dict[str, dict[str, Any]]:
    try:
        alerts = requests.get(url + "/api/v1/alerts", timeout=2).json()["data"]["alerts"]
    except (requests.RequestException, ValueError, KeyError):
        return {}
    return {a["labels"]["alertname"]: a for a in alerts
            if a["labels"]["alertname"] != "MonitoringDegraded"}


def _time(text: str) -> float:
    """RFC 3339 with up to nanoseconds (Go) or microseconds (Python)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).timestamp()


def test_alert_listing_equals_prometheuss(netns: None, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    until = time.time() + 8  # Kept's condition ends then; keep_firing_for holds it
    rules.write_text(RULES.replace("{until}", f"{until:.0f}"))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"evaluation_interval": "1s"}, "rule_files": [str(rules)]}))
    prom_port, alerter_port = free_port(), free_port()
    procs = [Proc(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                   f"--storage.tsdb.path={tmp_path / 'prom'}",
                   f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                  log=tmp_path / "prometheus.log")]
    try:
        prom = f"http://127.0.0.1:{prom_port}"
        wait_http(prom + "/-/ready", timeout=30)
        config = tmp_path / "alerter.yml"
        config.write_text(yaml.safe_dump({
            "prometheus": {"url": prom, "timeout": "2s"}, "evaluation_interval": "1s",
            "rule_files": [str(rules)], "state_dir": str(tmp_path / "state"),
            "data_health": {"targets": "", "probe_timestamp": ""}}))
        procs.append(Proc.python("alerter", "--config", str(config), "--web.listen-address",
                                 f"127.0.0.1:{alerter_port}", log=tmp_path / "alerter.log"))
        ours = f"http://127.0.0.1:{alerter_port}"
        names = {"Big", "Small", "Negative", "Whole", "NotANumber", "Infinite", "Held",
                 "Waiting", "Kept"}
        for url in (prom, ours):
            wait_for(lambda url=url: set(_listing(url)) == names, timeout=30,
                     what=f"every alert listed by {url}")
        firing_seen = {}
        for url in (prom, ours):
            wait_for(lambda url=url: _listing(url)["Held"]["state"] == "firing", timeout=30,
                     what=f"Held firing at {url}")
            firing_seen[url] = datetime.now().timestamp()
        for url in (prom, ours):
            wait_for(lambda url=url: "keepFiringSince" in _listing(url)["Kept"], timeout=30,
                     what=f"Kept held by keep_firing_for at {url}")
        theirs, mine = _listing(prom), _listing(ours)
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
    finally:
        for proc in reversed(procs):
            proc.stop()
