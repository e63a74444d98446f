"""The alerter's YAML config: data source, evaluation, rules, state and data-health checks.

The notification keys (``route``, ``receivers``, ``inhibit_rules``, ``api``, ``templates``)
are validated by ``alerter.notify.config``; everything else is here. Unknown keys are
errors. Every error is one line naming the file and the field, e.g.
``alerter.yml: prometheus.timeout: invalid duration 'ten'``; the CLI exits 2 on it.
Relative paths (``rule_files`` globs, ``state_dir``, ``*_file``) are relative to the
config file's directory.
"""

from __future__ import annotations

import glob
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alerter.alignment import EvaluationAlignment, is_series_selector, selector_from_targets
from alerter.notify.config import (
    NOTIFY_KEYS,
    NotifyConfig,
    collect_missing,
    parse_notify_config,
)
from alerter.notify.matchers import LABEL_NAME
from alerter.promql_check import check_expressions
from alerter.rules import RuleError, RuleGroup, load_rule_files
from wardops_common.durations import parse_duration
from wardops_common.httpclient import HTTP_KEYS, HTTPClientConfig, read_http_config
from wardops_common.readers import unknown_key
from wardops_common.text import text_problem
from wardops_common.yamlfile import ConfigError, read_yaml

_TOP_KEYS = {"prometheus", "evaluation_interval", "rule_files", "state_dir", "external_url",
             "external_labels", "data_health", "for_outage_tolerance",
             "evaluation_alignment", "resolve_evidence"}
_SOURCE_KEYS = {"url", "external_url", "timeout", "headers", *HTTP_KEYS}
_HEALTH_KEYS = {"targets", "probe_timestamp", "stale_after", "degraded_for"}
_ALIGN_KEYS = {"enabled", "margin", "selector"}
_EVIDENCE_KEYS = {"alertname", "on", "resolved_by", "inventory"}


@dataclass(frozen=True)
class DataSource:
    """Where PromQL goes: Prometheus, VictoriaMetrics, Thanos, Mimir ..."""

    url: str = "http://127.0.0.1:9090"
    timeout: float = 10.0
    headers: Mapping[str, str] = field(default_factory=dict)
    #: credentials, TLS, proxy and redirects (``http_config`` keys beside ``url``)
    http: HTTPClientConfig = field(default_factory=HTTPClientConfig)
    #: where people open it (alerts' ``generatorURL``); ``url`` when not set
    external_url: str = ""


@dataclass(frozen=True)
class DataHealth:
    """What tells the alerter its data can be trusted (see ``alerter.health``)."""

    #: selector of the exporters' scrape health; a 0, or no series at all, freezes all alerts
    targets: str = 'up{job="wardops-exporter"}'
    #: freshness gauge; an exporter whose newest probe is older than stale_after freezes all
    probe_timestamp: str = "wardops_device_last_probe_timestamp_seconds"
    stale_after: float = 180.0
    #: how long a cause must last before MonitoringDegraded fires (0 = at once)
    degraded_for: float = 0.0


@dataclass(frozen=True)
class ResolveEvidence:
    """What may end an alert of ``alertname`` once its condition no longer returns it.

    Without such an entry a vanished alert resolves (when the data is trusted and the
    data source's history covers the rule's lookback). With one it resolves only on
    evidence: ``resolved_by`` returns a series with the alert's ``on`` label values (the
    device was seen up), or ``inventory`` no longer returns one (it left the inventory).
    Anything else — no data, unknown, a scrape gap of any length — holds it firing.
    """

    alertname: str
    on: tuple[str, ...]
    resolved_by: str
    inventory: str


#: The defaults: a device or site outage ends only when something says "up".
DEFAULT_RESOLVE_EVIDENCE = (
    ResolveEvidence("DeviceDown", ("device", "address"), "wardops_device_up == 1",
                    "wardops_device_info"),
    ResolveEvidence("SiteDown", ("site",), "wardops_device_up == 1", "wardops_device_info"),
)


@dataclass(frozen=True)
class AlerterConfig:
    """A validated alerter config with its rule groups loaded."""

    path: Path
    datasource: DataSource
    evaluation_interval: float
    rule_files: tuple[str, ...]
    rule_paths: tuple[Path, ...]
    groups: tuple[RuleGroup, ...]
    state_dir: Path
    external_url: str
    external_labels: Mapping[str, str]
    data_health: DataHealth
    notify: NotifyConfig
    #: down longer than this (no evaluation), pending alerts restart their `for` at start-up
    for_outage_tolerance: float = 3600.0
    #: evaluate just after the exporter's scrapes (alerter.alignment)
    evaluation_alignment: EvaluationAlignment = EvaluationAlignment()
    #: how rule expressions were checked: "promtool" or a note that it was a light check
    promql_check: str = "promtool"
    #: alerts that resolve only on positive evidence (by alertname)
    resolve_evidence: tuple[ResolveEvidence, ...] = DEFAULT_RESOLVE_EVIDENCE

    @property
    def longest_interval(self) -> float:
        """The longest evaluation interval (global or any group's): what is sent to
        Alertmanager must outlast the slowest group's cadence (its endsAt)."""
        return max([self.evaluation_interval, *(g.interval for g in self.groups)])


