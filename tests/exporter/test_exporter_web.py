"""The landing page as an operator reads it: counts first, down devices newest outage
first, nothing that is not known to be up shown as up."""

from __future__ import annotations

import time

from exporter.web import DeviceRow, PageLinks, create_app
from tests.exporter.page import LandingPage


class FixedView:
    """A WebView over a fixed list of rows (the running exporter's page() makes them)."""

    icmp_mode = "raw"

    def __init__(self, rows: list[DeviceRow]) -> None:
        self.rows = rows

    def metrics(self, scraper: str = "", gzip: bool = False) -> bytes:
        return b""

    def ready(self) -> bool:
        return True

    def reload(self) -> tuple[bool, str]:
        return True, "reloaded"

    def page(self) -> list[DeviceRow]:
        return self.rows


def get(rows: list[DeviceRow]) -> LandingPage:
    response = create_app(FixedView(rows)).test_client().get("/")
    assert response.status_code == 200
    return LandingPage(response.get_data(as_text=True))


def test_down_first_newest_outage_first_and_nothing_falsely_green() -> None:
    now = time.time()
    rows = [
        DeviceRow("Batumi-Router", "127.0.3.1", "Batumi", "router", "up", rtt=0.0012, loss=0.0,
                  last_probe=now - 3),
        DeviceRow("Gldani-ATM", "127.0.2.4", "Gldani", "atm", "down", loss=1.0,
                  down_since=now - 3725, last_probe=now - 4),
        DeviceRow("Kharagauli-NVR", "127.0.1.6", "Kharagauli", "nvr", "down", loss=1.0,
                  down_since=now - 75, last_probe=now - 5),
        # was up, but now every send fails: its last good result must not show green
        DeviceRow("Gori-AP", "127.0.16.3", "Gori", "access_point", "up", error="unreachable",
                  rtt=0.001, loss=0.0, last_probe=now - 600),
        # up, but its probes stopped coming (scheduler stuck): not green either
        DeviceRow("Poti-Switch", "127.0.17.2", "Poti", "switch", "up", stale=True, rtt=0.001,
                  loss=0.0, last_probe=now - 900),
        DeviceRow("Gldani-NVR", "nvr.gldani.invalid", "Gldani", "nvr", "unknown", error="dns"),
        DeviceRow("Adjara-Kiosk", "127.0.18.1", "Adjara", "paybox", "unknown"),
        DeviceRow("Batumi-ATM", "127.0.3.4", "Batumi", "atm", "up", rtt=0.002, loss=1 / 3,
                  last_probe=now - 2),
    ]
    page = get(rows)
    assert page.refresh == 30
    assert page.title.startswith("2 down")
    assert page.counts == {"down": 2, "error": 2, "stale": 1, "unknown": 1, "up": 2}
    # the newest outage on top, with how long it has lasted
    assert page.column("down") == ["Kharagauli-NVR", "Gldani-ATM"]
    nvr, atm = page.tables["down"]
    assert nvr[1:5] == ["Kharagauli", "127.0.1.6", "nvr", "down"]
    assert nvr[5] == "1m 15s" and atm[5] == "1h 2m"
    assert atm[6] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 3725))
    # probe errors first, then stale, then never probed; each says what it is
    assert [(r[0], r[4], r[5]) for r in page.tables["attention"]] == [
        ("Gldani-NVR", "probe error: dns", "never"),
        ("Gori-AP", "probe error: unreachable", "10m 0s ago"),
        ("Poti-Switch", "stale", "15m 0s ago"),
        ("Adjara-Kiosk", "unknown", "never"),
    ]
    # only devices a fresh probe found up are in the green table
    assert page.column("up") == ["Batumi-ATM", "Batumi-Router"]
    assert page.tables["up"][0][5:7] == ["2.00 ms", "33%"]
    assert "All 8 devices up" not in page.text


def test_all_up_says_so_and_an_empty_inventory_is_not_all_up() -> None:
    now = time.time()
    page = get([DeviceRow("r1", "127.0.0.1", "A", "router", "up", rtt=0.001, loss=0.0,
                          last_probe=now)])
    assert page.counts == {"down": 0, "error": 0, "stale": 0, "unknown": 0, "up": 1}
    assert "All 1 devices up." in " ".join(page.text.split())
    assert set(page.tables) == {"up", "regions", "sites"} and page.title == "wardops exporter"
    empty = get([])
    assert "No devices in the inventory." in empty.text and "All 0" not in empty.text


