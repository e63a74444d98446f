"""The exporter as a user runs it: a real process, real ICMP in the private netns,
nftables taking loopback devices down and up, /metrics and the other endpoints."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests

from exporter import icmp
from tests.exporter.page import LandingPage
from tests.support import wait_for, wait_http

INTERVAL, TIMEOUT = 1.0, 0.5
# Slack for process start-up, scheduling on a busy 2-core box and one scrape.
SLACK = 2.0
PROBE = f"probe: {{interval: {INTERVAL:g}s, timeout: {TIMEOUT * 1000:g}ms, count: 1"


def test_metrics_for_up_down_and_unresolvable_devices(lab) -> None:  # type: ignore[no-untyped-def]
    lab.firewall.drop("127.0.10.2")
    lab.write_config(PROBE + """}
sites:
  Gldani: {labels: {region: Tbilisi}, latitude: 41.79, longitude: 44.82}
devices:
  - {name: Gldani-Router, address: 127.0.10.1, site: Gldani, type: Router, labels: {vendor: cisco}}
  - {name: Gldani-ATM, address: 127.0.10.2, site: Gldani, type: ATM}
  - {name: Gldani-NVR, address: nvr.gldani.invalid, site: Gldani, type: NVR}
  - {name: Gldani-AP, address: localhost, site: Gldani, type: Access Point}
  - {name: Gldani-Switch, address: "::1", site: Gldani, type: switch}
""")
    exporter = lab.start()
    within = INTERVAL + TIMEOUT + SLACK
    router = exporter.wait_device("Gldani-Router", "up", within, wardops_device_up=1)
    atm = exporter.wait_device("Gldani-ATM", "down", within, wardops_device_up=0)
    assert requests.get(exporter.url + "/-/ready", timeout=5).status_code == 200
    now = time.time()

    assert 0 < router["wardops_device_rtt_seconds"] < TIMEOUT
    assert router["wardops_device_packet_loss_ratio"] == 0
    assert router["wardops_device_down_since_timestamp_seconds"] == 0
    assert now - within <= router["wardops_device_last_probe_timestamp_seconds"] <= now
    assert router["wardops_device_state_changes_total"] == 0
    assert router["wardops_device_info"] == 1

    assert "wardops_device_rtt_seconds" not in atm
    assert atm["wardops_device_packet_loss_ratio"] == 1
    assert exporter.started - 1 <= atm["wardops_device_down_since_timestamp_seconds"] <= now

    # every per-device series has the core labels, the site's and the device's extra labels
    for name, labels, _ in exporter.samples():
        if labels.get("device") == "Gldani-Router":
            assert {k: labels[k] for k in ("device", "address", "site", "type", "region",
                                            "vendor")} == {
                "device": "Gldani-Router", "address": "127.0.10.1", "site": "Gldani",
                "type": "router", "region": "Tbilisi", "vendor": "cisco"}, name
    info = exporter.value("wardops_device_info", device="Gldani-ATM")
    assert info == 1
    assert exporter.value("wardops_device_info", device="Gldani-ATM", latitude="41.79",
                          longitude="44.82", type="atm") == 1

    # a name that does not resolve: a counted error, neither up nor down, no freshness
    nvr = exporter.device("Gldani-NVR")
    assert "wardops_device_up" not in nvr
    assert nvr["wardops_device_last_probe_timestamp_seconds"] == 0
    assert exporter.value("wardops_probe_errors_total", reason="dns") >= 1
    assert "probe failed to run" in exporter.proc.output()
    assert "nvr.gldani.invalid" in exporter.proc.output()
    # a resolvable name is probed, and so is an IPv6 address
    assert exporter.device("Gldani-AP")["wardops_device_up"] == 1
    assert exporter.device("Gldani-Switch")["wardops_device_up"] == 1

    # every reason the engine, the name lookup and the scheduler can report starts at 0
    reasons = {lbl["reason"]: v for n, lbl, v in exporter.samples()
               if n == "wardops_probe_errors_total"}
    assert set(reasons) == {"dns", *icmp.PROBE_ERROR_REASONS, "skipped", "exception"}
    assert {r: v for r, v in reasons.items() if r != "dns"} == dict.fromkeys(
        set(reasons) - {"dns"}, 0)
    # the engine's packet counters: the dropped ATM's request was sent, not answered
    assert exporter.value("wardops_icmp_requests_total", family="ipv4") >= 3
    assert 1 <= exporter.value("wardops_icmp_replies_total", family="ipv4") < \
        exporter.value("wardops_icmp_requests_total", family="ipv4")
    assert exporter.value("wardops_icmp_replies_total", family="ipv6") >= 1
    assert exporter.value("wardops_icmp_send_errors_total", family="ipv4", reason="send") == 0
    assert exporter.value("wardops_exporter_devices", state="up") == 3
    assert exporter.value("wardops_exporter_devices", state="down") == 1
    assert exporter.value("wardops_exporter_devices", state="unknown") == 1
    assert exporter.value("wardops_exporter_config_last_reload_successful") == 1
    assert exporter.value("wardops_exporter_cycle_overruns_total") == 0
    assert 0 < exporter.value("wardops_exporter_cycle_duration_seconds") < INTERVAL + TIMEOUT
    assert exporter.value("wardops_exporter_build_info", version="0.1.0") == 1

    # the landing page: counts, the down device first, the unresolvable name not green
    html = requests.get(exporter.url + "/", timeout=5).text
    page = LandingPage(html)
    assert page.counts == {"down": 1, "error": 1, "stale": 0, "unknown": 0, "up": 3}
    assert page.column("down") == ["Gldani-ATM"]
    assert page.tables["down"][0][4] == "down"
    assert [r[0] for r in page.tables["attention"]] == ["Gldani-NVR"]
    assert page.tables["attention"][0][4] == "probe error: dns"
    assert page.column("up") == ["Gldani-AP", "Gldani-Router", "Gldani-Switch"]
    assert all(r[5].endswith(" ms") for r in page.tables["up"])
    (mode,) = [lbl["icmp_mode"] for n, lbl, _ in exporter.samples()
               if n == "wardops_exporter_build_info"]
    assert mode in ("raw", "datagram") and f"ICMP socket mode: <b>{mode}</b>" in html


def test_down_since_survives_restart_and_kill_9(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write_config(PROBE + """}
sites: {Kutaisi: {}}
devices:
  - {name: Kutaisi-Router, address: 127.0.11.1, site: Kutaisi, type: router}
