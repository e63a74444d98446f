"""Prometheus alerting-rule files: loading and validation.

A rule file is ``groups:`` → ``name``, ``interval``, ``rules:`` → ``alert``, ``expr``,
``for``, ``keep_firing_for``, ``labels``, ``annotations`` (the Prometheus format that
``promtool check rules`` accepts). Recording rules belong in Prometheus and are rejected
here with a message saying so. Every error names the file, the group, the rule and the
field: ``rules/x.yml: group "devices": rule "DeviceDown": for: invalid duration 'soon' ...``.
Label and annotation templates are parsed once here, so a template error is a load error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerter.templating import Template, TemplateError, compile_template
from wardops_common.durations import parse_duration
from wardops_common.readers import unknown_key
from wardops_common.text import text_problem
from wardops_common.yamlfile import ConfigError, load_yaml, read_yaml


class RuleError(ConfigError):
    """A rule file that cannot be used; the message names file, group, rule and field."""


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_GROUP_KEYS = {"name", "interval", "rules", "limit"}
_RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


@dataclass(frozen=True)
class Rule:
    """One alerting rule with its templates parsed."""

    name: str
    expr: str
    hold: float                      # `for`, seconds
    keep_firing_for: float
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    group: str
    file: str
    key: str                         # stable identity of the rule across restarts
    #: how far back the expression reads (its longest range or subquery plus its longest
    #: offset), seconds: history shorter than this cannot prove the condition is over
    lookback: float = 0.0
    label_templates: Mapping[str, Template] = field(repr=False, default_factory=dict)
    annotation_templates: Mapping[str, Template] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class RuleGroup:
    """A group of rules evaluated together every ``interval`` seconds."""

    name: str
    file: str
    interval: float
    rules: tuple[Rule, ...]
    limit: int = 0                   # 0 = no limit on alerts per rule, as in Prometheus


def _scalar_map(value: Any, where: str, kind: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RuleError(f"{where}: {kind}: must be a mapping of name to text")
    result: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _LABEL_NAME.match(name):
            raise RuleError(f"{where}: {kind}: invalid name {name!r}")
        if kind == "labels" and name.startswith("__"):
            raise RuleError(f"{where}: labels: {name!r}: names starting with __ are reserved")
        if isinstance(text, bool):
            text = "true" if text else "false"
        elif isinstance(text, (int, float)):
            text = str(text)
        elif not isinstance(text, str):
            raise RuleError(f"{where}: {kind}.{name}: must be text, got {type(text).__name__}")
        problem = text_problem(text) if kind == "labels" else None
        if problem:  # annotations may span lines; labels end up in headers and subjects
            raise RuleError(f"{where}: labels.{name}: {text!r} {problem}")
        result[name] = text
    return result


def _templates(values: Mapping[str, str], where: str, kind: str,
               rule: str) -> dict[str, Template]:
    compiled: dict[str, Template] = {}
    for name, text in values.items():
        try:
            compiled[name] = compile_template(text, f"__alert_{rule}")
        except TemplateError as exc:
            raise RuleError(f"{where}: {kind}.{name}: {exc}") from None
    return compiled


def _duration(value: Any, where: str, key: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise RuleError(f"{where}: {key}: {exc}") from None


def _parse_rule(raw: Any, file: str, group: str, index: int, seen: dict[str, int]) -> Rule:
    where = f'{file}: group "{group}": rule #{index + 1}'
    if not isinstance(raw, Mapping):
        raise RuleError(f"{where}: must be a mapping with alert and expr")
    if "record" in raw:
        raise RuleError(f"{where}: record: recording rules are evaluated by Prometheus, "
                        "not the alerter; load this file in Prometheus's rule_files")
    name = raw.get("alert")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{where}: alert: missing alert name")
    if not _METRIC_NAME.fullmatch(name):  # Prometheus's rule: an alert name is a metric name
        raise RuleError(f"{where}: alert: invalid alert name {name!r} (must match "
                        f"{_METRIC_NAME.pattern})")
    where = f'{file}: group "{group}": rule "{name}"'
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: {unknown[0]}: {unknown_key(unknown[0], _RULE_KEYS)}")
    expr = raw.get("expr")
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = str(expr)
    if not isinstance(expr, str) or not expr.strip():
        raise RuleError(f"{where}: expr: missing PromQL expression")
    labels = _scalar_map(raw.get("labels"), where, "labels")
    annotations = _scalar_map(raw.get("annotations"), where, "annotations")
    seen[name] = seen.get(name, 0) + 1
    return Rule(
        name=name, expr=expr.strip(),
        hold=_duration(raw.get("for", 0), where, "for"),
        keep_firing_for=_duration(raw.get("keep_firing_for", 0), where, "keep_firing_for"),
        labels=labels, annotations=annotations, group=group, file=file,
        key=f"{Path(file).name}:{group}:{name}:{seen[name]}",
        lookback=expr_lookback(expr),
        label_templates=_templates(labels, where, "labels", name),
        annotation_templates=_templates(annotations, where, "annotations", name),
    )


_RANGE = re.compile(r"\[\s*(\d+(?:\.\d+)?[a-z]+(?:\d+[a-z]+)*)\s*(?::[^\]]*)?\]")
_OFFSET = re.compile(r"\boffset\s+(\d+(?:\.\d+)?[a-z]+(?:\d+[a-z]+)*)")


def expr_lookback(expr: str) -> float:
    """Seconds of history ``expr`` reads: its longest range (``[10m]``, subquery
    ``[10m:1m]``) plus its longest ``offset``; 0 for an instant-only expression.

    An over-estimate where several ranges nest, which is the safe side: it only decides
    how long after a loss of history the alerter waits before trusting a "no result".
    """
    def longest(pattern: re.Pattern[str]) -> float:
        found = 0.0
        for match in pattern.finditer(expr):
            try:
                found = max(found, parse_duration(match.group(1)))
            except ValueError:
                continue  # not a duration (e.g. a label value in brackets): promtool decides
        return found
    return longest(_RANGE) + longest(_OFFSET)


def parse_rule_file(text: str, file: str, default_interval: float) -> list[RuleGroup]:
    """Parse one rule file's text; ``file`` is the name used in messages and rule keys."""
    try:
        doc = load_yaml(text, file)
    except ConfigError as exc:
        raise RuleError(str(exc)) from None
    return _parse_rule_doc(doc, file, default_interval)


