"""The whole wardops stack on one machine, for a first look (run by ``scripts/demo``).

Starts, in order, each waiting until the previous one answers:

1. the demo webhook sink (examples/webhook_sink.py), which prints every notification
   to this terminal;
2. the exporter on the example inventory (examples/devices.yml);
3. Prometheus (the Debian package) with the repository's prometheus.yml and recording
   rules;
4. the alerter with the default rules (rules/*.yml), notifying the sink.

Everything it writes (Prometheus's data, the exporter's state file, the alerter's
state, logs, the configs it generates) is under one folder, ``run/`` by default.
Everything listens on 127.0.0.1 and the example devices are 127.x addresses: nothing
leaves the machine. Ctrl-C (or SIGTERM) stops everything, the alerter first.

With root it also builds one branch in a network namespace of its own and plays the
daily loop there (scripts/demo_loop.py): real outages, each step waiting for its real
notification, printed as it happens. Without root (or with --no-loop) it says why and
shows the stack on the example inventory only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml
from demo_loop import Branch, DailyLoop, alerter_overrides, alerting_rules, why_no_loop
from demo_loop import inventory as loop_inventory
from demo_loop import prometheus_config as loop_prometheus_config

REPO = Path(__file__).resolve().parents[1]
STOP_TIMEOUT = 10.0
TOKEN_ENV = "WARDOPS_DEMO_TOKEN"  # the alerter's write token (the loop's acknowledgement)


@dataclass
class Service:
    """One program of the stack: how to start it and how to tell it is ready."""

    name: str
    args: list[str]
    port: int
    ready_path: str
    url: str  # what to show the user
    log: Path | None  # None: output goes to this terminal (held back while starting)
    ready_timeout: float = 60.0
    # An extra condition after ready_path answers, e.g. "Prometheus has scraped the exporter".
    ready_check: Callable[[], bool] | None = None
    ready_what: str = ""
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_fh: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str], console: Console) -> None:
        """Start the program in its own session, so Ctrl-C reaches only the demo."""
        if self.log is not None:
            self._log_fh = open(self.log, "ab")
            self.popen = subprocess.Popen(self.args, stdout=self._log_fh,
                                          stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                          start_new_session=True)
            return
        self.popen = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                      start_new_session=True)
        assert self.popen.stdout is not None
        threading.Thread(target=console.forward, args=(self.popen.stdout,), daemon=True).start()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns the exit status."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                say(f"demo: {self.name} did not stop within {STOP_TIMEOUT:.0f}s; killing it",
                    file=sys.stderr)
                self.popen.kill()
                self.popen.wait()
        if self._log_fh:
            self._log_fh.close()
        return self.popen.returncode

    def log_tail(self, lines: int = 15) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class Console:
    """This terminal: the sink's notifications wait until the start-up progress is done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[bytes] | None = []

    def forward(self, stream: IO[bytes]) -> None:
        """Copy ``stream`` to stdout line by line (run in a thread)."""
        for line in iter(stream.readline, b""):
            with self._lock:
                if self._held is not None:
                    self._held.append(line)
                    continue
            try:
                sys.stdout.buffer.write(line)
                sys.stdout.flush()
            except OSError:
                _stdout_gone()

    def release(self) -> None:
        """Print what was held back, and everything from now on as it comes."""
        with self._lock:
            held, self._held = self._held or [], None
            try:
                for line in held:
                    sys.stdout.buffer.write(line)
                sys.stdout.flush()
            except OSError:
                _stdout_gone()


