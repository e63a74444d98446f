"""docs/notifications.md documents every metric the notification pipeline and the API
serve, with its type, and documents none that is not served."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerter.httpapi import REFUSAL_REASONS, Refusals
from alerter.notify import NotificationPipeline
from alerter.notify.config import parse_notify_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


def served(tmp_path: Path) -> dict[str, str]:
    """name (as scraped: counters with ``_total``) → type."""
    registry = CollectorRegistry()
    pipeline = NotificationPipeline(parse_notify_config({}), tmp_path,
                                    external_url="http://x", registry=registry)
    Refusals(registry)
    try:
        return {f.name + ("_total" if f.type == "counter" else ""): f.type
                for f in registry.collect()}
    finally:
        pipeline.stop()


def test_every_metric_is_documented_with_its_type(tmp_path: Path) -> None:
    text = DOC.read_text()
    table = dict(re.findall(r"^\| `(wardops_alerter_\w+)(?:\{[^}]*\})?` \| (\w+) \|", text,
                            re.M))
    metrics = served(tmp_path)
    missing = [name for name in metrics if f"`{name}" not in text]
    assert missing == [], f"not in {DOC.name}: {missing}"
    wrong = [f"{name}: {table[name]} in the doc, {kind} served"
             for name, kind in metrics.items() if name in table and table[name] != kind]
    assert wrong == []
    assert set(table) - set(metrics) == set(), "documented but not served"
    assert "wardops_alerter_escalations_total" in table  # the table is what is parsed


def test_every_refusal_reason_is_documented() -> None:
    text = DOC.read_text()
    assert [r for r in REFUSAL_REASONS if f"`{r}`" not in text] == []
