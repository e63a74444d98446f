"""The exporter's / page with the bank's 873 devices, in headless Chromium: what a NOC
operator sees on a desk screen and on a phone, with real outages (nftables drops in the
test's namespace) and a real maintenance window.

Screenshots are kept under the test's tmp dir (page-desktop.png, page-phone.png,
page-site.png) as artefacts; the content is checked on the DOM Chromium built
(``--dump-dom``).
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.exporter.conftest import Exporter, Lab
from tests.exporter.page import LandingPage
from tests.support import REPO, wait_for

CREDOBANK = REPO / "tests" / "data" / "credobank-devices.csv"
CUT_SITE = "Gardabani"  # every device down: its four routers and what is behind them
LONE = ("Abasha", "NVR")  # one device down at a site whose routers answer
MAINT_SITE = "Tsnori"  # in a maintenance window, one of its devices down

chromium = pytest.mark.skipif(not shutil.which("chromium"), reason="chromium is not installed")


def bank() -> list[dict[str, str]]:
    """The export's enabled devices (two are disabled)."""
    with open(CREDOBANK, newline="", encoding="utf-8-sig") as handle:
        return [r for r in csv.DictReader(handle)
                if r["enabled"].strip().lower() not in ("false", "no", "0", "off")]


def browse(url: str, out: Path, width: int, height: int, screenshot: str = "") -> str:
    """The DOM Chromium builds for ``url`` at that window size; a screenshot too."""
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={out / 'chromium-profile'}", f"--window-size={width},{height}"]
    if screenshot:
        subprocess.run([*base, f"--screenshot={out / screenshot}", url], check=True,
                       capture_output=True, timeout=120)
        assert (out / screenshot).stat().st_size > 10_000, "an empty screenshot"
    return subprocess.run([*base, "--dump-dom", url], check=True, capture_output=True,
                          text=True, timeout=120).stdout


@pytest.fixture
def fleet(lab: Lab) -> tuple[Exporter, list[dict[str, str]]]:
    rows = bank()
    shutil.copy(CREDOBANK, lab.dir / "bank.csv")
    now = time.time()
    window = {"name": "branch-rewiring",
              "start": datetime.fromtimestamp(now - 60, UTC).isoformat(),
              "end": datetime.fromtimestamp(now + 3600, UTC).isoformat()}
    lab.write_config(f"""
probe: {{interval: 3s, timeout: 500ms, count: 1, down_after: 1}}
sites:
  {MAINT_SITE}:
    maintenance: [{{name: {window['name']}, start: '{window['start']}', end: '{window['end']}'}}]
inventory_files: [bank.csv]
""")
    cut = [r["ip"] for r in rows if r["branch"] == CUT_SITE]
    lone = next(r for r in rows if (r["branch"], r["device_type"]) == LONE)
    maint = next(r for r in rows if r["branch"] == MAINT_SITE and r["device_type"] != "Router")
    dropped = {*cut, lone["ip"], maint["ip"]}
    lab.firewall.drop(*dropped)
    exporter = lab.start()
    # the export repeats addresses: every device at a dropped address is down
    expected = sum(r["ip"] in dropped for r in rows)
    wait_for(lambda: exporter.value("wardops_exporter_devices", state="down") == expected,
             timeout=30, what="the dropped devices seen down")
    return exporter, rows