def _stdout_gone() -> None:
    """Whatever read our stdout is gone (``demo | tee log`` and Ctrl-C: the same SIGINT
    ends tee). Carry on without output: stopping the stack must not depend on stdout."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def say(*parts: object, end: str = "\n", file: IO[str] | None = None) -> None:
    """print(), flushed, that never raises for a closed stdout or stderr."""
    stream = file or sys.stdout
    try:
        print(*parts, end=end, file=stream, flush=True)
    except OSError:  # BrokenPipeError, EIO from a closed terminal
        if stream is sys.stdout:
            _stdout_gone()


class Interrupted(Exception):
    """Ctrl-C or SIGTERM while starting or running."""


def _on_signal(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 right now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(service: Service) -> None:
    """Show progress until the service answers; fail with its log if it exits."""
    url = f"http://127.0.0.1:{service.port}{service.ready_path}"
    start = time.monotonic()
    say(f"  {service.name:<11}", end=" ")
    dots = 0
    while True:
        if http_ok(url) and (service.ready_check is None or service.ready_check()):
            what = f" ({service.ready_what})" if service.ready_what else ""
            say(f" ready in {time.monotonic() - start:.1f}s{what}")
            return
        if not service.alive():
            say("FAILED")
            raise RuntimeError(f"{service.name} exited with status {service.popen.returncode}"
                               f" before it was ready; its log ({service.log}):\n"
                               f"{service.log_tail()}")
        if time.monotonic() - start > service.ready_timeout:
            say("FAILED")
            raise RuntimeError(f"{service.name} was not ready at {url} within "
                               f"{service.ready_timeout:.0f}s; its log ({service.log}):\n"
                               f"{service.log_tail()}")
        if dots < 40:
            say(".", end="")
            dots += 1
        time.sleep(0.5)


def prometheus_scrapes_exporter(port: int) -> Callable[[], bool]:
    """A check: Prometheus on ``port`` has scraped the exporter successfully."""
    query = urllib.parse.urlencode({"query": 'up{job="wardops-exporter"} == 1'})

    def check() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{query}",
                                        timeout=2) as resp:
                return bool(json.load(resp)["data"]["result"])
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False
    return check


def alerter_config(run_dir: Path, prometheus_port: int, sink_port: int,
                   evaluation_interval: str) -> dict[str, object]:
    """The demo's alerter config: the default rules, state under ``run_dir``, the sink."""
    return {
        "prometheus": {"url": f"http://127.0.0.1:{prometheus_port}", "timeout": "10s"},
        "evaluation_interval": evaluation_interval,
        "rule_files": [str(REPO / "rules" / "*.yml")],
        "state_dir": str(run_dir / "alerter"),
        "external_url": "http://127.0.0.1:9470",
        # group_wait of one probe interval of the example inventory (10 s): the devices of
        # a site that goes dark stop answering within one interval, and SiteDown must be
        # there to inhibit their DeviceDown (and flapping/probe alerts) before the first
        # notification goes out.
        # MaintenanceWindow only mutes (the inhibit rules below), as in examples/alerter.yml
        "route": {"receiver": "demo-sink", "group_by": ["alertname", "site"],
                  "group_wait": "10s", "group_interval": "1m", "repeat_interval": "4h",
                  "routes": [{"matchers": ['alertname="MaintenanceWindow"'],
                              "receiver": "none"}]},
        "inhibit_rules": [{"source_matchers": ['alertname="MaintenanceWindow"', 'device!=""'],
                           "target_matchers": ['alertname!="MaintenanceWindow"'],
                           "equal": ["device", "address"]},
                          {"source_matchers": ['alertname="MaintenanceWindow"', 'device=""'],
                           "target_matchers": ['alertname!="MaintenanceWindow"'],
                           "equal": ["site"]},
                          {"source_matchers": ['alertname="SiteDown"'],
                           "target_matchers": [
                               'alertname=~"DeviceDown|DeviceFlapping|ProbeFailing|ProbeStale"'],
                           "equal": ["site"]},
                          {"source_matchers": ['alertname="DeviceFlapping"'],
                           "target_matchers": ['alertname="DeviceDown"'],
                           "equal": ["device", "address"]}],
        "receivers": [{"name": "demo-sink", "webhook_configs": [
            {"url": f"http://127.0.0.1:{sink_port}/demo", "send_resolved": True}]},
                      {"name": "none"}],
    }


def _generated(path: Path, doc: dict[str, object]) -> Path:
    path.write_text("# Generated by scripts/demo; edited copies are overwritten.\n"
                    + yaml.safe_dump(doc, sort_keys=False))
    return path


