"""The demo's daily loop: one branch in a network namespace of the demo's own, and a
short script of real outages in it, each step waiting for the real notification.

With root, ``scripts/demo`` builds the branch before it starts the stack:

- a network namespace (``wardops-demo`` by default) reached from the host over two veth
  pairs, one per ISP: Magti (``wdemo-magti`` → 198.18.1.2) and Silknet
  (``wdemo-silknet`` → 198.18.2.2). The branch router is probed over both **paths**
  (inventory key ``paths``, each bound to its veth with ``interface``); its switch and ATM
  (198.18.10.2 and .3) are reached over Magti. 198.18.0.0/15 is the range reserved for
  network benchmarks (RFC 2544): nothing of it is routed beyond these veth links, and the
  exporter starts after the links exist and stops before they go.
- outages are nftables drops in the branch namespace's own table (the host firewall is
  never touched): the Silknet link's traffic (its interface stays up), the ATM, the
  whole branch.

Then :class:`DailyLoop` plays: Silknet drops → IspPathDown; the ATM goes down →
DeviceDown; nobody acknowledges → the on-call escalation; an acknowledgement (the
alerter's API, as the ``/`` page's button) → no manager escalation; the router goes down
→ SiteDown, and no DeviceDown for the devices behind it; everything returns → resolves.
The namespace (and with it the veth links and the drops) is removed on exit, Ctrl-C and
SIGTERM, and a leftover of a killed run is removed at the next start.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

SITE = "Kutaisi"
ROUTER, SWITCH, ATM = f"{SITE}-Router", f"{SITE}-Switch", f"{SITE}-ATM"
LAN = {ROUTER: "198.18.10.1", SWITCH: "198.18.10.2", ATM: "198.18.10.3"}


@dataclass(frozen=True)
class Uplink:
    """One ISP's veth pair: the host's end and the branch router's end."""

    isp: str
    host_if: str
    branch_if: str
    host_address: str
    branch_address: str


UPLINKS = (Uplink("Magti", "wdemo-magti", "magti0", "198.18.1.1", "198.18.1.2"),
           Uplink("Silknet", "wdemo-silknet", "silknet0", "198.18.2.1", "198.18.2.2"))
NFT_TABLE = "wardops_demo"

# The demo's short intervals: a step's notification within seconds, not minutes.
PROBE = {"interval": "2s", "timeout": "500ms", "count": 2, "down_after": 1, "up_after": 1}
SCRAPE_INTERVAL = "2s"
EVALUATION_INTERVAL = "2s"
ROUTE_TIMING = {"group_wait": "4s", "group_interval": "5s", "repeat_interval": "4h"}
# IspPathDown waits 1m in rules/paths.yml; the demo's copy waits this long.
ISP_PATH_DOWN_FOR = "10s"
# DeviceFlapping's windows (5m, 2m) on the demo's clock: 15 s is 7 probes of 2 s.
FLAP_WINDOWS = {"5m": "15s", "2m": "6s"}
ESCALATION = [{"after": "10s", "receiver": "demo-oncall"},
              {"after": "25s", "receiver": "demo-manager"}]
STEP_TIMEOUT = 60.0
# After SiteDown arrives: how long the loop watches for a false DeviceDown of a device
# behind the router (several evaluations and group flushes).
WATCH = 10.0


def why_no_loop() -> str | None:
    """Why this machine cannot run the daily loop (None: it can)."""
    if os.geteuid() != 0:
        return ("not root: the daily loop needs a network namespace, veth links and "
                "nftables (sudo scripts/demo)")
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found (Debian: iproute2, nftables)"
    return None


