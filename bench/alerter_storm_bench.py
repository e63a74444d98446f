"""Storm benchmark: 1,000 devices down at once across 100 sites, grouped by site.

Feeds ``NotificationPipeline.process`` directly with 1,000 firing ``Alert`` objects and
measures the time until a real HTTP receiver on loopback has every notification (100
groups, 1,000 alerts). Side by side in the same run, Alertmanager (Debian's
``prometheus-alertmanager``) gets the same 1,000 alerts through its API v2 with the same
route, and the same kind of receiver times its webhooks. Target: wardops delivers within
``group_wait + 5 s``.

``--through-alerter`` also runs the whole chain once: a metrics target serving 1,100
devices (every site keeps one device up, so no SiteDown inhibits the storm), a real
Prometheus scraping it every second, the ``wardops-alerter`` process with the default
rules evaluating every second, and the receiver; the clock starts when the target
flips 1,000 devices to down.

    scripts/in-netns .venv/bin/python bench/alerter_storm_bench.py [--group-wait 1s] [--runs 3]
        [--through-alerter]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerter.model import Alert
from alerter.notify import NotificationPipeline
from alerter.notify.config import parse_notify_config
from tests.support import free_port, wait_http
from wardops_common.durations import parse_duration

SITES = 100
DEVICES = 1000


class Sink:
    """A loopback webhook receiver counting notifications and alerts, with arrival times."""

    def __init__(self) -> None:
        self.port = free_port()
        self.notifications = 0
        self.alerts = 0
        self.last_at = 0.0
        self.first_at = 0.0
        self.done = threading.Event()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with sink.lock:
                    sink.notifications += 1
                    sink.alerts += len(body["alerts"])
                    sink.last_at = time.time()
                    sink.first_at = sink.first_at or sink.last_at
                    if sink.alerts >= DEVICES:
                        sink.done.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        # A deep accept backlog: Alertmanager opens one connection per group at once, and
        # the default backlog of 5 would make it wait for SYN retransmits, not for itself.
        ThreadingHTTPServer.request_queue_size = 1024
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def storm_labels() -> list[dict[str, str]]:
    return [{"alertname": "DeviceDown", "severity": "critical", "site": f"site{i % SITES:03d}",
             "device": f"dev{i:04d}", "address": f"127.20.{i // 250}.{i % 250 + 1}"}
            for i in range(DEVICES)]


def run_wardops(group_wait: str, tmp: Path) -> dict[str, float]:
    sink = Sink()
    cfg = parse_notify_config({
        "route": {"receiver": "chat", "group_by": ["site"], "group_wait": group_wait,
                  "group_interval": "5m"},
        "receivers": [{"name": "chat", "webhook_configs": [{"url": sink.url}]}]})
    pipeline = NotificationPipeline(cfg, tmp, external_url="http://bench")
    pipeline.start()
    now = time.time()
    alerts = [Alert(labels=ls, annotations={"summary": f"{ls['device']} is DOWN"},
                    state="firing", starts_at=now) for ls in storm_labels()]
    cpu0 = time.process_time()
    t0 = time.time()
    pipeline.process(alerts)
    process_s = time.time() - t0
    process_cpu = time.process_time() - cpu0
    ok = sink.done.wait(60)
    total = sink.last_at - t0
    first = sink.first_at - t0
    pipeline.stop()
    sink.close()
    if not ok:
        raise SystemExit(f"wardops: only {sink.alerts}/{DEVICES} alerts arrived")
    return {"delivered_s": total, "after_group_wait_s": total - parse_duration(group_wait),
            "first_s": first, "process_call_s": process_s, "process_cpu_s": process_cpu,
            "notifications": sink.notifications}


def run_alertmanager(group_wait: str, tmp: Path) -> dict[str, float] | None:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        return None
    sink = Sink()
    port = free_port()
    cfg = tmp / "am.yml"
    cfg.write_text(json.dumps({
        "route": {"receiver": "chat", "group_by": ["site"], "group_wait": group_wait,
                  "group_interval": "5m"},
        "receivers": [{"name": "chat", "webhook_configs": [{"url": sink.url}]}]}))
    proc = subprocess.Popen([binary, f"--config.file={cfg}", f"--storage.path={tmp / 'am'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/-/ready", timeout=30)
        payload = [{"labels": ls, "annotations": {"summary": f"{ls['device']} is DOWN"}}
                   for ls in storm_labels()]
        t0 = time.time()
        requests.post(base + "/api/v2/alerts", json=payload, timeout=30).raise_for_status()
        ok = sink.done.wait(60)
        total = sink.last_at - t0
        first = sink.first_at - t0
    finally:
        proc.terminate()
        proc.wait(10)
        sink.close()
    if not ok:
        raise SystemExit(f"alertmanager: only {sink.alerts}/{DEVICES} alerts arrived")
    return {"delivered_s": total, "after_group_wait_s": total - parse_duration(group_wait),
            "first_s": first, "notifications": sink.notifications}


def run_through_alerter(group_wait: str, tmp: Path) -> dict[str, float]:
    """The storm through exporter metrics -> Prometheus -> wardops-alerter -> receiver."""
    import textwrap

    from tests.alerter.harness import TSDB, FakeExporter
    from tests.support import REPO, Proc, python_env

    exporter = FakeExporter()
    storm = []
    for ls in storm_labels():
        storm.append(exporter.add(ls["device"], site=ls["site"], address=ls["address"]))
    for i in range(SITES):
        exporter.add(f"keeper{i:03d}", site=f"site{i:03d}", address=f"127.21.0.{i + 1}")
    tsdb = TSDB("prometheus", exporter.port, tmp / "prometheus").start()
    sink = Sink()
    (tmp / "rules").mkdir()
    shutil.copy(REPO / "rules" / "wardops.yml", tmp / "rules" / "wardops.yml")
    config = tmp / "alerter.yml"
    config.write_text(textwrap.dedent(f"""\
        prometheus: {{url: "{tsdb.url}", timeout: 5s}}
        evaluation_interval: 1s
        rule_files: [rules/*.yml]
        state_dir: state
        external_url: http://bench
        route:
          receiver: none
          group_by: [alertname, site]
          group_wait: {group_wait}
          group_interval: 5m
          routes:
            - matchers: ['alertname="DeviceDown"']
              receiver: chat
        receivers:
          - name: none
          - name: chat
            webhook_configs: [{{url: "{sink.url}"}}]
        """))
    port = free_port()
    alerter = Proc([sys.executable, "-m", "alerter", "--config", str(config),
                    "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warning"],
                   log=tmp / "alerter.log", env=python_env())
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=60)
        except AssertionError:
            raise SystemExit("the alerter did not become ready:\n" + alerter.output()) from None
        time.sleep(3)  # a few quiet evaluations first
        t0 = time.time()
        for key in storm:
            exporter.set_up(key, False)
        ok = sink.done.wait(90)
        total = sink.last_at - t0
        first = sink.first_at - t0
    finally:
        alerter.stop()
        tsdb.stop()
        exporter.close()
        sink.close()
    if not ok:
        raise SystemExit(f"through the alerter: only {sink.alerts}/{DEVICES} alerts arrived; "
                         f"see {tmp / 'alerter.log'}")
    return {"delivered_s": total, "first_s": first, "notifications": sink.notifications}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group-wait", default="1s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--through-alerter", action="store_true")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"wardops": [], "alertmanager": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            results["wardops"].append(run_wardops(args.group_wait, Path(d)))
        with tempfile.TemporaryDirectory() as d:
            am = run_alertmanager(args.group_wait, Path(d))
            if am:
                results["alertmanager"].append(am)
    w = results["wardops"]
    med = statistics.median(r["delivered_s"] for r in w)
    print(f"storm: {DEVICES} devices down across {SITES} sites, group_by [site], "
          f"group_wait {args.group_wait}, {args.runs} runs (median)")
    print(f"wardops:      all {int(w[0]['notifications'])} notifications delivered "
          f"{med:.2f} s after process() "
          f"({statistics.median(r['after_group_wait_s'] for r in w):.2f} s after group_wait; "
          f"first at {statistics.median(r['first_s'] for r in w):.2f} s); "
          f"process() call {statistics.median(r['process_call_s'] for r in w) * 1000:.1f} ms, "
          f"{statistics.median(r['process_cpu_s'] for r in w) * 1000:.1f} ms CPU")
    target = parse_duration(args.group_wait) + 5
    print(f"target:       <= {target:.1f} s  -> {'met' if med <= target else 'MISSED'}")
    if results["alertmanager"]:
        a = results["alertmanager"]
        am_med = statistics.median(r["delivered_s"] for r in a)
        print(f"alertmanager: all {int(a[0]['notifications'])} notifications delivered "
              f"{am_med:.2f} s after POST /api/v2/alerts "
              f"({statistics.median(r['after_group_wait_s'] for r in a):.2f} s after group_wait; "
              f"first at {statistics.median(r['first_s'] for r in a):.2f} s)")
        print(f"ratio wardops/alertmanager: {med / am_med:.2f}")
    if args.through_alerter:
        with tempfile.TemporaryDirectory() as d:
            e2e = run_through_alerter(args.group_wait, Path(d))
        print(f"whole chain:  all {int(e2e['notifications'])} notifications delivered "
              f"{e2e['delivered_s']:.2f} s after 1,000 devices went down at the target "
              f"(first at {e2e['first_s']:.2f} s; includes <= 1 s scrape + <= 1 s evaluation)")
    print(f"peak RSS of the bench process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
