"""Time intervals (Alertmanager's ``timeinterval``): the module lives in
:mod:`wardops_common.timeinterval`, shared with the exporter's maintenance windows."""

from __future__ import annotations

from wardops_common.timeinterval import TimeInterval, parse_named_intervals, route_muted

__all__ = ["TimeInterval", "parse_named_intervals", "route_muted"]