def _run(*args: str, check: bool = True, stdin: str | None = None) -> int:
    result = subprocess.run(list(args), input=stdin.encode() if stdin else None,
                            capture_output=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.returncode


class Branch:
    """The branch namespace, its veth links and its nftables drops."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.drops: dict[str, str] = {}  # what → nft rule

    def remove_leftover(self) -> bool:
        """Remove a namespace and links of an earlier run; whether there were any."""
        found = False
        if _run("ip", "netns", "pids", self.netns, check=False) == 0 or \
                (Path("/run/netns") / self.netns).exists():
            _run("ip", "netns", "del", self.netns, check=False)
            found = True
        for link in UPLINKS:  # a host end whose peer never reached the namespace
            if _run("ip", "link", "show", link.host_if, check=False) == 0:
                _run("ip", "link", "del", link.host_if, check=False)
                found = True
        return found

    def create(self) -> None:
        """Build the namespace, its two uplinks, the LAN addresses and the empty table."""
        _run("ip", "netns", "add", self.netns)
        _run("ip", "-n", self.netns, "link", "set", "lo", "up")
        for address in LAN.values():
            _run("ip", "-n", self.netns, "addr", "add", f"{address}/32", "dev", "lo")
        for link in UPLINKS:
            _run("ip", "link", "add", link.host_if, "type", "veth", "peer", "name",
                 link.branch_if, "netns", self.netns)
            _run("ip", "addr", "add", f"{link.host_address}/24", "dev", link.host_if)
            _run("ip", "link", "set", link.host_if, "up")
            _run("ip", "-n", self.netns, "addr", "add", f"{link.branch_address}/24", "dev",
                 link.branch_if)
            _run("ip", "-n", self.netns, "link", "set", link.branch_if, "up")
        # the branch's LAN is reached over Magti (the scoped route exists only while the
        # link does: with the link gone, so is the route)
        _run("ip", "route", "add", "198.18.10.0/24", "via", UPLINKS[0].branch_address,
             "dev", UPLINKS[0].host_if)
        self._apply()

    def remove(self) -> None:
        """Remove the namespace: its veth pairs, routes and drops go with it."""
        self.remove_leftover()

    def drop(self, what: str, rule: str) -> None:
        """Start dropping ``rule``'s packets in the branch (named ``what``)."""
        self.drops[what] = rule
        self._apply()

    def restore(self, *whats: str) -> None:
        """Stop the drops named ``whats`` (all when none is named)."""
        for what in whats or list(self.drops):
            self.drops.pop(what, None)
        self._apply()

    def _apply(self) -> None:
        """Replace the branch table's rules with the current drops, atomically."""
        rules = "\n".join(f"    {rule}" for rule in self.drops.values())
        _run("ip", "netns", "exec", self.netns, "nft", "-f", "-", stdin=f"""
table inet {NFT_TABLE}
delete table inet {NFT_TABLE}
table inet {NFT_TABLE} {{
  chain input {{
    type filter hook input priority 0; policy accept;
{rules}
  }}
}}
""")


# ------------------------------------------------------------ the stack's configuration

def inventory(base: Path) -> dict[str, Any]:
    """``base`` (the example inventory) with the demo's short probe timing and the
    branch: a dual-ISP router, a switch behind it, an ATM behind the switch."""
    doc = yaml.safe_load(base.read_text()) or {}
    doc["probe"] = {**(doc.get("probe") or {}), **PROBE}
    if doc.get("inventory_files"):  # relative to the base file, which stays where it is
        doc["inventory_files"] = [str((base.parent / p).resolve()) if not Path(p).is_absolute()
                                  else p for p in doc["inventory_files"]]
    doc.setdefault("sites", {})[SITE] = {"labels": {"region": "Imereti"},
                                         "latitude": 42.27, "longitude": 42.7}
    doc.setdefault("devices", []).extend([
        {"name": ROUTER, "address": LAN[ROUTER], "site": SITE, "type": "router",
         "paths": [{"isp": u.isp, "address": u.branch_address, "interface": u.host_if}
                   for u in UPLINKS]},
        {"name": SWITCH, "address": LAN[SWITCH], "site": SITE, "type": "switch"},
        {"name": ATM, "address": LAN[ATM], "site": SITE, "type": "atm", "parent": SWITCH},
    ])
    return doc


def prometheus_config() -> dict[str, Any]:
    """The repository's prometheus.yml with the demo's scrape interval."""
    doc = yaml.safe_load((REPO / "prometheus.yml").read_text())
    doc["global"]["scrape_interval"] = doc["global"]["evaluation_interval"] = SCRAPE_INTERVAL
    for job in doc["scrape_configs"]:
        job["scrape_interval"] = SCRAPE_INTERVAL
        job.pop("scrape_timeout", None)
    doc["rule_files"] = [str(REPO / p) for p in doc.get("rule_files", [])]
    return doc


def alerting_rules(dest: Path) -> Path:
    """rules/*.yml in ``dest``, on the demo's compressed clock: IspPathDown's `for`
    shortened to ISP_PATH_DOWN_FOR, and the state-change windows of DeviceFlapping (and
    of DeviceDown's flapping clause) to FLAP_WINDOWS, so the ATM that goes down twice in
    a minute (steps 2 and 4) does not count as flapping, as it would not over a day."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted((REPO / "rules").glob("*.yml")):
        text = src.read_text()
        if src.name == "paths.yml":
            text = _replace(text, r"(- alert: IspPathDown\n(?:.*\n)*?\s+)for: 1m",
                            rf"\1for: {ISP_PATH_DOWN_FOR}", 1)
        if src.name == "wardops.yml":
            for long, short in FLAP_WINDOWS.items():
                text = _replace(text, re.escape(f"wardops_device_state_changes_total[{long}]"),
                                f"wardops_device_state_changes_total[{short}]", 2)
            text = _replace(text, "up/down changes in 5 minutes",
                            f"up/down changes in {FLAP_WINDOWS['5m']}", 1)
        (dest / src.name).write_text(text)
    return dest


def _replace(text: str, pattern: str, replacement: str, count: int) -> str:
    """``re.subn``, failing unless it replaced exactly ``count`` times (rules changed)."""
    text, n = re.subn(pattern, replacement, text)
    if n != count:
        raise RuntimeError(f"the demo's rule copy: {pattern!r} found {n} times, "
                           f"expected {count}")
    return text


def alerter_overrides(config: dict[str, Any], rules: Path, sink_port: int,
                      token_env: str) -> dict[str, Any]:
    """The demo alerter's config for the loop: faster timing, the ATMs' escalation
    (on-call, then the branch manager) and a writer token for the acknowledgement."""
    config["evaluation_interval"] = EVALUATION_INTERVAL
    config["rule_files"] = [str(rules / "*.yml")]
    route = config["route"]
    route.update(ROUTE_TIMING)
    route["routes"].append({"matchers": ['alertname="DeviceDown"', 'type="atm"'],
                            "receiver": "demo-sink", "escalation": ESCALATION})
    config["receivers"] += [
        {"name": name, "webhook_configs": [
            {"url": f"http://127.0.0.1:{sink_port}/{name}", "send_resolved": True}]}
        for name in ("demo-oncall", "demo-manager")]
    config["api"] = {"bearer_token_env": token_env}
    return config


# ------------------------------------------------------------ the loop

def _load_sink_formatter() -> Callable[[dict[str, Any]], str]:
    spec = importlib.util.spec_from_file_location("webhook_sink",
                                                  REPO / "examples" / "webhook_sink.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.format_notification  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Arrived:
    """One alert of one notification the sink received."""

    at: float
    receiver: str
    status: str
    labels: dict[str, str]
    level: int  # escalation level, 0 for the route's own notification

    def matches(self, alertname: str, status: str, receiver: str | None = None,
                **labels: str) -> bool:
        return (self.labels.get("alertname") == alertname and self.status == status
                and (receiver is None or self.receiver == receiver)
                and all(self.labels.get(k) == v for k, v in labels.items()))

    def line(self) -> str:
        where = " ".join(f"{k}={self.labels[k]}" for k in ("device", "isp", "site")
                         if k in self.labels)
        esc = f" (escalation level {self.level})" if self.level else ""
        return (f"{self.status.upper()} {self.labels.get('alertname')} {where} "
                f"→ {self.receiver}{esc}")


class DailyLoop:
    """The scripted outages, printed as they happen, each waiting for its notification."""

    def __init__(self, branch: Branch, jsonl: Path, alerter: str, prometheus: str,
                 token: str, say: Callable[[str], None]) -> None:
        self.branch, self.jsonl, self.alerter, self.prometheus = branch, jsonl, alerter, prometheus
        self.token, self._say = token, say
        self.format = _load_sink_formatter()
        self.seen = 0  # lines of the JSONL already read
        self.arrived: list[Arrived] = []
        self.started = time.time()

    # ---------------------------------------------------------------- output
    def say(self, text: str) -> None:
        now = time.time()
        elapsed = int(now - self.started)
        stamp = time.strftime("%H:%M:%S", time.gmtime(now))
        self._say(f"[{stamp} +{elapsed // 60}:{elapsed % 60:02d}] {text}")

    def poll(self) -> None:
        """Read what the sink received since the last poll; print each notification."""
        if not self.jsonl.exists():
            return
        lines = self.jsonl.read_text().splitlines()
        for line in lines[self.seen:]:
            if not line.strip():
                continue
            record = json.loads(line)
            payload = record.get("payload")
            if record.get("verdict") != "applied" or not isinstance(payload, dict):
                continue
            level = int(payload.get("escalationLevel") or 0)
            for alert in payload.get("alerts") or []:
                self.arrived.append(Arrived(record["received_at"], payload.get("receiver", ""),
                                            alert.get("status", payload.get("status", "")),
                                            alert.get("labels") or {}, level))
            self.say("notification arrived:\n" + self.format(payload))
        self.seen = len(lines)

    # ---------------------------------------------------------------- waiting
    def wait(self, what: str, condition: Callable[[], Any],
             timeout: float = STEP_TIMEOUT) -> Any:
        """Poll the sink until ``condition()`` is truthy; fail with what arrived."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                got = "\n".join(f"  {a.line()}" for a in self.arrived) or "  nothing"
                raise RuntimeError(f"daily loop: no {what} within {timeout:.0f}s; "
                                   f"the sink received:\n{got}")
            time.sleep(0.25)

    def wait_notified(self, alertname: str, status: str, receiver: str | None = None,
                      since: float = 0.0, **labels: str) -> Arrived:
        """The first alert matching, received at or after ``since``."""
        def found() -> Arrived | None:
            return next((a for a in self.arrived if a.at >= since
                         and a.matches(alertname, status, receiver, **labels)), None)
        what = f"{status} {alertname} {labels}" + (f" to {receiver}" if receiver else "")
        arrived: Arrived = self.wait(what, found)
        return arrived

    # ---------------------------------------------------------------- the APIs
    def _get(self, url: str) -> Any:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.load(resp)

    def alerts(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        """The alerter's active alerts of ``alertname`` with ``labels`` (its API)."""
        body = self._get(f"{self.alerter}api/v1/alerts")
        return [a for a in body["data"]["alerts"] if a["labels"].get("alertname") == alertname
                and all(a["labels"].get(k) == v for k, v in labels.items())]

    def down_in_prometheus(self, device: str) -> bool:
        query = urllib.parse.urlencode({"query": f'wardops_device_up{{device="{device}"}} == 0'})
        body = self._get(f"{self.prometheus}api/v1/query?{query}")
        return bool(body["data"]["result"])

    def acknowledge(self, fingerprint: str) -> None:
        """What the alerts page's Acknowledge button posts."""
        request = urllib.request.Request(
            f"{self.alerter}api/v1/alerts/{fingerprint}/ack", method="POST",
            data=json.dumps({"createdBy": "demo", "comment": "ATM vendor called"}).encode(),
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"daily loop: the acknowledgement was refused: {exc.code} "
                               f"{exc.read().decode(errors='replace')}")

    # ---------------------------------------------------------------- the script
    def run(self) -> None:
        """Play the loop; raises RuntimeError when a step's notification does not come."""
        self.started = time.time()
        self.poll()
        self.say(f"The daily loop at branch {SITE}: {ROUTER} on two ISPs (Magti, Silknet), "
                 f"{SWITCH} behind it, {ATM} behind the switch; every outage is an "
                 f"nftables drop in the network namespace {self.branch.netns}.")
        self.isp_path_down()
        self.atm_down_escalated_then_acknowledged()
        self.router_down()
        self.say("The daily loop is done: every notification above came from a real "
                 "outage. The stack keeps running: open the pages above; Ctrl-C stops it.")

    def isp_path_down(self) -> None:
        silknet = UPLINKS[1]
        self.say(f"1. Silknet stops carrying traffic: dropping everything that arrives on "
                 f"{silknet.branch_if} (its interface stays up). Expect IspPathDown "
                 f"(warning) after {ISP_PATH_DOWN_FOR}: the branch runs on Magti.")
        self.branch.drop("silknet", f'iifname "{silknet.branch_if}" drop')
        since = time.time()
        self.wait_notified("IspPathDown", "firing", since=since, device=ROUTER, isp="Silknet")
        self.say("   Silknet is back: restoring it. Expect IspPathDown resolved.")
        self.branch.restore("silknet")
        self.wait_notified("IspPathDown", "resolved", since=since, device=ROUTER,
                           isp="Silknet")

    def atm_down_escalated_then_acknowledged(self) -> None:
        self.say(f"2. {ATM} goes down (its switch and router still answer). Expect "
                 f"DeviceDown for it, and only for it.")
        self.branch.drop("atm", f"ip daddr {LAN[ATM]} drop")
        since = time.time()
        first = self.wait_notified("DeviceDown", "firing", "demo-sink", since=since,
                                   device=ATM)
        levels = ", ".join(f"{e['receiver']} after {e['after']}" for e in ESCALATION)
        self.say(f"3. Nobody acknowledges it: ATMs escalate ({levels}).")
        self.wait_notified("DeviceDown", "firing", "demo-oncall", since=since, device=ATM)
        alert = next(iter(self.alerts("DeviceDown", device=ATM)), None)
        if alert is None:
            raise RuntimeError(f"daily loop: the alerter's API lists no DeviceDown for {ATM}")
        self.say("   The loop acknowledges it, as the on-call engineer would with the "
                 "Acknowledge button on the alerter's / page "
                 f"(POST /api/v1/alerts/{alert['fingerprint']}/ack).")
        self.acknowledge(alert["fingerprint"])
        status = self.wait("the acknowledgement in the alerter's API", lambda: next(
            (a["status"] for a in self.alerts("DeviceDown", device=ATM)
             if a["status"].get("acked")), None), timeout=10)
        escalation = status.get("escalation") or {}
        self.say(f"   The API shows it acknowledged by {status.get('ackedBy')}; escalation "
                 f"{'stopped' if escalation.get('stopped') else escalation}.")
        # The manager's level falls due ESCALATION[1].after after the first notification;
        # watch until then and one group interval more: it must not come.
        due = first.at + _seconds(ESCALATION[1]["after"]) + _seconds(ROUTE_TIMING["group_interval"])
        self.say(f"   Level 2 ({ESCALATION[1]['receiver']}) would fall due at "
                 f"{time.strftime('%H:%M:%S', time.gmtime(due))}; watching until then.")
        self.wait("the manager's due time", lambda: time.time() >= due, timeout=STEP_TIMEOUT)
        if any(a.receiver == "demo-manager" for a in self.arrived):
            raise RuntimeError("daily loop: the manager was paged after the acknowledgement")
        self.say("   Nothing went to the manager: the acknowledgement stopped the escalation.")
        self.say(f"   {ATM} is back. Expect its DeviceDown resolved (to the sink and to "
                 "on-call, who was told it fired).")
        self.branch.restore("atm")
        self.wait_notified("DeviceDown", "resolved", "demo-sink", since=since, device=ATM)

    def router_down(self) -> None:
        self.say(f"4. {ROUTER} goes down (both ISPs, the whole branch dark). Its switch "
                 f"and ATM stop answering too, but they are cut off, not broken: expect "
                 f"SiteDown and no DeviceDown for {SWITCH} or {ATM}.")
        self.branch.drop("branch", 'iifname != "lo" drop')
        since = time.time()
        self.wait_notified("SiteDown", "firing", since=since, site=SITE)
        self.wait("the exporter reporting the switch and the ATM down", lambda: all(
            self.down_in_prometheus(d) for d in (SWITCH, ATM)), timeout=10)
        self.say(f"   The exporter reports {SWITCH} and {ATM} down (its / page shows them "
                 f"as \"parent down\"); watching {WATCH:.0f}s for a false page.")
        end = time.time() + WATCH
        self.wait("the watch", lambda: time.time() >= end, timeout=WATCH + 5)
        false = [a for a in self.arrived if a.at >= since and a.matches("DeviceDown", "firing")
                 and a.labels.get("device") in (SWITCH, ATM)]
        active = [a["labels"]["device"] for a in self.alerts("DeviceDown", site=SITE)
                  if a["labels"].get("device") in (SWITCH, ATM)]
        if false or active:
            raise RuntimeError(f"daily loop: DeviceDown for a cut-off device: {false or active}")
        self.say(f"   No DeviceDown for {SWITCH} or {ATM}.")
        self.say("5. Everything returns: removing every drop. Expect the resolves.")
        self.branch.restore()
        self.wait_notified("SiteDown", "resolved", since=since, site=SITE)
        if any(a.matches("DeviceDown", "firing", device=ROUTER) for a in self.arrived
               if a.at >= since):
            self.wait_notified("DeviceDown", "resolved", since=since, device=ROUTER)


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    if not match:
        raise ValueError(f"duration: {duration!r}")
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[match.group(2)]