""")
    exporter = lab.start()
    exporter.wait_device("Kutaisi-Router", "up", INTERVAL + TIMEOUT + SLACK, wardops_device_up=1)
    dropped_at = time.time()
    lab.firewall.drop("127.0.11.1")
    down = exporter.wait_device("Kutaisi-Router", "down", INTERVAL + TIMEOUT + SLACK,
                                wardops_device_up=0)
    down_since = down["wardops_device_down_since_timestamp_seconds"]
    # the outage began at the first failed probe: after the drop, within one interval
    assert dropped_at - TIMEOUT <= down_since <= dropped_at + INTERVAL
    assert down["wardops_device_state_changes_total"] == 1

    assert exporter.stop() == 0  # SIGTERM
    exporter = lab.start()
    # down at once, with the original outage start (not the restart time)
    again = exporter.device("Kutaisi-Router")
    assert again["wardops_device_up"] == 0
    assert again["wardops_device_down_since_timestamp_seconds"] == down_since
    time.sleep(INTERVAL + TIMEOUT)  # probed again while still down
    assert exporter.device("Kutaisi-Router")[
        "wardops_device_down_since_timestamp_seconds"] == down_since

    exporter.stop(kill=True)  # kill -9: only what was saved on the way survives
    exporter = lab.start()
    again = exporter.device("Kutaisi-Router")
    assert (again["wardops_device_up"], again["wardops_device_down_since_timestamp_seconds"]) \
        == (0, down_since)

    lab.firewall.restore("127.0.11.1")
    back = exporter.wait_device("Kutaisi-Router", "up", INTERVAL + TIMEOUT + SLACK,
                                wardops_device_up=1)
    assert back["wardops_device_down_since_timestamp_seconds"] == 0
    assert back["wardops_device_state_changes_total"] == 2


def _watch(exporter, device: str, seconds: float) -> list[tuple[float, float, float]]:  # type: ignore[no-untyped-def]
    """(last probe, loss, up) for each new probe result seen in ``seconds``."""
    seen: list[tuple[float, float, float]] = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        series = exporter.device(device)
        point = (series.get("wardops_device_last_probe_timestamp_seconds", 0.0),
                 series.get("wardops_device_packet_loss_ratio", -1.0),
                 series.get("wardops_device_up", -1.0))
        if point[0] and (not seen or seen[-1][0] != point[0]):
            seen.append(point)
        time.sleep(0.05)
    return seen


def test_hysteresis_down_after_and_up_after(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write_config(PROBE + """, down_after: 3, up_after: 2}
sites: {Telavi: {}}
devices:
  - {name: Telavi-Switch, address: 127.0.12.1, site: Telavi, type: switch}
