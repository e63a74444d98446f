"""One evaluation cycle, top to bottom: health → queries → decisions → state → pipeline.

``Evaluator.run_cycle`` is called by the loop in ``alerter.app`` (or directly by tests
and the benchmark). The decisions are ``alerter.evaluation.step``; this module only
gathers their inputs (queries, templates, data health) and carries their outputs to the
state store, the notification pipeline, the metrics and the API snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

from alerter import health
from alerter.alignment import Plan, last_in_round, next_evaluation
from alerter.config import AlerterConfig
from alerter.evaluation import (
    AlertState,
    Candidate,
    StepResult,
    orphaned,
    restore_after_downtime,
    step,
)
from alerter.evidence import ResolveGate
from alerter.health import DEGRADED_ALERTNAME, Cause
from alerter.metrics import EvalMetrics
from alerter.model import Alert, fingerprint
from alerter.promapi import PromAPI, QueryError, Sample
from alerter.promjson import alert_json
from alerter.promql_print import rule_query
from alerter.rules import Rule, RuleGroup
from alerter.shards import ShardFreeze
from alerter.state import StateStore
from alerter.templating import Template
from wardops_common.durations import format_duration

log = logging.getLogger("alerter.evaluator")

DEGRADED_KEY = "wardops:MonitoringDegraded"


class RuleFailure(Exception):
    """A rule whose result cannot be used (its alerts stay frozen)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _iso(ts: float | None) -> str:
    if ts is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class Notifier(Protocol):
    """What evaluation needs of the notification pipeline (``alerter.notify``)."""

    def process(self, alerts: list[Alert]) -> None:
        """Take one cycle's alerts: every firing one, and those resolved since."""

    def pending_resolves(self) -> set[str]:
        """Fingerprints of resolved alerts handed over but not yet flushed (queued or
        decided) by the pipeline: their outbox rows must stay until then."""