def build_services(args: argparse.Namespace, run_dir: Path, loop: bool) -> list[Service]:
    """The four programs, in start order; with ``loop``, configured for the daily loop
    (the branch in the inventory, short intervals, escalation, a write token)."""
    logs = run_dir / "logs"
    alerter = alerter_config(run_dir, args.prometheus_port, args.sink_port,
                             args.evaluation_interval)
    inventory, prometheus_yml = args.inventory, REPO / "prometheus.yml"
    if loop:
        alerter = alerter_overrides(alerter, alerting_rules(run_dir / "rules"),
                                    args.sink_port, TOKEN_ENV)
        inventory = _generated(run_dir / "devices.yml", loop_inventory(args.inventory))
        prometheus_yml = _generated(run_dir / "prometheus.yml", loop_prometheus_config())
    config = _generated(run_dir / "alerter.yml", alerter)
    py = sys.executable
    return [
        # in the loop the loop prints what arrives, with the step it belongs to
        Service("sink", [py, str(REPO / "examples" / "webhook_sink.py"),
                         "--listen", f"127.0.0.1:{args.sink_port}",
                         "--jsonl", str(run_dir / "sink" / "notifications.jsonl")],
                args.sink_port, "/-/healthy", f"http://127.0.0.1:{args.sink_port}/",
                logs / "sink.log" if loop else None),
        Service("exporter", [py, "-m", "exporter", "--config", str(inventory),
                             "--web.listen-address", f"127.0.0.1:{args.exporter_port}",
                             "--state-file", str(run_dir / "exporter" / "state.json")],
                args.exporter_port, "/-/ready", f"http://127.0.0.1:{args.exporter_port}/",
                logs / "exporter.log"),
        Service("prometheus", [args.prometheus, f"--config.file={prometheus_yml}",
                               f"--storage.tsdb.path={run_dir / 'prometheus'}",
                               f"--web.listen-address=127.0.0.1:{args.prometheus_port}",
                               "--storage.tsdb.retention.time=35d"],
                args.prometheus_port, "/-/ready", f"http://127.0.0.1:{args.prometheus_port}/",
                logs / "prometheus.log",
                # The alerter would rightly raise MonitoringDegraded before the first scrape.
                ready_check=prometheus_scrapes_exporter(args.prometheus_port),
                ready_what="scraping the exporter"),
        Service("alerter", [py, "-m", "alerter", "--config", str(config),
                            "--web.listen-address", f"127.0.0.1:{args.alerter_port}"],
                args.alerter_port, "/-/ready", f"http://127.0.0.1:{args.alerter_port}/",
                logs / "alerter.log"),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, default=REPO / "examples" / "devices.yml",
                        help="exporter config (default: examples/devices.yml)")
    parser.add_argument("--run-dir", type=Path, default=REPO / "run",
                        help="where all data and logs go (default: run/)")
    parser.add_argument("--sink-port", type=int, default=9099)
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="at Ctrl-C, before stopping Prometheus, write the availability "
                             "report of the demo's run to DIR (wardops-report, docs/report.md)")
    parser.add_argument("--evaluation-interval", default="15s",
                        help="alerter evaluation interval (default: 15s, the scrape interval)")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus",
                        help="Prometheus binary (default: the one on PATH)")
    parser.add_argument("--no-loop", action="store_true",
                        help="do not build the demo branch or play the daily loop (it "
                             "needs root)")
    parser.add_argument("--branch-netns", default="wardops-demo", metavar="NAME",
                        help="the daily loop's network namespace (default: wardops-demo; "
                             "a leftover of that name is removed at start)")
    args = parser.parse_args(argv)
    # prometheus.yml is used as it is, so these are its targets' ports.
    args.exporter_port, args.alerter_port, args.prometheus_port = 9469, 9470, 9090
    return args