""")
    exporter = lab.start()
    exporter.wait_device("Telavi-Switch", "up", INTERVAL + TIMEOUT + SLACK, wardops_device_up=1)
    lab.firewall.drop("127.0.12.1")
    seen = _watch(exporter, "Telavi-Switch", 4 * INTERVAL + TIMEOUT)
    failed = [p for p in seen if p[1] == 1.0]
    assert len(failed) >= 3, seen
    # two failed probes keep it up; the third makes it down
    assert [p[2] for p in failed[:3]] == [1, 1, 0], seen
    down_since = exporter.device("Telavi-Switch")["wardops_device_down_since_timestamp_seconds"]
    # ... and the outage began with the first failed probe (started <= finished)
    assert failed[0][0] - TIMEOUT - 0.2 <= down_since <= failed[0][0]

    lab.firewall.restore("127.0.12.1")
    seen = _watch(exporter, "Telavi-Switch", 3 * INTERVAL + TIMEOUT)
    good = [p for p in seen if p[1] == 0.0]
    assert len(good) >= 2, seen
    # the first good probe leaves it down, the second brings it up
    assert [p[2] for p in good[:2]] == [0, 1], seen
    assert exporter.device("Telavi-Switch")["wardops_device_state_changes_total"] == 2


def test_flapping_device_counts_every_change(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write_config(PROBE + """}
sites: {Zugdidi: {}}
devices:
  - {name: Zugdidi-PayBox, address: 127.0.13.1, site: Zugdidi, type: PayBox}
""")
    exporter = lab.start()
    within = INTERVAL + TIMEOUT + SLACK
    exporter.wait_device("Zugdidi-PayBox", "up", within, wardops_device_up=1)
    for flap in range(1, 4):
        lab.firewall.drop("127.0.13.1")
        exporter.wait_device("Zugdidi-PayBox", f"down #{flap}", within, wardops_device_up=0)
        lab.firewall.restore("127.0.13.1")
        exporter.wait_device("Zugdidi-PayBox", f"up #{flap}", within, wardops_device_up=1)
    assert exporter.device("Zugdidi-PayBox")["wardops_device_state_changes_total"] == 6


def test_reload_adds_removes_keeps_and_survives_a_bad_file(lab) -> None:  # type: ignore[no-untyped-def]
    lab.firewall.drop("127.0.14.2")
    lab.write_config(PROBE + """}
sites: {Rustavi: {}}
devices:
  - {name: Rustavi-Router, address: 127.0.14.1, site: Rustavi, type: router}
  - {name: Rustavi-ATM, address: 127.0.14.2, site: Rustavi, type: atm}
""")
    exporter = lab.start()
    within = INTERVAL + TIMEOUT + SLACK
    atm = exporter.wait_device("Rustavi-ATM", "down", within, wardops_device_up=0)
    down_since = atm["wardops_device_down_since_timestamp_seconds"]

    # SIGHUP: the router leaves, an NVR arrives, the ATM stays with its state
    lab.write_config(PROBE + """}