def _parse_rule_doc(doc: object, file: str, default_interval: float) -> list[RuleGroup]:
    if doc is None:
        return []
    if not isinstance(doc, Mapping) or set(doc) - {"groups"}:
        extra = sorted(set(doc) - {"groups"}) if isinstance(doc, Mapping) else []
        field_name = extra[0] if extra else "groups"
        raise RuleError(f"{file}: {field_name}: a rule file has one top-level key, groups")
    raw_groups = doc.get("groups") or []
    if not isinstance(raw_groups, list):
        raise RuleError(f"{file}: groups: must be a list")
    groups: list[RuleGroup] = []
    names: set[str] = set()
    for gi, raw in enumerate(raw_groups):
        if not isinstance(raw, Mapping):
            raise RuleError(f"{file}: groups[{gi}]: must be a mapping with name and rules")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise RuleError(f"{file}: groups[{gi}]: name: missing group name")
        where = f'{file}: group "{name}"'
        if name in names:
            raise RuleError(f"{where}: name: group name repeated in this file")
        names.add(name)
        unknown = sorted(set(raw) - _GROUP_KEYS)
        if unknown:
            raise RuleError(f"{where}: {unknown[0]}: {unknown_key(unknown[0], _GROUP_KEYS)}")
        interval = _duration(raw["interval"], where, "interval") if "interval" in raw \
            else default_interval
        if interval <= 0:
            raise RuleError(f"{where}: interval: must be greater than 0")
        limit = raw.get("limit", 0)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise RuleError(f"{where}: limit: must be a whole number >= 0")
        raw_rules = raw.get("rules") or []
        if not isinstance(raw_rules, list):
            raise RuleError(f"{where}: rules: must be a list")
        seen: dict[str, int] = {}
        rules = tuple(_parse_rule(r, file, name, i, seen) for i, r in enumerate(raw_rules))
        groups.append(RuleGroup(name=name, file=file, interval=interval, rules=rules, limit=limit))
    return groups


def load_rule_files(paths: list[Path], default_interval: float) -> list[RuleGroup]:
    """Load and validate every rule file; raises ``RuleError`` at the first problem."""
    groups: list[RuleGroup] = []
    for path in paths:
        try:
            doc = read_yaml(path)
        except ConfigError as exc:
            raise RuleError(str(exc)) from None
        groups.extend(_parse_rule_doc(doc, str(path), default_interval))
    keys: dict[str, str] = {}
    for group in groups:
        for rule in group.rules:
            if rule.key in keys:
                raise RuleError(f'{group.file}: group "{group.name}": name: also defined in '
                                f"{keys[rule.key]}; group names must differ between files "
                                "with the same base name")
            keys[rule.key] = group.file
    return groups