def test_links_follow_the_flags_and_escape_names() -> None:
    rows = [DeviceRow("Gldani ATM&1", "127.0.2.4", "Gldani/West", "atm", "down",
                      down_since=time.time() - 5)]
    client = create_app(FixedView(rows), links=PageLinks(
        grafana="https://grafana.bank.example/", alerter="https://alerts.bank.example/")
    ).test_client()
    html = client.get("/").get_data(as_text=True)
    assert 'id="link-fleet" href="https://grafana.bank.example/d/wardops-fleet"' in html
    assert 'id="link-alerter" href="https://alerts.bank.example/"' in html
    assert ('href="https://grafana.bank.example/d/wardops-device?var-device=Gldani+ATM%261&amp;'
            'var-address=127.0.2.4&amp;var-site=Gldani%2FWest"') in html
    # without flags: the host the page was asked for, on the default ports (IPv6 too)
    html = create_app(FixedView(rows)).test_client().get(
        "/", headers={"Host": "[::1]:9469"}).get_data(as_text=True)
    assert 'id="link-alerter" href="http://[::1]:9470/"' in html


def test_filters_keep_counts_and_subtotals_to_the_matching_devices() -> None:
    now = time.time()
    rows = [
        DeviceRow("Poti-Router", "127.0.17.1", "Poti", "router", "down", region="Guria",
                  down_since=now - 60),
        DeviceRow("Poti-ATM", "127.0.17.2", "Poti", "atm", "down", region="Guria",
                  down_since=now - 50, parents=(("Poti-Router", "127.0.17.1"),),
                  parent_down=True),
        DeviceRow("Gori-ATM", "127.0.16.2", "Gori", "atm", "up", region="Kartli",
                  maintenance=("ups",), rtt=0.001, loss=0.0, last_probe=now),
    ]
    app = create_app(FixedView(rows)).test_client()
    page = LandingPage(app.get("/?type=atm").get_data(as_text=True))
    assert page.counts == {"down": 1, "error": 0, "stale": 0, "unknown": 0, "up": 1}
    assert page.tables["down"] == [[
        "Poti-ATM", "Poti", "127.0.17.2", "atm", "down · parent down (Poti-Router)",
        "50s", page.tables["down"][0][6], "never"]]
    assert page.column("up") == ["Gori-ATM"] and page.tables["up"][0][4] == "up · maintenance (ups)"
    assert [r[:4] for r in page.tables["regions"]] == [["Guria", "1", "0", "1"],
                                                       ["Kartli", "1", "1", "0"]]
    assert LandingPage(app.get("/?state=maintenance").get_data(as_text=True)).column("up") == [
        "Gori-ATM"]
    tree = app.get("/?site=Poti").get_data(as_text=True)
    assert tree.index("Poti-Router</span>") < tree.index("Poti-ATM</span>")
    assert "<ul class=\"tree\"><li><span class=\"down\">Poti-ATM" in " ".join(tree.split())


def test_a_parent_on_another_shard_is_said_to_be_elsewhere() -> None:
    """With --shard, a down device's parent may be another shard's: neither "parent down"
    (not seen) nor silence about it; an up device needs no note."""
    now = time.time()
    switch = ("Zugdidi-Switch", "127.0.18.2")
    rows = [DeviceRow("Zugdidi-ATM", "127.0.18.3", "Zugdidi", "atm", "down", down_since=now - 9,
                      parents=(switch,), parents_elsewhere=(switch,)),
            DeviceRow("Zugdidi-NVR", "127.0.18.4", "Zugdidi", "nvr", "up", rtt=0.001, loss=0.0,
                      last_probe=now, parents=(switch,), parents_elsewhere=(switch,))]
    page = get(rows)
    assert page.tables["down"][0][4] == ("down · parent on another shard (Zugdidi-Switch): cut "
                                         "off or not, the alerter's rules decide")
    assert page.tables["up"][0][4] == "up"