sites: {Rustavi: {}}
devices:
  - {name: Rustavi-ATM, address: 127.0.14.2, site: Rustavi, type: atm}
  - {name: Rustavi-NVR, address: 127.0.14.3, site: Rustavi, type: nvr}
""")
    exporter.sighup()
    exporter.wait_device("Rustavi-NVR", "probed after reload", within, wardops_device_up=1)
    assert exporter.device("Rustavi-Router") == {}
    atm = exporter.device("Rustavi-ATM")
    assert atm["wardops_device_down_since_timestamp_seconds"] == down_since
    assert atm["wardops_device_up"] == 0

    # a bad file: the running inventory stays and the failure shows
    lab.write_config("devices:\n  - {name: Rustavi-ATM}\n")
    response = exporter.reload()
    assert response.status_code == 500
    assert response.text.strip() == (f"reload failed: {lab.config}: devices[0] (Rustavi-ATM): "
                                     "address: missing")
    assert exporter.value("wardops_exporter_config_last_reload_successful") == 0
    assert exporter.device("Rustavi-NVR")["wardops_device_up"] == 1
    # hostile files (an alias bomb, nesting 100,000 deep) the same, by POST and SIGHUP:
    # refused at once, one line, the running inventory kept (they used to hang, or answer
    # an HTML 500 while the metric said the reload had worked)
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    for hostile in (bomb, "devices: " + "[" * 100_000):
        lab.write_config(hostile)
        started = time.monotonic()
        response = exporter.reload()
        assert response.status_code == 500 and time.monotonic() - started < 5
        assert len(response.text.strip().splitlines()) == 1, response.text[:500]
        assert response.text.startswith(f"reload failed: {lab.config}: ")
        failed = exporter.proc.output().count("reload failed")
        exporter.sighup()
        wait_for(lambda: exporter.proc.output().count("reload failed") > failed, timeout=5,
                 what="the SIGHUP reload to be refused")
    assert exporter.proc.popen.poll() is None
    assert exporter.value("wardops_exporter_config_last_reload_successful") == 0
    assert exporter.device("Rustavi-NVR")["wardops_device_up"] == 1
    # an empty file (a save caught half-way) would drop every device, and their alerts
    # would resolve as "left the inventory": refused while devices are watched
    lab.write_config("")
    response = exporter.reload()
    assert response.status_code == 500 and "has no devices" in response.text
    assert exporter.device("Rustavi-NVR")["wardops_device_up"] == 1
    lab.firewall.drop("127.0.14.3")  # still probed on the old inventory
    exporter.wait_device("Rustavi-NVR", "down", within, wardops_device_up=0)

    # POST a good file again: back to 1, the router returns as a new device
    lab.write_config(PROBE + """}
sites: {Rustavi: {}}
devices:
  - {name: Rustavi-Router, address: 127.0.14.1, site: Rustavi, type: router}
  - {name: Rustavi-ATM, address: 127.0.14.2, site: Rustavi, type: atm}
""")
    response = exporter.reload()
    assert response.status_code == 200, response.text
    assert response.text.strip() == "reloaded: 2 devices (1 added, 1 removed)"
    assert exporter.value("wardops_exporter_config_last_reload_successful") == 1
    exporter.wait_device("Rustavi-Router", "up after reload", within, wardops_device_up=1)
    assert exporter.device("Rustavi-NVR") == {}
    assert exporter.device("Rustavi-ATM")["wardops_device_down_since_timestamp_seconds"] \
        == down_since


def test_state_file_failures_are_counted_and_probing_goes_on(lab) -> None:  # type: ignore[no-untyped-def]
    blocker = lab.dir / "not-a-dir"
    blocker.write_text("")
    lab.state_file = blocker / "state.json"  # cannot be created: its parent is a file
    lab.write_config(PROBE + """}
