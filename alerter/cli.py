"""``wardops-alerter``: run, ``check-config FILE``, ``test-receiver FILE NAME``,
``import-alertmanager-config FILE``; ``--help`` on each.

Exit status: 0 fine, 1 runtime failure (e.g. a test notification not delivered),
2 bad config or arguments (one line on stderr naming file and field).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
from pathlib import Path

import prometheus_client

from alerter import __version__
from alerter.config import ConfigError, load_config
from wardops_common.logsetup import add_log_flags, setup_logging
from wardops_common.webconfig import load_web_config

log = logging.getLogger("alerter")

DEFAULT_LISTEN = ":9470"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wardops-alerter",
        description="Evaluate Prometheus alerting rules against the Prometheus HTTP API and "
                    "deliver notifications. Without a COMMAND it runs (--config is then "
                    "required).")
    parser.add_argument("--version", action="version", version=f"wardops-alerter {__version__}")
    parser.add_argument("--config", "--config.file", dest="config", metavar="FILE",
                        help="alerter YAML config")
    parser.add_argument("--web.listen-address", dest="listen", default=DEFAULT_LISTEN,
                        metavar="HOST:PORT",
                        help=f"where to serve the API and /metrics (default {DEFAULT_LISTEN})")
    parser.add_argument("--web.config.file", dest="web_config", default="", metavar="FILE",
                        help="TLS and basic auth for the HTTP endpoints, in Prometheus's "
                             "exporter-toolkit format (re-read on reload)")
    add_log_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser(
        "check-config", help="validate a config, its rule files (PromQL via promtool) and "
                             "templates; exit 2 if bad",
        description="Validate an alerter config, its rule files and templates and print a "
                    "summary. Exit 0 if usable, 2 with one line naming file and field if not.")
    check.add_argument("file", metavar="FILE", help="alerter YAML config")
    test = sub.add_parser(
        "test-receiver", help="send a sample notification to one receiver",
        description="Send a sample notification to one receiver through the real delivery "
                    "code (from a private queue). Exit 0 delivered, 1 not delivered, "
                    "2 bad config or unknown receiver.")
    test.add_argument("file", metavar="FILE", help="alerter YAML config")
    test.add_argument("receiver", metavar="RECEIVER", help="name of a receiver in FILE")
    imp = sub.add_parser(
        "import-alertmanager-config", help="convert an alertmanager.yml into alerter config",
        description="Convert an Alertmanager alertmanager.yml (route tree, webhook receivers, "
                    "inhibit rules) into wardops alerter config: YAML on stdout, what could "
                    "not be converted on stderr. Exit 2 if the file is not valid.")
    imp.add_argument("file", metavar="FILE", help="alertmanager.yml")
    return parser


def check_config(path: str) -> int:
    """Validate config, rule files and templates; print a summary."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"check-config: {exc}", file=sys.stderr)
        return 2
    rules = sum(len(g.rules) for g in config.groups)
    print(f"{path}: OK: {len(config.rule_paths)} rule files, {len(config.groups)} groups, "
          f"{rules} alerting rules (PromQL: {config.promql_check}); "
          f"data source {config.datasource.url}")
    return 0


def test_receiver(path: str, receiver: str) -> int:
    """Send a sample notification to one receiver through the real delivery code."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"test-receiver: {exc}", file=sys.stderr)
        return 2
    from alerter.notify import NotificationPipeline

    # A private state dir: the test must not join a running alerter's delivery queue.
    with tempfile.TemporaryDirectory(prefix="wardops-test-receiver-") as tmp:
        pipeline = NotificationPipeline(config.notify, Path(tmp),
                                        external_url=config.external_url)
        send_test = getattr(pipeline, "send_test", None)
        if send_test is None:
            print("test-receiver: this build's notification pipeline has no send_test(receiver)",
                  file=sys.stderr)
            return 1
        try:
            result = send_test(receiver)
        except KeyError:
            print(f"test-receiver: {path}: receivers: no receiver named {receiver!r}",
                  file=sys.stderr)
            return 2
        except Exception as exc:  # delivery failures are reported, with the reason
            print(f"test-receiver: {receiver}: delivery failed: {exc}", file=sys.stderr)
            return 1
    print(f"test-receiver: {receiver}: delivered" + (f" ({result})" if result else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``wardops-alerter`` and ``python -m alerter``."""
    parser = _parser()
    opts = parser.parse_args(argv)
    if opts.command == "check-config":
        return check_config(opts.file)
    if opts.command == "test-receiver":
        setup_logging("warning", "logfmt")
        return test_receiver(opts.file, opts.receiver)
    if opts.command == "import-alertmanager-config":
        from alerter.am_import import main as import_main  # converter: alerter.am_import
        return import_main([opts.file])
    if not opts.config:
        parser.error("--config FILE is required")
    setup_logging(opts.log_level, opts.log_format)
    # client_python adds a `*_created` series to every counter and histogram; nobody
    # queries them and they double the exposition, so they are off (process-wide).
    prometheus_client.disable_created_metrics()
    from alerter.app import AlerterApp, ListenError

    try:
        config = load_config(opts.config)
    except ConfigError as exc:
        print(f"wardops-alerter: {exc}", file=sys.stderr)
        return 2
    if config.promql_check != "promtool":
        log.warning("rule expressions were not parsed by promtool",
                    extra={"check": config.promql_check})
    try:
        web = load_web_config(opts.web_config)
    except ConfigError as exc:
        print(f"wardops-alerter: {exc}", file=sys.stderr)
        return 2
    try:
        app = AlerterApp(config, opts.listen, web=web)
    except ValueError as exc:  # --web.listen-address
        print(f"wardops-alerter: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error) as exc:  # state_dir not creatable or not a database
        print(f"wardops-alerter: {config.path}: state_dir: cannot use {config.state_dir}: "
              f"{exc}", file=sys.stderr)
        return 2
    try:
        return app.run()
    except ListenError as exc:
        print(f"wardops-alerter: {exc}", file=sys.stderr)
        return 1
