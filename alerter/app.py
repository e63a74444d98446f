"""The running alerter: evaluation loop, notification pipeline, HTTP API, reload.

The main thread runs the evaluation loop (and receives SIGHUP/SIGTERM); cheroot serves
the Flask API from its own threads; the notification pipeline runs its own workers.
Reload (SIGHUP or ``POST /-/reload``) validates the whole new config first and keeps the
running one if anything is wrong.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Protocol

from prometheus_client import CollectorRegistry

from alerter.amapi import create_blueprint
from alerter.api import create_app
from alerter.config import AlerterConfig, ConfigError, load_config
from alerter.evaluator import Evaluator, Notifier
from alerter.httpapi import Refusals
from alerter.metrics import EvalMetrics
from alerter.model import Alert
from alerter.notify import NotificationPipeline
from alerter.notify.alertmanager.forward import Forwarder
from alerter.state import StateStore
from wardops_common.webconfig import WebConfig
from wardops_common.webserver import ListenError, WebServer, parse_listen_address

log = logging.getLogger("alerter")


def listen_address(text: str) -> str:
    """``:9470`` → ``0.0.0.0:9470`` (all interfaces, as Prometheus tools read it)."""
    try:
        host, port = parse_listen_address(text)
    except ValueError as exc:
        raise ValueError(f"--web.listen-address: {exc}") from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class AlertSink(Protocol):
    """Something that takes each evaluation cycle's alerts (forwarding to Alertmanager)."""

    def process(self, alerts: list[Alert]) -> None:
        """Take one cycle's alerts."""


class Fanout:
    """The evaluator's ``Notifier``: each cycle's alerts go to the notification pipeline,
    then to every other sink; what is still waiting is the pipeline's to say (forwarding
    re-sends by itself)."""

    def __init__(self, pipeline: Notifier, *others: AlertSink) -> None:
        self._pipeline = pipeline
        self._others = others

    def pending_resolves(self) -> set[str]:
        """The pipeline's resolves not flushed yet."""
        return set(self._pipeline.pending_resolves())

    def process(self, alerts: list[Alert]) -> None:
        """Hand ``alerts`` to the pipeline, then to the others even if the pipeline failed
        (the evaluator counts and retries a pipeline error)."""
        try:
            self._pipeline.process(alerts)
        finally:
            for other in self._others:
                other.process(alerts)