def _fail(path: Path, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {where}: {message}")


def _duration(path: Path, where: str, value: Any, positive: bool = False) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise _fail(path, where, str(exc)) from None
    if positive and seconds <= 0:
        raise _fail(path, where, "must be greater than 0")
    return seconds


def _string_map(path: Path, where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _fail(path, where, "must be a mapping of text to text")
    return dict(value)


def _external_labels(path: Path, value: Any) -> dict[str, str]:
    """``external_labels``: a label set (they are added to every alert, so Prometheus's
    label-name rule applies; a YAML number or bool as a value is a quoting mistake)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(path, "external_labels", "must be a mapping of text to text")
    for name, label_value in value.items():
        if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
            raise _fail(path, f"external_labels.{name}",
                        f"invalid label name (must match {LABEL_NAME.pattern})")
        if not isinstance(label_value, str):
            raise _fail(path, f"external_labels.{name}",
                        f'value must be text (quote it: "{label_value}")')
        problem = text_problem(label_value)
        if problem:
            raise _fail(path, f"external_labels.{name}", f"{label_value!r} {problem}")
    return dict(value)


def _unknown(path: Path, where: str, raw: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(str(k) for k in set(raw) - known)
    if extra:
        prefix = f"{where}." if where else ""
        raise _fail(path, f"{prefix}{extra[0]}", unknown_key(extra[0], known))


def _url(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, where, "must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(path, where, f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def _datasource(path: Path, raw: Any) -> DataSource:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise _fail(path, "prometheus", "must be a mapping with url")
    _unknown(path, "prometheus", raw, _SOURCE_KEYS)
    try:
        http = read_http_config(raw, "prometheus", path.parent)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    url = _url(path, "prometheus.url", raw.get("url", DataSource.url))
    return DataSource(
        http=http, url=url,
        external_url=_url(path, "prometheus.external_url", raw.get("external_url", url)),
        timeout=_duration(path, "prometheus.timeout", raw.get("timeout", "10s"), positive=True),
        headers=_string_map(path, "prometheus.headers", raw.get("headers")))


def _data_health(path: Path, raw: Any) -> DataHealth:
    if raw is None:
        return DataHealth()
    if not isinstance(raw, Mapping):
        raise _fail(path, "data_health", "must be a mapping")
    _unknown(path, "data_health", raw, _HEALTH_KEYS)
    for key in ("targets", "probe_timestamp"):
        if key in raw and not isinstance(raw[key], str):
            raise _fail(path, f"data_health.{key}", 'must be text ("" turns the check off)')
    defaults = DataHealth()
    return DataHealth(
        targets=raw.get("targets", defaults.targets).strip(),
        probe_timestamp=raw.get("probe_timestamp", defaults.probe_timestamp).strip(),
        stale_after=_duration(path, "data_health.stale_after",
                              raw.get("stale_after", defaults.stale_after), positive=True),
        degraded_for=_duration(path, "data_health.degraded_for",
                               raw.get("degraded_for", defaults.degraded_for)))


def _resolve_evidence(path: Path, raw: Any) -> tuple[ResolveEvidence, ...]:
    if raw is None:
        return DEFAULT_RESOLVE_EVIDENCE
    if not isinstance(raw, list):
        raise _fail(path, "resolve_evidence", "must be a list (an empty list turns it off)")
    out: list[ResolveEvidence] = []
    for i, entry in enumerate(raw):
        where = f"resolve_evidence[{i}]"
        if not isinstance(entry, Mapping):
            raise _fail(path, where, "must be a mapping with alertname, on, resolved_by, "
                        "inventory")
        _unknown(path, where, entry, _EVIDENCE_KEYS)
        for key in ("alertname", "resolved_by", "inventory"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise _fail(path, f"{where}.{key}", "must be non-empty text")
        on = entry.get("on")
        if (not isinstance(on, list) or not on
                or not all(isinstance(n, str) and LABEL_NAME.fullmatch(n) for n in on)):
            raise _fail(path, f"{where}.on", "must be a non-empty list of label names")
        out.append(ResolveEvidence(entry["alertname"].strip(), tuple(on),
                                   entry["resolved_by"].strip(), entry["inventory"].strip()))
    names = [e.alertname for e in out]
    if len(set(names)) != len(names):
        raise _fail(path, "resolve_evidence", "an alertname is listed twice")
    return tuple(out)


def _alignment(path: Path, raw: Any, interval: float, health: DataHealth
               ) -> EvaluationAlignment:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise _fail(path, "evaluation_alignment", "must be a mapping")
    _unknown(path, "evaluation_alignment", raw, _ALIGN_KEYS)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(path, "evaluation_alignment.enabled", f"must be true or false, not {enabled!r}")
    # default 0.5 s, less for sub-second evaluation intervals
    margin = _duration(path, "evaluation_alignment.margin", raw.get("margin", "500ms"))
    if "margin" not in raw:
        margin = min(margin, interval / 4)
    if margin >= interval:
        raise _fail(path, "evaluation_alignment.margin", f"{raw.get('margin')} must be shorter "
                    "than evaluation_interval")
    selector = raw.get("selector")
    if selector is None:
        # derived from data_health.targets; without one, alignment is simply not possible
        selector = selector_from_targets(health.targets)
        if not selector and "enabled" in raw and enabled:
            raise _fail(path, "evaluation_alignment.selector", "cannot be derived from "
                        f"data_health.targets {health.targets!r}; give the exporter's "
                        "scrape_duration_seconds selector")
    elif not isinstance(selector, str) or not is_series_selector(selector):
        raise _fail(path, "evaluation_alignment.selector", f"{selector!r} is not a series "
                    'selector such as scrape_duration_seconds{job="wardops-exporter"}')
    return EvaluationAlignment(enabled=enabled and bool(selector), margin=margin,
                               selector=selector.strip())


def _rule_paths(path: Path, raw: Any) -> tuple[tuple[str, ...], tuple[Path, ...]]:
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
        raise _fail(path, "rule_files", "must be a list of file globs")
    found: list[Path] = []
    for index, pattern in enumerate(raw):
        full = pattern if os.path.isabs(pattern) else str(path.parent / pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            # A typo here would mean no alerts at all: a silent false green.
            raise _fail(path, f"rule_files[{index}]", f"{pattern!r} matches no file")
        found.extend(Path(m) for m in matches if Path(m) not in found)
    return tuple(raw), tuple(found)


def _notify(path: Path, raw: Mapping[str, Any]) -> NotifyConfig:
    section = {k: raw[k] for k in NOTIFY_KEYS if k in raw}
    kwargs: dict[str, Any] = {}
    if "base_dir" in inspect.signature(parse_notify_config).parameters:
        kwargs["base_dir"] = path.parent
    try:
        return parse_notify_config(section, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> AlerterConfig:
    """Read, validate and return the config and its rules; raises ``ConfigError``.

    Missing environment variables and secret files are all reported in one error
    (one run shows everything a new install has to provide).
    """
    with collect_missing() as missing:
        config = _load_config(Path(path))
    if len(missing) == 1:
        raise ConfigError(f"{Path(path)}: {missing[0]}")
    if missing:
        raise ConfigError(f"{Path(path)}: {len(missing)} environment variables or files missing: "
                          + "; ".join(missing))
    return config


def _load_config(file: Path) -> AlerterConfig:
    raw = read_yaml(file)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{file}: the config must be a mapping of keys")
    _unknown(file, "", raw, _TOP_KEYS | set(NOTIFY_KEYS))
    interval = _duration(file, "evaluation_interval", raw.get("evaluation_interval", "15s"),
                         positive=True)
    external_url = raw.get("external_url", "http://localhost:9470")
    external_url = _url(file, "external_url", external_url)
    state_dir = raw.get("state_dir", "data/alerter")
    if not isinstance(state_dir, str) or not state_dir:
        raise _fail(file, "state_dir", "must be a directory path")
    external_labels = _external_labels(file, raw.get("external_labels"))
    patterns, paths = _rule_paths(file, raw.get("rule_files"))
    try:
        groups = load_rule_files(list(paths), interval)
        promql_check = check_expressions(groups)
    except RuleError as exc:
        raise ConfigError(str(exc)) from None
    data_health = _data_health(file, raw.get("data_health"))
    return AlerterConfig(
        path=file, datasource=_datasource(file, raw.get("prometheus")),
        evaluation_interval=interval, rule_files=patterns, rule_paths=paths,
        groups=tuple(groups), state_dir=(file.parent / state_dir),
        external_url=external_url, external_labels=external_labels,
        data_health=data_health, notify=_notify(file, raw),
        evaluation_alignment=_alignment(file, raw.get("evaluation_alignment"), interval,
                                        data_health),
        promql_check=promql_check,
        resolve_evidence=_resolve_evidence(file, raw.get("resolve_evidence")),
        for_outage_tolerance=_duration(file, "for_outage_tolerance",
                                       raw.get("for_outage_tolerance", "1h")))
