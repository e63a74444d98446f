"""wardops-report against a real Prometheus holding a backfilled month with known truth:
every figure checked against the script (tests/report/history.py), the recording rules
evaluated over the same data agree, and the HTML page renders in headless Chromium with
nothing fetched from the network."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.report.conftest import INTERVAL, MONTH_END, MONTH_START, Backfilled
from tests.report.history import expected
from tests.support import python_env

pytestmark = pytest.mark.slow


def report(b: Backfilled, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "report", "--prometheus", b.url,
                           "--scrape-interval", f"{INTERVAL}s", "--output", str(out), *args],
                          capture_output=True, text=True, timeout=600, env=python_env())


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def month(backfilled: Backfilled) -> Path:
    out = backfilled.root / "report-2026-11"
    result = report(backfilled, out, "--month", "2026-11")
    assert result.returncode == 0, result.stderr
    assert "outages: device" in result.stderr  # progress on stderr
    return out


def test_every_device_figure_matches_the_truth(backfilled: Backfilled, month: Path) -> None:
    devices = {r["device"]: r for r in rows(month / "devices.csv")}
    assert set(devices) == {d.name for d in backfilled.history.devices}
    assert list(rows(month / "devices.csv")[0])[:10] == [
        "device", "address", "site", "region", "type", "availability", "unknown_seconds",
        "outages", "downtime_seconds", "mttr_seconds"]
    for d in backfilled.history.devices:
        truth = expected(backfilled.history, d, MONTH_START, MONTH_END)
        row = devices[d.name]
        want = truth.up_scrapes / truth.expected_scrapes
        assert abs(float(row["availability"]) - want) <= 1 / truth.expected_scrapes, d.name
        assert float(row["unknown_seconds"]) == (truth.expected_scrapes - truth.known_scrapes) * INTERVAL, d.name
        assert int(row["outages"]) == len(truth.outages) + len(truth.unseen), d.name
        assert int(row["unseen_outages"]) == len(truth.unseen), d.name
        assert float(row["downtime_seconds"]) == pytest.approx(sum(o[2] for o in truth.outages), abs=1e-3), d.name
        longest = max((o[2] for o in truth.outages), default=0)
        assert float(row["longest_outage_seconds"]) == pytest.approx(longest, abs=1e-3), d.name
        ended = [e - s for s, e, _ in truth.outages if e is not None]
        if ended:
            assert float(row["mttr_seconds"]) == pytest.approx(sum(ended) / len(ended), abs=1e-3)
        else:
            assert row["mttr_seconds"] == ""
        assert row["address"] == d.address and row["site"] == d.site and row["region"] == d.region
    # the scripted cases, spelled out
    assert devices["Tbilisi-Vake-router"]["availability"] == "0.0"
    assert devices["Tbilisi-Vake-router"]["outages"] == "1"
    assert float(devices["Tbilisi-Vake-router"]["downtime_seconds"]) == MONTH_END - MONTH_START
    assert devices["Batumi-switch"]["outages"] == "20"
    assert float(devices["Rustavi-switch"]["unknown_seconds"]) == 5 * 86400  # first probed 31 s after day 5 began
    # two outages between two scrapes: counted, no downtime (their length is unknown)
    assert devices["Zestafoni-switch"]["outages"] == "2"
    assert devices["Zestafoni-switch"]["availability"] == "1.0"
    assert float(devices["Zestafoni-switch"]["downtime_seconds"]) == 0
    assert devices["Zugdidi-switch"]["outages"] == "1"  # inside the exporter's gap
    assert devices["Tbilisi-Saburtalo-router"]["outages"] == "2"


def test_every_outage_is_a_row_exact_to_the_scrape(backfilled: Backfilled, month: Path) -> None:
    got: dict[str, list[tuple[float, float | None, float]]] = {}
    unseen: dict[str, list[tuple[float, float]]] = {}
    for r in rows(month / "outages.csv"):
        if r["seen_by_scrape"] == "False":
            # between the scrape before it and the scrape after it, length unknown
            assert r["duration_seconds"] == "" and r["began_before_period"] == "False"
            unseen.setdefault(r["device"], []).append((
                datetime.fromisoformat(r["start"]).timestamp(),
                datetime.fromisoformat(r["end"]).timestamp()))
            continue
        got.setdefault(r["device"], []).append((
            datetime.fromisoformat(r["start"]).timestamp(),
            datetime.fromisoformat(r["end"]).timestamp() if r["end"] else None,
            float(r["duration_seconds"])))
        assert (r["began_before_period"] == "True") == (
            datetime.fromisoformat(r["start"]).timestamp() <= MONTH_START)
    for d in backfilled.history.devices:
        truth = expected(backfilled.history, d, MONTH_START, MONTH_END)
        assert sorted(got.get(d.name, []), key=lambda o: o[0]) == [
            (s, e, pytest.approx(x, abs=1e-3)) for s, e, x in truth.outages], d.name
        assert sorted(unseen.get(d.name, [])) == sorted(truth.unseen), d.name
    assert sum(map(len, unseen.values())) == 4    # down_since places an outage that began while the exporter was unreachable
    poti = got["Poti-router"][0]
    gap = backfilled.history.gaps["b:9469"][0]
    assert gap[0] < poti[0] < gap[1]


def test_sites_and_regions(backfilled: Backfilled, month: Path) -> None:
    devices = rows(month / "devices.csv")
    sites = {r["site"]: r for r in rows(month / "sites.csv")}
    gori = [r for r in devices if r["site"] == "Gori"]
    assert int(sites["Gori"]["outages"]) == 3
    assert float(sites["Gori"]["availability"]) == pytest.approx(
        sum(float(r["availability"]) for r in gori) / 3, abs=1e-6)
    regions = {r["region"]: r for r in rows(month / "regions.csv")}
    assert int(regions["Imereti"]["outages"]) == sum(
        int(r["outages"]) for r in devices if r["region"] == "Imereti")
    doc = json.loads((month / "report.json").read_text())
    assert doc["report"]["timezone"] == "UTC"
    assert doc["headline"]["outages"] == sum(int(r["outages"]) for r in devices)


def test_the_recording_rules_agree(backfilled: Backfilled) -> None:
    """Prometheus's evaluation of rules/recording/availability.yml over the same month
    agrees with the report. A rule group runs at an offset of its own (a hash of its
    name), so the 30-day figure read at the month's end covers the 5-minute blocks up to
    the last one before it: the report is made for exactly those 30 days."""
    def rule(expr: str, at: float) -> dict[str, float]:
        resp = requests.get(backfilled.url + "/api/v1/query",
                            params={"query": expr, "time": at}, timeout=30).json()
        return {r["metric"].get("device") or r["metric"]["site"]: float(r["value"][1])
                for r in resp["data"]["result"]}

    evaluated = max(rule("timestamp(wardops:device_outages:count_30d)", MONTH_END).values())
    assert MONTH_END - 300 < evaluated <= MONTH_END
    # the 5-minute blocks the rollup read: its window (evaluated - 30d, evaluated]
    resp = requests.get(backfilled.url + "/api/v1/query", timeout=30, params={
        "query": 'wardops:device_up:count5m{device="Kutaisi-switch"}[29d23h59m59s999ms]',
        "time": evaluated}).json()
    blocks = [float(t) for t, _ in resp["data"]["result"][0]["values"]]
    irregular = [(a, b) for a, b in zip(blocks, blocks[1:]) if b - a != pytest.approx(300)]
    assert not irregular, (f"{len(blocks)} blocks before {evaluated}; not 300 s apart: "
                           f"{irregular[:10]}")
    out = backfilled.root / "report-rules-window"
    result = report(backfilled, out,
                    "--from", datetime.fromtimestamp(blocks[0] - 300, UTC).isoformat(),
                    "--to", datetime.fromtimestamp(blocks[-1], UTC).isoformat())
    assert result.returncode == 0, result.stderr
    outages = rule("wardops:device_outages:count_30d", MONTH_END)
    availability = rule("wardops:device_availability:ratio_30d", MONTH_END)
    devices = rows(out / "devices.csv")
    assert len(outages) == len(devices) == 30
    for r in devices:
        assert outages[r["device"]] == int(r["outages"]), r["device"]
        assert availability[r["device"]] == pytest.approx(float(r["availability"]), abs=1e-6), r["device"]
    sites = rule("wardops:site_outages:count_30d", MONTH_END)
    for r in rows(out / "sites.csv"):
        assert sites[r["site"]] == int(r["outages"]), r["site"]
    assert sites["Gori"] == 3 and outages["Tbilisi-Vake-router"] == 1


def test_filters_and_time_zone(backfilled: Backfilled) -> None:
    out = backfilled.root / "report-imereti"
    result = report(backfilled, out, "--from", "2026-11-01T00:00:00+04:00",
                    "--to", "2026-11-30T00:00:00+04:00", "--region", "Imereti",
                    "--timezone", "Asia/Tbilisi")
    assert result.returncode == 0, result.stderr
    devices = rows(out / "devices.csv")
    assert {r["region"] for r in devices} == {"Imereti"} and len(devices) == 6
    starts = [r["start"] for r in rows(out / "outages.csv")]
    assert starts and all(s.endswith("+04:00") for s in starts)
    assert "Asia/Tbilisi" in (out / "report.html").read_text()


def test_clear_errors_for_retention_and_gaps(backfilled: Backfilled) -> None:
    out = backfilled.root / "report-bad"
    before = report(backfilled, out, "--month", "2026-09")
    assert before.returncode == 2
    assert "no wardops devices in the period" in before.stderr
    head = report(backfilled, out, "--from", "2026-10-30T00:00:00Z", "--to", "2026-11-02T00:00:00Z")
    assert head.returncode == 2
    # the data begins on Oct 31 at 12:00 (in the hour cell ending then)
    assert "no scrapes of the exporter for the first 35.0 h" in head.stderr
    assert "retention" in head.stderr
    assert not (out / "devices.csv").exists()
    allowed = report(backfilled, out, "--from", "2026-10-30T00:00:00Z", "--to",
                     "2026-11-02T00:00:00Z", "--allow-gaps")
    assert allowed.returncode == 0, allowed.stderr
    unknown = {r["device"]: float(r["unknown_seconds"]) for r in rows(out / "devices.csv")}
    assert unknown["Poti-router"] >= 36 * 3600 - 60  # the missing head is unknown, never up
    down = report(backfilled, out, "--month", "2026-11")
    assert down.returncode == 0
    bad = subprocess.run([sys.executable, "-m", "report", "--prometheus", "http://127.0.0.1:9",
                          "--month", "2026-11", "--output", str(out)],
                         capture_output=True, text=True, timeout=60, env=python_env())
    assert bad.returncode == 2 and "did not answer" in bad.stderr


def test_html_is_self_contained_and_renders(backfilled: Backfilled, month: Path) -> None:
    html = (month / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "@import" not in html and not re.search(r"url\(", html, re.I)
    assert "<script" not in html.lower()
    assert "Tbilisi-Vake-router" in html and "times in <b>UTC</b>" in html
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium (scripts/bootstrap test) renders the report"
    artefacts = Path(os.environ.get("WARDOPS_ARTEFACTS", backfilled.root)) / "report"
    artefacts.mkdir(parents=True, exist_ok=True)
    png = artefacts / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1100,2600", f"--screenshot={png}",
                    (month / "report.html").as_uri()],
                   capture_output=True, timeout=120, check=True, cwd=backfilled.root)
    assert png.stat().st_size > 20_000
    shutil.copy(month / "report.html", artefacts / "report.html")