class AlerterApp:
    """Everything one alerter process runs, built from a validated config."""

    def __init__(self, config: AlerterConfig, listen: str = ":9470", *,
                 web: WebConfig | None = None) -> None:
        self.config = config
        self.web = web or WebConfig()
        self.listen = listen_address(listen)
        self.registry = CollectorRegistry()
        self._stop = threading.Event()
        self._reload_lock = threading.Lock()
        self._reload_requested = threading.Event()
        self.store = StateStore(config.state_dir)
        self.pipeline = NotificationPipeline(config.notify, config.state_dir,
                                             external_url=config.external_url,
                                             registry=self.registry)
        self.forwarder = Forwarder(config.notify, config.state_dir,
                                   eval_interval=config.longest_interval, registry=self.registry)
        self.metrics = EvalMetrics(self.registry, alerts=self._alerts)
        self.evaluator = Evaluator(config, self.store, Fanout(self.pipeline, self.forwarder),
                                   self.metrics)
        self.metrics.reload_ok.set(1)
        self.metrics.reload_time.set(time.time())
        refusals = self.refusals = Refusals(self.registry)  # one count for every layer
        self.wsgi = create_app(alerts=self._alerts, rules=self.evaluator.rules_status,
                               pipeline=self.pipeline, notify_config=config.notify,
                               registry=self.registry, reload=self.reload,
                               ready=self.evaluator.ready, refusals=refusals)
        self.wsgi.register_blueprint(create_blueprint(  # Alertmanager API v2 (alerter.amapi)
            alerts=self._alerts, pipeline=self.pipeline, config=lambda: self.config,
            refusals=refusals))
        self.server: WebServer | None = None

    def _alerts(self) -> list[Alert]:
        evaluator = getattr(self, "evaluator", None)
        return evaluator.alerts() if evaluator is not None else []

    def reload(self) -> None:
        """Re-read the config file; raise ``ValueError`` (keeping the running config) if bad.

        The outcome is never reported better than it was: any failure, also an unexpected
        one, sets ``config_last_reload_successful`` to 0 and is returned to the caller; a
        failure half-way through switching puts every part back on the running config."""
        with self._reload_lock:
            try:
                new = load_config(self.config.path)
                if self.config.groups and not new.groups:
                    # a file saved half-way must not resolve every firing alert as
                    # "rule removed"
                    raise ConfigError(f"{new.path}: the new config has no rules (running "
                                      f"with {len(self.config.groups)} groups); keeping "
                                      "them. To run with none, restart with it")
                if new.state_dir.resolve() != self.config.state_dir.resolve():
                    raise ConfigError(f"{new.path}: state_dir: cannot change on reload "
                                      f"(running with {self.config.state_dir}); restart instead")
                if self.server is not None:
                    self.server.reload_web_file()
            except Exception as exc:  # any failure is reported as one
                self.metrics.reload_ok.set(0)
                message = str(exc) if isinstance(exc, ConfigError) else (
                    f"{self.config.path}: cannot load ({type(exc).__name__}: {exc})")
                log.error("reload failed; keeping the running config", extra={"error": message},
                          exc_info=not isinstance(exc, ConfigError))
                raise ValueError(message) from None
            try:
                self._switch(new)
            except Exception as exc:  # put every part back, then report
                self.metrics.reload_ok.set(0)
                log.error("reload failed while switching; back on the running config",
                          extra={"error": f"{type(exc).__name__}: {exc}"}, exc_info=True)
                self._switch(self.config)
                raise ValueError(f"{new.path}: reload failed while switching "
                                 f"({type(exc).__name__}: {exc}); running config kept") from None
            self.config = new
            self.metrics.reload_ok.set(1)
            self.metrics.reload_time.set(time.time())
            log.info("config reloaded", extra={"groups": len(new.groups),
                                               "rules": sum(len(g.rules) for g in new.groups)})

    def _switch(self, config: AlerterConfig) -> None:
        self.evaluator.reload(config)
        self.pipeline.reload(config.notify)
        self.forwarder.reload(config.notify, config.longest_interval)

    def stop(self) -> None:
        """Ask the loop to finish (signal-safe)."""
        self._stop.set()

    def run(self) -> int:
        """Serve and evaluate until SIGTERM/SIGINT; return the exit status.

        Raises :class:`ListenError` if the listen address cannot be bound.
        """
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_requested.set())
        try:
            server = self.server = WebServer(
                self.wsgi, self.listen, ident="wardops-alerter", threads=6, web=self.web,
                on_refused=lambda reason: self.refusals.count("http", reason),
                on_web_reload=lambda ok: self.metrics.web_reload_ok.set(1 if ok else 0))
        except ListenError:
            self.evaluator.close()
            self.store.close()
            raise
        server.start()
        self.pipeline.start()
        self.forwarder.start()
        log.info("alerter started", extra={"listen": self.listen,
                                           "datasource": self.config.datasource.url,
                                           "groups": len(self.config.groups),
                                           "state_dir": str(self.config.state_dir)})
        try:
            self._loop()
        finally:
            self.forwarder.stop()
            self.pipeline.stop()
            server.close()
            self.evaluator.close()
            self.store.close()
            log.info("alerter stopped")
        return 0

    def _loop(self) -> None:
        next_health_check = 0.0
        while not self._stop.is_set():
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                try:
                    self.reload()
                except ValueError:
                    pass  # logged and counted by reload(); the running config stays
            now = time.time()
            due = self.evaluator.due_groups(now)
            # data health (MonitoringDegraded) is checked at least every evaluation_interval,
            # even when no group is due or there are no rules at all
            if due or now >= next_health_check:
                self.evaluator.run_cycle(self.evaluator.evaluation_time(now, due), due)
                next_health_check = now + self.config.evaluation_interval
            wait = min(self.evaluator.seconds_until_due(time.time()),
                       next_health_check - time.time())
            # wake at least every second for signals and reloads
            self._stop.wait(min(max(wait, 0.01), 1.0))