sites: {Batumi: {}}
devices:
  - {name: Batumi-AP, address: 127.0.15.1, site: Batumi, type: access_point}
""")
    exporter = lab.start()
    exporter.wait_device("Batumi-AP", "up", INTERVAL + TIMEOUT + SLACK, wardops_device_up=1)
    assert exporter.value("wardops_exporter_state_file_errors_total", operation="save") >= 1
    assert "cannot save state file" in exporter.proc.output()


def test_a_damaged_state_entry_costs_only_its_device(lab) -> None:  # type: ignore[no-untyped-def]
    """A state file with one entry damaged (a hand edit, a bit flip): the exporter starts,
    counts and logs the refused entry, and the other device's outage goes on with its
    saved start; the damaged device is judged afresh by its probes."""
    lab.firewall.drop("127.0.15.3")
    down_since = time.time() - 600
    lab.state_file.write_text(json.dumps({"version": 1, "devices": [
        {"name": "Poti-Router", "address": "127.0.15.2", "last_known": "up",
         "fails": "many", "last_probe": time.time() - 5},
        {"name": "Poti-ATM", "address": "127.0.15.3", "last_known": "down", "fails": 40,
         "oks": 0, "first_fail": down_since, "down_since": down_since, "changes": 1,
         "last_probe": time.time() - 5}]}))
    lab.write_config(PROBE + """}
sites: {Poti: {}}
devices:
  - {name: Poti-Router, address: 127.0.15.2, site: Poti, type: router}
  - {name: Poti-ATM, address: 127.0.15.3, site: Poti, type: atm}
""")
    exporter = lab.start()
    within = INTERVAL + TIMEOUT + SLACK
    exporter.wait_device("Poti-Router", "up", within, wardops_device_up=1)
    exporter.wait_device("Poti-ATM", "down", within, wardops_device_up=0)
    assert exporter.device("Poti-ATM")["wardops_device_down_since_timestamp_seconds"] \
        == pytest.approx(down_since)
    assert exporter.value("wardops_exporter_state_file_errors_total",
                          operation="load_entry") == 1
    assert exporter.value("wardops_exporter_state_file_errors_total", operation="load") == 0
    assert "fails: 'many' is not a count" in exporter.proc.output()


def test_ready_only_after_the_first_full_cycle(lab) -> None:  # type: ignore[no-untyped-def]
    # a dropped device makes the first cycle last the whole (long) timeout
    lab.firewall.drop("127.0.16.2")
    lab.write_config("""probe: {interval: 10s, timeout: 4s, count: 1}
sites: {Gori: {}}
devices:
  - {name: Gori-Router, address: 127.0.16.1, site: Gori, type: router}
  - {name: Gori-NVR, address: 127.0.16.2, site: Gori, type: nvr}
""")
    exporter = lab.start()
    assert requests.get(exporter.url + "/-/healthy", timeout=5).status_code == 200
    not_yet = requests.get(exporter.url + "/-/ready", timeout=5)
    assert not_yet.status_code == 503, not_yet.text
    # meanwhile the scrape is served from the snapshot: no waiting for the probe
    assert exporter.value("wardops_exporter_devices", state="unknown") is not None
    exporter.wait_device("Gori-NVR", "down", 10.0, wardops_device_up=0)
    wait_http(exporter.url + "/-/ready", timeout=2)


def test_device_whose_probes_cannot_run_is_no_longer_up(lab) -> None:  # type: ignore[no-untyped-def]
    """A blackhole route makes sendto fail ("unreachable"): an UP device becomes unknown
    within a few intervals (no up, RTT or loss series, counted unknown, reason on the
    page); a DOWN device stays down; both are judged again once probes run."""
    lab.firewall.drop("127.0.5.4")
    lab.write_config(PROBE + """}
sites: {Mestia: {}}
devices:
  - {name: Mestia-Router, address: 127.0.5.3, site: Mestia, type: router}
  - {name: Mestia-ATM, address: 127.0.5.4, site: Mestia, type: atm}
