"""Real packets with a known delay, jitter and loss show up in the RTT histogram, the
per-probe jitter and the loss over a window (the exporter as a process, in the netns).

The kernel here has no sch_netem, so :class:`~tests.exporter.responder.Responder` plays
netem: it answers the "branch" address itself after N(20 ms, 5 ms) and drops 30% of the
requests. Tolerances below are several standard errors wide for ~100 replies.
"""

from __future__ import annotations

import statistics

from tests.exporter.conftest import Lab
from tests.exporter.responder import Responder
from tests.support import wait_for

SLOW, FAST = "127.0.0.50", "127.0.0.51"
HIST = "wardops_device_rtt_histogram_seconds"
PATH_HIST = "wardops_path_rtt_histogram_seconds"
CONFIG = f"""
probe: {{interval: 1500ms, timeout: 400ms, count: 10}}
sites:
  Gori: {{}}
devices:
  - {{name: Gori-Router, address: {SLOW}, site: Gori, type: router}}
  - {{name: Gori-ATM, address: {FAST}, site: Gori, type: atm}}
"""


def test_delay_jitter_and_loss_match_what_the_link_was_told(lab: Lab) -> None:
    responder = Responder({SLOW: (0.020, 0.005, 0.30)})
    try:
        lab.write_config(CONFIG)
        exporter = lab.start()
        jitters: dict[float, float] = {}  # last probe's time -> its stddev

        def enough() -> dict[str, float] | None:
            series = {}
            for name, labels, value in exporter.samples():
                if labels.get("device") != "Gori-Router":
                    continue
                key = name + (f"@{labels['le']}" if "le" in labels else "")
                series[key] = value
            stamp = series.get("wardops_device_last_probe_timestamp_seconds", 0.0)
            if "wardops_device_rtt_stddev_seconds" in series:
                jitters[stamp] = series["wardops_device_rtt_stddev_seconds"]
                assert (series["wardops_device_rtt_min_seconds"]
                        <= series["wardops_device_rtt_seconds"]
                        <= series["wardops_device_rtt_max_seconds"])
            return series if series.get(f"{HIST}_count", 0) >= 100 and len(jitters) >= 8 else None

        series = wait_for(enough, timeout=60, interval=0.5, what="100 replies of Gori-Router")
    finally:
        responder.close()
    count = series[f"{HIST}_count"]
    share = {le: series[f"{HIST}_bucket@{le}"] / count for le in ("0.01", "0.02", "0.03")}
    # N(20ms, 5ms): 2% under 10 ms, half under 20 ms, 98% under 30 ms (plus the loop's ms)
    assert share["0.01"] <= 0.10, share
    assert 0.30 <= share["0.02"] <= 0.70, share
    assert share["0.03"] >= 0.85, share
    assert series[f"{HIST}_bucket@+Inf"] == count
    assert 0.015 <= series[f"{HIST}_sum"] / count <= 0.027
    # the sample stddev of ~7 replies per probe, averaged over the probes: about 5 ms
    assert 0.0035 <= statistics.mean(jitters.values()) <= 0.0075, jitters
    loss = 1 - count / series["wardops_device_echo_requests_total"]
    assert 0.18 <= loss <= 0.42, loss
    # the fast neighbour's replies stay in the sub-millisecond buckets
    fast = {labels["le"]: value for name, labels, value in exporter.samples()
            if name == f"{HIST}_bucket" and labels["device"] == "Gori-ATM"}
    assert fast["0.005"] == fast["+Inf"] > 0


def test_each_path_has_its_own_distribution_and_the_device_its_best_path(lab: Lab) -> None:
    """Magti's tunnel answers after N(20 ms, 5 ms), Silknet's at once but loses 30%."""
    magti, silknet = "127.0.0.52", "127.0.0.53"
    responder = Responder({magti: (0.020, 0.005, 0.0), silknet: (0.0, 0.0, 0.30)})
    try:
        lab.write_config(f"""
probe: {{interval: 1500ms, timeout: 400ms, count: 10}}
sites: {{Gori: {{}}}}
devices:
  - name: Gori-Router
    address: 127.0.0.54
    site: Gori
    type: router
    paths: [{{isp: Magti, address: {magti}}}, {{isp: Silknet, address: {silknet}}}]
""")
        exporter = lab.start()

        def paths() -> dict[str, dict[str, float]] | None:
            got: dict[str, dict[str, float]] = {"Magti": {}, "Silknet": {}, "": {}}
            for name, labels, value in exporter.samples():
                if labels.get("device") == "Gori-Router":
                    key = name + (f"@{labels['le']}" if "le" in labels else "")
                    got[labels.get("isp", "")][key] = value
            done = all(got[isp].get(f"{PATH_HIST}_count", 0) >= 60 for isp in ("Magti",)) \
                and got["Silknet"].get("wardops_path_echo_requests_total", 0) >= 100
            return got if done else None

        got = wait_for(paths, timeout=60, interval=0.5, what="replies over both paths")
    finally:
        responder.close()
    magti_hist, silknet_hist = got["Magti"], got["Silknet"]
    count = magti_hist[f"{PATH_HIST}_count"]
    assert 0.30 <= magti_hist[f"{PATH_HIST}_bucket@0.02"] / count <= 0.70
    assert magti_hist[f"{PATH_HIST}_bucket@0.03"] / count >= 0.85
    assert 1 - count / magti_hist["wardops_path_echo_requests_total"] <= 0.02
    silknet_loss = 1 - (silknet_hist[f"{PATH_HIST}_count"]
                        / silknet_hist["wardops_path_echo_requests_total"])
    assert 0.18 <= silknet_loss <= 0.42, silknet_loss
    assert silknet_hist[f"{PATH_HIST}_bucket@0.005"] == silknet_hist[f"{PATH_HIST}_count"]
    # the device shows its best path of the last probe: Magti answers every request, so
    # no loss (Silknet's 30% is not the branch's), and the RTT of a path that answered
    # all (Magti's, or Silknet's on a probe it lost nothing: one in 35); no histogram of
    # its own (its paths' are)
    device = got[""]
    assert device["wardops_device_up"] == 1
    assert device["wardops_device_packet_loss_ratio"] == 0.0
    best = {magti_hist["wardops_path_rtt_seconds"]}
    if silknet_hist["wardops_path_packet_loss_ratio"] == 0.0:
        best.add(silknet_hist["wardops_path_rtt_seconds"])
    assert device["wardops_device_rtt_seconds"] in best
    assert f"{HIST}_count" not in device