def main(argv: list[str] | None = None) -> int:
    """Start the stack, wait for Ctrl-C, stop it."""
    args = parse_args(argv)
    run_dir = args.run_dir.resolve()
    for sub in ("logs", "sink", "exporter", "alerter", "prometheus"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    if not args.inventory.exists():
        print(f"demo: {args.inventory}: no such inventory file", file=sys.stderr)
        return 2
    if shutil.which(args.prometheus) is None and not Path(args.prometheus).exists():
        print("demo: prometheus not found (scripts/bootstrap run installs the Debian "
              "package)", file=sys.stderr)
        return 2
    busy = [p for p in (args.sink_port, args.exporter_port, args.prometheus_port,
                        args.alerter_port) if not port_free(p)]
    if busy:
        print(f"demo: port(s) {', '.join(map(str, busy))} on 127.0.0.1 already in use "
              "(a system Prometheus on 9090? `systemctl stop prometheus`, or an earlier "
              "demo still running)", file=sys.stderr)
        return 2

    no_loop = "--no-loop" if args.no_loop else why_no_loop()
    branch = None if no_loop else Branch(args.branch_netns)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env[TOKEN_ENV] = secrets.token_urlsafe(24)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    services: list[Service] = []
    # cleans up if this process is killed (kill -9) before its finally: below runs
    reaper = subprocess.Popen([sys.executable, str(REPO / "scripts" / "demo_reaper.py"),
                               branch.netns if branch else ""], stdin=subprocess.PIPE,
                              start_new_session=True)
    assert reaper.stdin is not None
    status = 0
    started: float | None = None
    console = Console()
    say(f"wardops demo: starting the stack (data and logs in {run_dir})")
    try:
        if branch is not None:
            if branch.remove_leftover():
                say(f"  removed the namespace {branch.netns} and links left by an earlier run")
            branch.create()  # before the exporter, which probes over its links
            say(f"  branch     network namespace {branch.netns}, reached over veth "
                "(wdemo-magti, wdemo-silknet)")
        else:
            say(f"  no daily loop ({no_loop}): showing the stack on {args.inventory.name} only")
        services = build_services(args, run_dir, branch is not None)
        if branch is not None:  # for a person who wants to press the / page's buttons
            token_file = run_dir / "alerter-token"
            token_file.touch(mode=0o600)
            token_file.chmod(0o600)
            token_file.write_text(env[TOKEN_ENV] + "\n")
        for service in services:
            service.start(env, console)
            assert service.popen is not None
            reaper.stdin.write(f"{service.popen.pid}\n".encode())
            reaper.stdin.flush()
            wait_ready(service)
        started = time.time()
        print_urls(services, run_dir, started, branch is not None)
        console.release()
        if branch is not None:
            by_name = {s.name: s for s in services}
            DailyLoop(branch, run_dir / "sink" / "notifications.jsonl", by_name["alerter"].url,
                      by_name["prometheus"].url, env[TOKEN_ENV], say).run()
        while True:
            for service in services:
                if not service.alive():
                    raise RuntimeError(f"{service.name} exited with status "
                                       f"{service.popen.returncode}; its log "
                                       f"({service.log}):\n{service.log_tail()}")
            time.sleep(1)
    except Interrupted as why:
        say(f"\nwardops demo: {why}: stopping")
    except RuntimeError as exc:
        console.release()
        say(f"\ndemo: {exc}", file=sys.stderr)
        status = 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        prometheus = next((s for s in services if s.name == "prometheus"), None)
        if args.report is not None and started is not None and prometheus is not None \
                and prometheus.alive():
            write_report(prometheus.url, started, args.report, env)
        for service in reversed(services):
            if service.popen is not None:
                code = service.stop()
                say(f"  stopped {service.name} (exit status {code})")
        if branch is not None:  # after the exporter, which probes over its links
            branch.remove()
            say(f"  removed the branch namespace {branch.netns}")
        reaper.stdin.write(b"done\n")
        reaper.stdin.close()
        reaper.wait()
    return status


def report_command(prometheus: str, started: float, output: Path) -> list[str]:
    """wardops-report over the demo's run, from when Prometheus scraped the exporter."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(started)))
    return [sys.executable, "-m", "report", "--prometheus", prometheus.rstrip("/"),
            "--from", since, "--to", "now", "--allow-gaps", "--output", str(output)]


def write_report(prometheus: str, started: float, output: Path, env: dict[str, str]) -> None:
    """The availability report of the run, written before Prometheus stops."""
    say(f"  writing the availability report of this run to {output}")
    result = subprocess.run(report_command(prometheus, started, output), env=env,
                            capture_output=True, text=True, timeout=300)
    if result.returncode == 0:
        say(f"  report: {output / 'report.html'}")
    else:
        say(f"  report failed: {result.stderr.strip()}", file=sys.stderr)


def print_urls(services: list[Service], run_dir: Path, started: float, loop: bool) -> None:
    """What to open, and what happens next."""
    by_name = {s.name: s for s in services}
    prom = by_name["prometheus"].url
    command = " ".join(report_command(prom, started, run_dir / "report"))
    command = command.replace(sys.executable + " -m report", "wardops-report")
    say(f"""
wardops demo is running. Open:
  exporter    {by_name['exporter'].url}  counts by state; down devices first (newest
              outage first), then any not known to be up, then up ones by site, RTT, loss
  Prometheus  {prom}targets  both wardops targets UP
              {prom}graph?g0.expr=wardops_device_up&g0.tab=1
  alerter     {by_name['alerter'].url}api/v1/alerts  active alerts (Watchdog always)
  sink        {by_name['sink'].url}  notifications, printed below
  Grafana     not in this demo (no Debian package): `docker compose up` brings it
              with the dashboards provisioned (docs/stack.md)

{LOOP_NOTE.format(token_file=run_dir / 'alerter-token') if loop else NO_LOOP_NOTE}
Logs: {run_dir / 'logs'}. Ctrl-C stops everything.
The availability report of this run (while it runs; or start with --report DIR):
  {command}
""")


LOOP_NOTE = """The daily loop starts now, at the branch in its own network namespace. The
example devices (127.x) answer throughout; intervals are short (probes, scrapes and
evaluations every 2 s) so each step takes seconds. To press the alerter's buttons
yourself: its /?signin, any user name, the password in {token_file}."""
NO_LOOP_NOTE = """Every example device is a 127.x address and answers, so expect the Watchdog
notification and no outage (with root, the demo plays real outages)."""


if __name__ == "__main__":
    raise SystemExit(main())
