"""rule_query: what the rules API and generatorURL show for a rule's expression."""

from __future__ import annotations

import logging

import pytest

from alerter.promql_print import rule_query


def test_an_expression_is_shown_as_prometheus_prints_it() -> None:
    assert rule_query('up{b="1",a="2"}==0') == 'up{a="2",b="1"} == 0'


def test_one_it_cannot_print_exactly_is_shown_as_written_and_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    rule_query.cache_clear()
    with caplog.at_level(logging.INFO, logger="alerter.promql_print"):
        assert rule_query("+up") == "+up"
        assert rule_query("+up") == "+up"  # every listing asks again: logged once
    records = [r for r in caplog.records if r.name == "alerter.promql_print"]
    assert len(records) == 1
    assert records[0].expr == "+up" and "unary '+'" in records[0].reason