class Evaluator:
    """Owns the alert state of all rules and runs evaluation cycles (one thread at a time)."""

    def __init__(self, config: AlerterConfig, store: StateStore, pipeline: Notifier,
                 metrics: EvalMetrics, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.pipeline = pipeline
        self.metrics = metrics
        self.clock = clock
        self.api = PromAPI(config.datasource)
        self._health = health.HealthMonitor()  # remembers outages until a fresh scrape
        self._cycle_lock = threading.Lock()
        self._active, outbox = store.load()
        self._restore_after_downtime(store.last_evaluation(), clock())
        self._outbox: list[tuple[int | None, AlertState]] = list(outbox)
        #: outbox id → fingerprint of resolves handed over, kept on disk until flushed
        self._unflushed: dict[int, str] = {}
        self._rule_failures: dict[str, tuple[Rule, str]] = {}
        self._state_failure: str | None = None
        self._group_status: dict[tuple[str, str], dict[str, Any]] = {}
        self._rule_status: dict[str, dict[str, Any]] = {}
        self._by_rule: dict[str, list[Alert]] = self._alerts_by_rule(self._active)
        self._snapshot: list[Alert] = [a for alerts in self._by_rule.values() for a in alerts]
        self._ready = False
        self.next_due: dict[tuple[str, str], float] = {}
        #: start of the scrape each group's next evaluation follows (None: plain cadence)
        self._follows: dict[tuple[str, str], float | None] = {}
        self._alignment_failing = ""  # the last failure reason, logged once per change
        self._schedule(config.groups)

    # ------------------------------------------------------------------ public surface

    def ready(self) -> bool:
        """True once a cycle has completed."""
        return self._ready

    def alerts(self) -> list[Alert]:
        """Active (pending and firing) alerts from the last cycle, for the API and /metrics."""
        return self._snapshot

    def reload(self, config: AlerterConfig) -> None:
        """Switch to a validated config; alerts of removed rules resolve in the next cycle."""
        with self._cycle_lock:
            if config.datasource != self.config.datasource:
                self.api.close()
                self.api = PromAPI(config.datasource)
            self.config = config
            self._schedule(config.groups)

    def close(self) -> None:
        """Release the HTTP session."""
        self.api.close()

    def due_groups(self, now: float) -> list[RuleGroup]:
        """Groups whose next evaluation time has come."""
        return [g for g in self.config.groups if self.next_due.get(self._gkey(g), 0) <= now]

    def seconds_until_due(self, now: float) -> float:
        """How long the loop may sleep."""
        if not self.next_due:
            return self.config.evaluation_interval
        return max(0.0, min(self.next_due.values()) - now)

    def run_cycle(self, now: float | None = None,
                  groups: list[RuleGroup] | None = None) -> list[Alert]:
        """Evaluate ``groups`` (default: all) at ``now``; return what went to the pipeline."""
        with self._cycle_lock:
            started = time.monotonic()
            now = self.clock() if now is None else now
            groups = list(self.config.groups) if groups is None else groups
            handed = self._cycle(now, groups)
            scrapes = self._recent_scrapes(groups)
            for group in groups:
                key = self._gkey(group)
                # keep the cadence; after a long stall start again from now, not in a burst
                due = self.next_due.get(key, now) + group.interval
                cadence = due if due > now else now + group.interval
                plan = self._plan(scrapes, now, cadence, group.interval)
                self.next_due[key], self._follows[key] = plan.at, plan.scrape
            self.metrics.cycle_duration.observe(time.monotonic() - started)
            self.metrics.last_evaluation.set(self.clock())
            self._ready = True
            return handed

    def evaluation_time(self, now: float, groups: list[RuleGroup]) -> float:
        """The time to evaluate ``groups`` (due at ``now``) at: their scheduled time, as
        Prometheus does, so that an aligned evaluation queries just after its scrape even
        when the loop woke a little late; ``now`` after a stall or for a health-only cycle."""
        scheduled = max((self.next_due.get(self._gkey(g), 0.0) for g in groups), default=0.0)
        if now - scheduled < min((g.interval for g in groups), default=0.0) / 2:
            return min(scheduled, now)
        return now

    def rules_status(self) -> list[dict[str, Any]]:
        """Rule groups in the shape of Prometheus's ``/api/v1/rules`` ``data.groups``."""
        by_rule = self._by_rule
        groups = []
        for group in self.config.groups:
            status = self._group_status.get(self._gkey(group), {})
            rules = []
            for rule in group.rules:
                rs = self._rule_status.get(rule.key, {})
                alerts = by_rule.get(rule.key, [])
                state = ("firing" if any(a.state == "firing" for a in alerts)
                         else "pending" if alerts else "inactive")
                rules.append({
                    "type": "alerting", "name": rule.name, "query": rule_query(rule.expr),
                    "duration": rule.hold, "keepFiringFor": rule.keep_firing_for,
                    "labels": dict(rule.labels), "annotations": dict(rule.annotations),
                    "state": state, "health": rs.get("health", "unknown"),
                    "lastError": rs.get("lastError", ""),
                    "lastEvaluation": _iso(rs.get("lastEvaluation")),
                    "evaluationTime": rs.get("evaluationTime", 0.0),
                    "alerts": [alert_json(a) for a in alerts],
                })
            groups.append({"name": group.name, "file": group.file, "interval": group.interval,
                           "rules": rules,
                           "lastEvaluation": _iso(status.get("lastEvaluation")),
                           "evaluationTime": status.get("evaluationTime", 0.0)})
        return groups

    # ------------------------------------------------------------------ the cycle

    def _cycle(self, now: float, groups: list[RuleGroup]) -> list[Alert]:
        causes = self._health.check(self.api, self.config.data_health, now)
        frozen = any(c.freezes_all for c in causes)
        skip_queries = any(c.skips_queries for c in causes)
        # One exporter target's trouble freezes only the alerts of the devices it serves.
        shard = None if frozen else ShardFreeze.build(self.api.query, causes,
                                                      self.config.data_health, now)
        self.metrics.data_healthy.set(0 if frozen or shard else 1)

        upserts: list[AlertState] = []
        deletes: list[tuple[str, str]] = []
        resolved: list[AlertState] = []
        gate = ResolveGate(self.api.query, self.config, now)
        for group in groups:
            started = time.monotonic()
            for rule in group.rules:
                rule_started = time.monotonic()
                candidates = None if skip_queries else self._query_rule(group, rule, now)
                previous = self._active.get(rule.key, {})
                if shard is not None and candidates is not None:
                    candidates = {fp: c for fp, c in candidates.items()
                                  if fp in previous or not shard.blocks_new(c.labels)}
                if skip_queries:
                    self.metrics.rule_failures.labels(group.name, "skipped_datasource_down").inc()
                result = step(previous, candidates, rule_key=rule.key,
                              hold=rule.hold, keep_firing_for=rule.keep_firing_for, now=now,
                              frozen=frozen,
                              freeze=(lambda a: shard.freezes(a.labels)) if shard else None,
                              may_resolve=gate.for_rule(rule, [c.labels for c in
                                                               (candidates or {}).values()]))
                self._apply(rule.key, result, upserts, deletes, resolved)
                self._rule_status[rule.key]["lastEvaluation"] = now
                self._rule_status[rule.key]["evaluationTime"] = time.monotonic() - rule_started
            took = time.monotonic() - started
            self.metrics.evaluations.labels(group.name).inc()
            self.metrics.group_evaluated(group.name, now, self._follows.get(self._gkey(group)),
                                         took)
            self._group_status[self._gkey(group)] = {"lastEvaluation": now,
                                                     "evaluationTime": took}

        # Alerts of rules that were removed (reload, new rule files) must not vanish silently.
        known = {r.key for g in self.config.groups for r in g.rules} | {DEGRADED_KEY}
        for key in [k for k in self._active if k not in known]:
            previous = self._active.pop(key)
            gone = orphaned(previous, now)
            resolved.extend(gone)
            deletes.extend((key, fp) for fp, a in previous.items() if a.state == "pending")
            log.info("rule removed; resolving its alerts", extra={"rule": key,
                                                                   "alerts": len(gone)})
        self._rule_failures = {k: v for k, v in self._rule_failures.items() if k in known}

        causes += [Cause("rule_failed", f"Rule {rule.name} in group {rule.group} cannot be "
                         f"evaluated ({message}); its alerts are frozen (nothing resolves)",
                         {"rule": rule.name, "rulegroup": rule.group})
                   for rule, message in self._rule_failures.values()]
        self.metrics.held_alerts.labels("no_evidence").set(gate.held_without_evidence)
        self.metrics.held_alerts.labels("history_lost").set(gate.held_for_history)
        if gate.waiting_for_history:
            causes.append(Cause("history_lost", gate.history_summary()))
        if self._state_failure:
            causes.append(Cause("state_write_failed", "Alert state cannot be saved in "
                                f"{self.config.state_dir} ({self._state_failure}); a restart "
                                "would lose it"))
        # While the data source is unreachable the other causes cannot be checked either:
        # those already raised stay (frozen) instead of resolving on missing data.
        result = step(self._active.get(DEGRADED_KEY, {}), self._degraded_candidates(causes),
                      rule_key=DEGRADED_KEY, hold=self.config.data_health.degraded_for,
                      keep_firing_for=0, now=now, frozen=skip_queries)
        self._apply(DEGRADED_KEY, result, upserts, deletes, resolved)

        new_ids = self._save(upserts, deletes, resolved, now)
        self._outbox.extend(zip(new_ids, resolved))
        self._by_rule = self._alerts_by_rule(self._active)
        self._snapshot = [a for alerts in self._by_rule.values() for a in alerts]
        return self._hand_over()

    def _apply(self, key: str, result: StepResult, upserts: list[AlertState],
               deletes: list[tuple[str, str]], resolved: list[AlertState]) -> None:
        upserts.extend(result.active[fp] for fp in result.dirty)
        deletes.extend((key, fp) for fp in result.cleared)
        resolved.extend(result.resolved)
        if result.active:
            self._active[key] = result.active
        else:
            self._active.pop(key, None)

    def _query_rule(self, group: RuleGroup, rule: Rule, now: float) -> dict[str, Candidate] | None:
        status = self._rule_status.setdefault(rule.key, {})
        try:
            samples = self.api.query(rule.expr, now, keep_name=True)
            candidates = self._candidates(rule, samples, now)
            if group.limit and len(candidates) > group.limit:
                raise RuleFailure("limit_exceeded", f"{len(candidates)} alerts exceed the "
                                  f"group limit {group.limit}")
        except (QueryError, RuleFailure) as exc:
            self.metrics.rule_failures.labels(group.name, exc.reason).inc()
            if rule.key not in self._rule_failures:
                log.warning("rule evaluation failed; its alerts are frozen",
                            extra={"rule": rule.name, "group": group.name,
                                   "reason": exc.reason, "error": str(exc)})
            self._rule_failures[rule.key] = (rule, f"{exc.reason}: {exc}")
            status.update(health="err", lastError=str(exc))
            return None
        if self._rule_failures.pop(rule.key, None):
            log.info("rule evaluates again", extra={"rule": rule.name, "group": group.name})
        status.update(health="ok", lastError="")
        return candidates

    def _candidates(self, rule: Rule, samples: list[Sample], now: float,
                    ) -> dict[str, Candidate]:
        errors: list[str] = []
        out: dict[str, Candidate] = {}
        for sample in samples:
            labels = dict(sample.labels)
            labels.pop("__name__", None)  # templates see it in $labels; alerts drop it
            labels.update(self._expand(rule.label_templates, sample, "labels", errors, now))
            labels["alertname"] = rule.name
            added = self._add_external(labels)
            annotations = self._expand(rule.annotation_templates, sample, "annotations",
                                       errors, now)
            fp = fingerprint(labels)
            if fp in out:
                raise RuleFailure("duplicate_labelset", "vector contains metrics with the same "
                                  "labelset after applying alert labels")
            out[fp] = Candidate(fp, labels, annotations, sample.value, added)
        failed, first_error = len(errors), (errors[0] if errors else "")
        if failed:
            self.metrics.template_errors.labels(rule.name).inc(failed)
            log.warning("template expansion failed; error marker sent",
                        extra={"rule": rule.name, "count": failed, "error": first_error})
        return out

    def _add_external(self, labels: dict[str, str]) -> frozenset[str]:
        """Add the external labels an alert lacks; the names added (an alert's own label
        of that name stays, and stays listed)."""
        added = []
        for name, value in self.config.external_labels.items():
            if name not in labels:
                labels[name] = value
                added.append(name)
        return frozenset(added)

    def _expand(self, templates: Mapping[str, Template], sample: Sample, kind: str,
                errors: list[str], now: float) -> dict[str, str]:
        out = {}
        for name, tmpl in templates.items():
            # ``query`` in a template runs against the same data source at the same time
            text, error = tmpl.expand(sample.labels, sample.value, self.config.external_labels,
                                      self.config.external_url, query=self._template_query,
                                      at=now)
            if error:
                errors.append(f"{kind}.{name}: {error}")
            out[name] = text
        return out

    def _template_query(self, expr: str, at: float) -> list[Sample]:
        return self.api.query(expr, at, keep_name=True)

    def _degraded_candidates(self, causes: list[Cause]) -> dict[str, Candidate]:
        out: dict[str, Candidate] = {}
        for cause in causes:
            labels = {"alertname": DEGRADED_ALERTNAME, "severity": "critical",
                      "cause": cause.cause, **cause.labels}
            added = self._add_external(labels)
            fp = fingerprint(labels)
            out[fp] = Candidate(fp, labels, {
                "summary": cause.summary,
                "description": "wardops cannot trust its monitoring data. Alerts keep their "
                               "last state and do not resolve until data is healthy again; "
                               "devices may be down without an alert.",
                "runbook_url": "docs/runbooks.md#monitoringdegraded",
            }, 1.0, added)
        return out

    def _restore_after_downtime(self, last_evaluation: float | None, now: float) -> None:
        """Pending alerts restart their ``for`` after an outage longer than the tolerance."""
        tolerance = self.config.for_outage_tolerance
        restarted: list[AlertState] = []
        for alerts in self._active.values():
            for fp, alert in alerts.items():
                restored = restore_after_downtime(alert, last_evaluation, now, tolerance)
                if restored is not alert:
                    alerts[fp] = restored
                    restarted.append(restored)
        if restarted:
            # saved at once, so that a second restart does not bring the old progress back
            self.store.save_cycle(restarted, [], [])
            log.info("alerter was down longer than for_outage_tolerance; pending alerts "
                     "restart their for", extra={"down_for": format_duration(
                         now - (last_evaluation or now)), "alerts": len(restarted)})

    def _save(self, upserts: list[AlertState], deletes: list[tuple[str, str]],
              resolved: list[AlertState], now: float) -> list[int | None]:
        try:
            if self._state_failure:
                # an earlier cycle's changes were lost: write the whole state again
                active = [a for alerts in self._active.values() for a in alerts.values()]
                ids: list[int | None] = list(self.store.save_snapshot(active, resolved,
                                                                      evaluated_at=now))
            else:
                ids = list(self.store.save_cycle(upserts, deletes, resolved, evaluated_at=now))
        except Exception as exc:  # sqlite3.Error, OSError: counted, alerted on
            self.metrics.state_errors.labels("save").inc()
            log.error("cannot save alert state", extra={"error": repr(exc)})
            self._state_failure = repr(exc)
            return [None] * len(resolved)
        if self._state_failure:
            log.info("alert state saved again", extra={"state_dir": str(self.config.state_dir)})
        self._state_failure = None
        return ids

    def _hand_over(self) -> list[Alert]:
        firing = [a for a in self._snapshot if a.state == "firing"]
        resolved = [self._alert(a) for _, a in self._outbox]
        batch = firing + resolved
        try:
            self.pipeline.process(batch)
        except Exception as exc:  # the pipeline's bug must not stop evaluation
            self.metrics.handover_errors.inc()
            log.error("notification pipeline refused the alerts; retrying next cycle",
                      extra={"error": repr(exc)})
            return batch
        # A resolve leaves the outbox only once the pipeline has flushed it (queued on
        # disk, or decided that nothing is to be sent): a stop or kill -9 while it waits
        # in its group (up to group_interval) hands it over again after the restart, and
        # the notification log keeps that from sending it twice.
        self._unflushed.update((i, a.fingerprint) for i, a in self._outbox if i is not None)
        self._outbox = []
        pending = self.pipeline.pending_resolves()
        done = [i for i, fp in self._unflushed.items() if fp not in pending]
        if done:
            try:
                self.store.handed_over(done)
            except Exception as exc:  # sqlite3.Error, OSError: resolve may repeat
                self.metrics.state_errors.labels("handover").inc()
                log.error("cannot clear flushed resolves", extra={"error": repr(exc)})
            else:
                for i in done:
                    del self._unflushed[i]
        return batch

    # ------------------------------------------------------------------ helpers

    def _alert(self, a: AlertState, links: Mapping[str, str] | None = None) -> Alert:
        added = a.added
        if added is None:  # saved by an older version: the names carrying external values
            ext = self.config.external_labels
            added = frozenset(n for n, v in ext.items() if a.labels.get(n) == v)
        links = links if links is not None else self._generator_urls()
        return Alert(labels=a.labels, annotations=a.annotations, state=a.state,
                     starts_at=a.fired_at if a.fired_at is not None else a.active_at,
                     ends_at=a.resolved_at,
                     generator_url=links.get(a.rule_key) or self._rules_url(a.rule_key),
                     value=a.value, fingerprint=a.fingerprint, active_at=a.active_at,
                     keep_firing_since=a.keep_firing_since, external=added)

    def _alerts_by_rule(self, active: dict[str, dict[str, AlertState]]) -> dict[str, list[Alert]]:
        links = self._generator_urls()
        return {key: [self._alert(a, links) for a in alerts.values()]
                for key, alerts in active.items()}

    def _generator_urls(self) -> dict[str, str]:
        """Each rule's ``generatorURL`` as Prometheus sets it: the data source's table view
        of the rule's expression as Prometheus prints it, a page a person can open."""
        base = self.config.datasource.external_url.rstrip("/")
        return {rule.key: f"{base}/graph?g0.expr={quote_plus(rule_query(rule.expr))}&g0.tab=1"
                for group in self.config.groups for rule in group.rules}

    def _rules_url(self, rule_key: str) -> str:
        """Alerts of no rule (MonitoringDegraded) link to the alerter's rule listing."""
        return f"{self.config.external_url}/api/v1/rules#{quote(rule_key)}"

    # ------------------------------------------------------------------ alignment

    def _recent_scrapes(self, groups: list[RuleGroup]) -> list[tuple[float, float]] | None:
        """(start, duration) of the exporter's recent scrapes, oldest first; None when
        alignment is off or the query failed (counted by reason, logged once per change)."""
        alignment = self.config.evaluation_alignment
        if not alignment.enabled or not groups:
            return None
        lookback = max(120, 6 * max(g.interval for g in groups))
        expr = f"{alignment.selector}[{lookback:.0f}s]"
        try:
            series = self.api.query_series(expr, self.clock())
        except QueryError as exc:
            self.metrics.unaligned.labels(exc.reason).inc()
            if self._alignment_failing != exc.reason:
                log.warning("cannot read the exporter's scrape times; evaluating on the plain "
                            "cadence", extra={"query": expr, "reason": exc.reason,
                                              "error": str(exc)})
            self._alignment_failing = exc.reason
            return None
        if self._alignment_failing:
            log.info("scrape times readable again", extra={"query": expr})
        self._alignment_failing = ""
        if not series:
            return []
        # several exporter targets (shards): follow the one scraped last in each round
        ordered = sorted(series, key=lambda one: sorted(one.labels.items()))
        return list(last_in_round([one.points for one in ordered], self.clock()))

    def _plan(self, scrapes: list[tuple[float, float]] | None, previous: float,
              cadence: float, interval: float) -> Plan:
        if scrapes is None:  # alignment off, or the query failed (counted)
            self.metrics.aligned.set(0)
            return Plan(cadence, None, "")
        plan = next_evaluation(scrapes, previous=previous, cadence=cadence, interval=interval,
                               margin=self.config.evaluation_alignment.margin, now=self.clock())
        if plan.fallback:
            self.metrics.unaligned.labels(plan.fallback).inc()
        self.metrics.aligned.set(0 if plan.scrape is None else 1)
        return plan

    @staticmethod
    def _gkey(group: RuleGroup) -> tuple[str, str]:
        return (group.file, group.name)

    def _schedule(self, groups: tuple[RuleGroup, ...]) -> None:
        keys = {self._gkey(g) for g in groups}
        self.next_due = {k: v for k, v in self.next_due.items() if k in keys}
        self._follows = {k: v for k, v in self._follows.items() if k in keys}
        self.metrics.forget_groups({g.name for g in groups})
        for group in groups:
            self.next_due.setdefault(self._gkey(group), 0.0)
            self.metrics.init_group(group.name)
            for rule in group.rules:
                self._rule_status.setdefault(rule.key, {})