""")
    exporter = lab.start()
    within = INTERVAL + TIMEOUT + SLACK
    exporter.wait_device("Mestia-Router", "up", within, wardops_device_up=1)
    atm = exporter.wait_device("Mestia-ATM", "down", within, wardops_device_up=0)
    routes = [["ip", "route", "add", "blackhole", address, "table", "local"]
              for address in ("127.0.5.3", "127.0.5.4")]
    for route in routes:
        subprocess.run(route, check=True)
    try:
        # 2 errored probes in a row (down_after is 1) plus slack
        def gone() -> dict[str, float] | None:
            series = exporter.device("Mestia-Router")
            return series if "wardops_device_up" not in series else None
        router = wait_for(gone, timeout=2 * INTERVAL + SLACK, interval=0.05,
                          what="Mestia-Router no longer up")
        assert "wardops_device_rtt_seconds" not in router
        assert "wardops_device_packet_loss_ratio" not in router
        assert exporter.value("wardops_device_probe_failing", device="Mestia-Router",
                              reason="unreachable") == 1
        assert exporter.value("wardops_exporter_devices", state="up") == 0
        assert exporter.value("wardops_exporter_devices", state="unknown") == 1
        assert exporter.value("wardops_probe_errors_total", reason="unreachable") >= 2
        page = LandingPage(requests.get(exporter.url + "/", timeout=5).text)
        assert page.counts["up"] == 0 and page.counts["error"] == 1
        assert [(r[0], r[4]) for r in page.tables["attention"]] == [
            ("Mestia-Router", "probe error: unreachable")]
        # the down device's outage goes on
        wait_for(lambda: exporter.value("wardops_device_probe_failing", device="Mestia-ATM",
                                        reason="unreachable") == 1,
                 timeout=2 * INTERVAL + SLACK, what="Mestia-ATM probes failing")
        still = exporter.device("Mestia-ATM")
        assert still["wardops_device_up"] == 0
        assert still["wardops_device_down_since_timestamp_seconds"] == \
            atm["wardops_device_down_since_timestamp_seconds"]
        assert exporter.value("wardops_exporter_devices", state="down") == 1
    finally:
        for route in routes:
            subprocess.run(["ip", "route", "del", *route[3:]], check=False)
    exporter.wait_device("Mestia-Router", "up again", within, wardops_device_up=1)
    assert exporter.value("wardops_device_probe_failing", device="Mestia-Router") is None
    assert exporter.device("Mestia-Router")["wardops_device_state_changes_total"] == 0
    assert exporter.value("wardops_exporter_probe_interval_seconds") == INTERVAL


def test_landing_page_outages_and_failing_probes(lab) -> None:  # type: ignore[no-untyped-def]
    lab.write_config(PROBE + """}
sites: {Poti: {}}
devices:
  - {name: Poti-Router, address: 127.0.17.1, site: Poti, type: router}
  - {name: Poti-ATM, address: 127.0.17.2, site: Poti, type: atm}
  - {name: Poti-AP, address: 127.0.17.3, site: Poti, type: access_point}
  - {name: Poti-NVR, address: 127.0.17.4, site: Poti, type: nvr}