@chromium
def test_bank_fleet_page_in_a_browser(fleet: tuple[Exporter, list[dict[str, str]]],
                                      tmp_path: Path) -> None:
    exporter, rows = fleet
    dom = browse(exporter.url + "/", tmp_path, 1280, 1000, "page-desktop.png")
    page = LandingPage(dom)
    cut = [r for r in rows if r["branch"] == CUT_SITE]
    dropped = {r["ip"] for r in cut} | {next(
        r["ip"] for r in rows if (r["branch"], r["device_type"]) == LONE)} | {next(
        r["ip"] for r in rows if r["branch"] == MAINT_SITE and r["device_type"] != "Router")}
    expected = sum(r["ip"] in dropped for r in rows)
    assert page.counts["down"] == expected
    assert sum(page.counts.values()) == len(rows) == 873
    # own outages first, then the devices cut off behind their down routers
    down = page.tables["down"]
    routers = {r["name"] for r in cut if r["device_type"] == "Router"}
    plain = [row for row in down if "parent down" not in row[4]]
    behind = [row for row in down if "parent down" in row[4]]
    assert down == plain + behind
    assert {row[0] for row in behind} == {r["name"] for r in cut} - routers
    assert all(row[1] == CUT_SITE for row in behind)
    assert {row[0] for row in plain} >= routers
    # the device in maintenance is down and says why nobody is paged
    maint = [row for row in down if "maintenance (branch-rewiring)" in row[4]]
    assert maint and all(row[1] == MAINT_SITE and row[4].startswith("down") for row in maint)
    assert all(row[5] for row in down), "every down device says for how long"
    # per-region subtotals add up; the cut-off site is at the top of the site table
    regions = page.tables["regions"]
    assert sum(int(r[1]) for r in regions) == 873
    assert sum(int(r[3]) for r in regions) == expected
    assert page.tables["sites"][0][0] == CUT_SITE
    n_routers = sum(r["device_type"] == "Router" for r in cut)
    assert page.tables["sites"][0][2:6] == [str(len(cut)), "0", str(len(cut)),
                                            str(len(cut) - n_routers)]
    # links to the dashboards and the alerter, and nothing loaded from elsewhere
    assert re.search(r'id="link-fleet" href="http://127\.0\.0\.1:3000/d/wardops-fleet"', dom)
    assert re.search(r'id="link-alerter" href="http://127\.0\.0\.1:9470/"', dom)
    assert not re.search(r"<(script|img|link|iframe)\b[^>]*\b(src|href)=", dom)
    assert "url(" not in dom and "@import" not in dom
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in dom

    # on a phone: the same facts (the wide columns are hidden by CSS, not removed)
    phone = LandingPage(browse(exporter.url + "/", tmp_path, 390, 844, "page-phone.png"))
    assert phone.counts == page.counts

    # filters: a region, a type and a state, from the query string the form sends
    imereti = [r for r in rows if r["region"] == "Imereti" and r["device_type"] == "ATM"]
    query = urlencode({"region": "Imereti", "type": "atm"})
    found = LandingPage(browse(f"{exporter.url}/?{query}", tmp_path, 1280, 1000))
    assert sum(found.counts.values()) == len(imereti)
    assert f"{len(imereti)} of 873 devices match" in " ".join(found.text.split())
    cut_off = LandingPage(browse(exporter.url + "/?state=parent_down", tmp_path, 1280, 1000))
    assert {row[0] for row in cut_off.tables["down"]} == {row[0] for row in behind}
    # search: part of a name, any case (a name part no site, type or address contains)
    search = LandingPage(browse(exporter.url + "/?q=gardabani-atm", tmp_path, 1280, 1000))
    names = [r["name"] for r in rows if "gardabani-atm" in r["name"].lower()]
    assert names and sorted(search.column("down") + search.column("up")) == sorted(names)


@chromium
def test_a_sites_dependency_tree(fleet: tuple[Exporter, list[dict[str, str]]],
                                 tmp_path: Path) -> None:
    exporter, rows = fleet
    dom = browse(f"{exporter.url}/?site={CUT_SITE}", tmp_path, 390, 844, "page-site.png")
    tree = dom[dom.index('<ul class="tree" id="tree">'):]
    tree = tree[:tree.index("</ul>\n<h2>") if "</ul>\n<h2>" in tree else None]
    cut = [r for r in rows if r["branch"] == CUT_SITE]
    routers = [r["name"] for r in cut if r["device_type"] == "Router"]
    # every router at the top (the export names all four alike), every other device
    # under each router
    for name in set(routers):
        assert tree.count(f'<span class="down">{name}</span>') == routers.count(name)
    for r in cut:
        if r["device_type"] != "Router":
            assert tree.count(f'<span class="down">{r["name"]}</span>') == len(routers)
    assert "also behind" in tree
    assert 'href="http://127.0.0.1:3000/d/wardops-site?var-site=Gardabani"' in dom