""")
    exporter = lab.start()
    within = INTERVAL + TIMEOUT + SLACK
    for name in ("Poti-Router", "Poti-ATM", "Poti-AP", "Poti-NVR"):
        exporter.wait_device(name, "up", within, wardops_device_up=1)
    lab.firewall.drop("127.0.17.1")
    exporter.wait_device("Poti-Router", "down", within, wardops_device_up=0)
    lab.firewall.drop("127.0.17.2")
    exporter.wait_device("Poti-ATM", "down", within, wardops_device_up=0)
    # every request to the AP now fails to send: its probes cannot run, so it is no
    # longer up (unknown after 2 such probes), and the page must not show it as up
    subprocess.run(["ip", "route", "add", "blackhole", "127.0.17.3", "table", "local"],
                   check=True)
    try:
        wait_for(lambda: exporter.value("wardops_probe_errors_total", reason="unreachable"),
                 timeout=within, what="a send error")
        page = LandingPage(requests.get(exporter.url + "/", timeout=5).text)
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", "127.0.17.3", "table", "local"],
                       check=False)
    assert page.counts == {"down": 2, "error": 1, "stale": 0, "unknown": 0, "up": 1}
    assert page.title.startswith("2 down")
    # the ATM is behind the router (by default, the site's router is its parent): its
    # outage is listed after the router's, as cut off (newest first among own outages)
    assert page.column("down") == ["Poti-Router", "Poti-ATM"]
    assert [r[4] for r in page.tables["down"]] == ["down", "down · parent down (Poti-Router)"]
    assert [(r[0], r[4]) for r in page.tables["attention"]] == [
        ("Poti-AP", "probe error: unreachable")]
    assert page.column("up") == ["Poti-NVR"]
    # once its probes run again it is up on the page again
    def ap_up() -> bool:
        return "Poti-AP" in LandingPage(requests.get(exporter.url + "/", timeout=5).text
                                        ).column("up")
    wait_for(ap_up, timeout=within, what="Poti-AP back in the up table")


def test_metrics_are_gzipped_only_when_the_scraper_asks(lab) -> None:  # type: ignore[no-untyped-def]
    """Prometheus asks for gzip on every scrape; curl and old scrapers do not."""
    import urllib.request
    import zlib

    lab.write_config(PROBE + """}
sites: {Zestaponi: {}}
devices:
  - {name: Zestaponi-Router, address: 127.0.10.1, site: Zestaponi, type: Router}
""")
    exporter = lab.start()
    exporter.wait_device("Zestaponi-Router", "up", INTERVAL + TIMEOUT + SLACK, wardops_device_up=1)

    def get(accept: str | None) -> tuple[str | None, bytes]:
        headers = {"Accept-Encoding": accept} if accept is not None else {}
        request = urllib.request.Request(exporter.url + "/metrics", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.headers.get("Content-Encoding"), response.read()

    encoding, body = get("gzip")
    assert encoding == "gzip"
    text = zlib.decompress(body, 31).decode()
    assert 'wardops_device_up{device="Zestaponi-Router"' in text
    assert text.rstrip().splitlines()[-1].startswith(("process_", "wardops_", "python_"))
    for accept in (None, "identity", "gzip;q=0", "br"):
        encoding, body = get(accept)
        assert encoding is None, accept
        assert b'wardops_device_up{device="Zestaponi-Router"' in body, accept


def test_the_first_cycle_logs_what_is_down_and_one_summary(lab) -> None:  # type: ignore[no-untyped-def]
    """A start logs each device found down, not each one found up (100,000 lines at
    100,000 devices), then one line with the counts; later changes are logged each."""
    lab.firewall.drop("127.0.15.3")
    lab.write_config(PROBE + """}
sites: {Ozurgeti: {}}
devices:
""" + "".join(f"  - {{name: Ozurgeti-{i}, address: 127.0.15.{i}, site: Ozurgeti, type: atm}}\n"
              for i in range(1, 6)))
    exporter = lab.start()
    within = INTERVAL + TIMEOUT + SLACK
    exporter.wait_device("Ozurgeti-3", "down", within, wardops_device_up=0)
    wait_for(lambda: "first probe cycle done" in exporter.proc.output(), timeout=within,
             what="the first cycle's summary")

    def info(message: str) -> list[str]:
        return [line for line in exporter.proc.output().splitlines()
                if "level=info" in line and f'msg="{message}"' in line]

    assert info("device up") == []
    assert [line.split(" device=")[1].split()[0] for line in info("device down")] == [
        "Ozurgeti-3"]
    [summary] = info("first probe cycle done")
    assert " up=4 down=1 unknown=0" in summary
    lab.firewall.restore("127.0.15.3")
    exporter.wait_device("Ozurgeti-3", "up", within, wardops_device_up=1)
    wait_for(lambda: len(info("device up")) == 1, timeout=5, what="the recovery logged")
    assert "device=Ozurgeti-3" in info("device up")[0]
