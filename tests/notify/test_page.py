"""The alerter's ``/`` page in real headless Chromium: alerts by site with every state
(firing, acknowledged, silenced, inhibited, muted by a time interval, escalated,
pending), the writer's buttons clicked for real, read-only for a reader, cross-site
posts refused, self-contained, fits a phone. Screenshots go to the test's tmp dir."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.api import create_app
from alerter.httpapi import Refusals
from alerter.model import Alert
from alerter.notify import NotificationPipeline
from tests.notify.conftest import PipelineFactory, firing
from tests.notify.receiver import Receiver
from tests.support import free_port, wait_for, wait_http
from tests.support.chromium import Chromium
from wardops_common.webserver import WebServer

TOKEN = "page-write-t0ken"
WRITER = {"Authorization": "Basic " + base64.b64encode(f"nino:{TOKEN}".encode()).decode()}


@dataclass
class Page:
    url: str
    pipeline: NotificationPipeline
    alerts: dict[str, Alert]
    oncall: Receiver


@pytest.fixture
def served(tmp_path: Path, pipeline_factory: PipelineFactory, receivers: Any,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    monkeypatch.setenv("PAGE_TEST_TOKEN", TOKEN)
    noc, oncall = receivers(), receivers()
    cfg = {"route": {"receiver": "noc", "group_by": ["site"], "group_wait": "0s",
                     "group_interval": "0.5s",
                     "routes": [{"matchers": ['alertname="Backup"'],
                                 "mute_time_intervals": ["always"]},
                                {"matchers": ['alertname="DeviceDown"', 'site="Batumi"'],
                                 "escalation": [{"after": "0.3s", "receiver": "oncall"}]}]},
           "time_intervals": [{"name": "always",
                               "time_intervals": [{"weekdays": ["sunday:saturday"]}]}],
           "receivers": [{"name": "noc", "webhook_configs": [{"url": noc.url}]},
                         {"name": "oncall", "webhook_configs": [{"url": oncall.url}]}],
           "inhibit_rules": [{"source_matchers": ['alertname="SiteDown"'],
                              "target_matchers": ['alertname="DeviceDown"'],
                              "equal": ["site"]}],
           "api": {"bearer_token_env": "PAGE_TEST_TOKEN"}}
    p = pipeline_factory(cfg)
    alerts = {
        "site": firing("SiteDown", site="Tbilisi"),
        "inhibited": firing(site="Tbilisi", device="Tbilisi-ATM"),
        "escalated": firing(site="Batumi", device="Batumi-SW"),
        "plain": firing(site="Kutaisi", device="Kutaisi-NVR"),
        "linked": Alert({"alertname": "DeviceDown", "site": "Kutaisi", "device": "Kutaisi-AP"},
                        {"summary": "AP down", "runbook_url": "https://wiki.bank/runbook#ap"},
                        "firing", firing().starts_at, generator_url="javascript:alert(1)"),
        "muted": firing("Backup", site="Kutaisi", device="Kutaisi-NAS"),
        "pending": Alert({"alertname": "DeviceDown", "site": "Gori", "device": "Gori-R1"},
                         {"summary": "Gori-R1 is DOWN"}, "pending", firing().starts_at),
    }
    p.process(list(alerts.values()))
    oncall.wait(1, timeout=10)  # Batumi-SW escalated
    with serving(p, lambda: list(alerts.values())) as url:
        yield Page(url, p, alerts, oncall)


@contextmanager
def serving(p: NotificationPipeline, alerts: Callable[[], list[Alert]]) -> Iterator[str]:
    """The v1 API app of ``p`` on loopback; yields its base URL."""
    app = create_app(alerts=alerts, rules=lambda: [], pipeline=p, notify_config=None,
                     registry=p.registry, reload=lambda: None, ready=lambda: True,
                     refusals=Refusals(p.registry))
    port = free_port()
    server = WebServer(app, f"127.0.0.1:{port}", ident="test", threads=4)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http(url + "-/healthy")
        yield url
    finally:
        server.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    b = Chromium(tmp_path / "profile")
    yield b
    b.close()


def states(b: Chromium) -> dict[str, str]:
    """device → the states the page shows for it."""
    return b.eval("""Object.fromEntries([...document.querySelectorAll('article.alert')].map(
        (a) => [a.querySelector('.dev').textContent || a.querySelector('strong').textContent,
                a.dataset.states]))""")


def test_writer_sees_every_state_and_the_buttons_work(served: Page, browser: Chromium,
                                                       tmp_path: Path) -> None:
    browser.open(390, 844, mobile=True, headers=WRITER)
    browser.load(served.url)
    shown = states(browser)
    assert shown == {"SiteDown": "firing", "Tbilisi-ATM": "inhibited firing",
                     "Batumi-SW": "escalated firing", "Kutaisi-NVR": "firing", "Kutaisi-AP": "firing",
                     "Kutaisi-NAS": "muted firing", "Gori-R1": "pending"}
    sites = browser.eval("[...document.querySelectorAll('section')].map((s) => s.dataset.site)")
    # the site of the escalated alert first, then the firing ones, Gori's pending last
    assert sites[0] == "Batumi" and sites[-1] == "Gori"
    assert set(sites) == {"Tbilisi", "Batumi", "Kutaisi", "Gori"}
    text = browser.eval("document.body.innerText")
    assert "Signed in as nino" in text and "escalated to level 1 of 1 (oncall)" in text
    assert "muted by time interval always" in text
    assert "inhibited by SiteDown site=Tbilisi" in text  # the inhibiting alert, by name
    # a phone: nothing wider than the screen
    assert browser.eval("document.documentElement.scrollWidth <= window.innerWidth")
    browser.screenshot(tmp_path / "alerter-page-phone-writer.png")
    assert browser.eval("document.querySelectorAll('button.ack').length") == 6
    # the runbook is a link; a javascript: source URL is not
    links = browser.eval("[...document.querySelectorAll('a[rel]')].map((a) => a.href)")
    assert "https://wiki.bank/runbook#ap" in links
    assert not [u for u in links if u.startswith("javascript")]

    # Acknowledge, clicked for real: the ack is stored and the page shows it
    fp = served.alerts["plain"].fingerprint
    browser.eval(f"document.querySelector('#a-{fp} button.ack').click()")
    browser.wait_load()
    assert served.pipeline.acks.acked_by(served.alerts["plain"]) == ["nino"]
    assert states(browser)["Kutaisi-NVR"] == "acknowledged firing"

    # Silence without a comment: refused in the page, nothing stored
    fp = served.alerts["escalated"].fingerprint
    browser.eval(f"document.querySelector('#a-{fp} button.silence').click()")
    assert browser.eval(f"document.querySelector('#a-{fp} output').textContent") == \
        "a silence needs a comment"
    assert served.pipeline.silences.list() == []
    # with a comment: a silence of exactly this alert, for the chosen duration
    browser.eval(f"""(() => {{ const f = document.querySelector('#a-{fp} form');
        f.elements.comment.value = 'fibre cut, ISP ticket 42';
        f.elements.duration.value = '1h';
        f.querySelector('button.silence').click(); }})()""")
    browser.wait_load()
    [silence] = served.pipeline.silences.list()
    assert silence.created_by == "nino" and silence.comment == "fibre cut, ISP ticket 42"
    assert 3590 < silence.ends_at - silence.starts_at <= 3600
    assert served.pipeline.silences.silenced_by(served.alerts["escalated"]) == [silence.id]
    assert served.pipeline.silences.silenced_by(served.alerts["plain"]) == []
    assert states(browser)["Batumi-SW"].startswith("silenced")
    browser.screenshot(tmp_path / "alerter-page-phone-after-clicks.png")


def test_a_reader_sees_the_page_without_buttons_and_cannot_write(
        served: Page, browser: Chromium, tmp_path: Path) -> None:
    browser.open(1200, 900, mobile=False)
    browser.load(served.url)
    assert browser.eval("document.querySelectorAll('button').length") == 0
    assert "Read-only" in browser.eval("document.body.innerText")
    assert browser.eval("document.querySelector('a[href=\"?signin\"]') !== null")
    browser.screenshot(tmp_path / "alerter-page-desktop-reader.png")
    # ?signin asks the browser for credentials
    resp = requests.get(served.url + "?signin", timeout=5)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    # the API refuses a reader's ack the page does not offer
    fp = served.alerts["plain"].fingerprint
    assert requests.post(f"{served.url}api/v1/alerts/{fp}/ack", timeout=5).status_code == 401
    assert served.pipeline.acks.list() == []


def test_cross_site_posts_are_refused(served: Page) -> None:
    """A page on another site cannot make a signed-in browser write (CSRF)."""
    fp = served.alerts["plain"].fingerprint
    ack = f"{served.url}api/v1/alerts/{fp}/ack"
    for headers in ({"Origin": "http://evil.test"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": served.url.rstrip("/")}):
        resp = requests.post(ack, headers={**WRITER, **headers}, json={}, timeout=5)
        assert resp.status_code == 403, headers
        assert "cross-origin" in resp.json()["error"]
    assert served.pipeline.acks.list() == []
    assert served.pipeline.registry.get_sample_value(
        "wardops_alerter_api_requests_refused_total",
        {"api": "v1", "reason": "cross_origin"}) == 3
    # the same origin (what the page's own fetch sends), amtool/curl (no Origin) and a
    # bearer token pass
    origin = served.url.rstrip("/")
    assert requests.post(ack, headers={**WRITER, "Origin": origin,
                                       "Sec-Fetch-Site": "same-origin"},
                         json={}, timeout=5).status_code == 200
    assert requests.post(ack, headers={"Authorization": f"Bearer {TOKEN}",
                                       "Origin": "http://evil.test"},
                         json={}, timeout=5).status_code == 200


def test_the_page_is_self_contained_and_locked_down(served: Page, tmp_path: Path) -> None:
    served.alerts["plain"].annotations["summary"] = "<script>alert(1)</script> & <b>x</b>"
    resp = requests.get(served.url, headers=WRITER, timeout=5)
    html = resp.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;" in html
    # nothing loaded from elsewhere (links to the source and runbook are navigation)
    assert not re.search(r"""(src|action)\s*=""", html, re.I) and "<link" not in html
    assert "@import" not in html and not re.search(r"url\(", html, re.I)
    csp = resp.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in html
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert requests.get(served.url, headers=WRITER, timeout=5).headers[
        "Content-Security-Policy"] != csp  # a fresh nonce per response
    assert "<script>" not in html and "<b>x</b>" not in html
    # Chromium's own --dump-dom (a reader), as a newcomer would look at it
    chromium = shutil.which("chromium")
    assert chromium
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={tmp_path / 'dump'}", "--dump-dom", served.url],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert 'data-site="Batumi"' in dom and "Batumi-SW" in dom and "<button" not in dom
    png = tmp_path / "alerter-page-cli.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    f"--user-data-dir={tmp_path / 'shot'}", "--window-size=390,844",
                    f"--screenshot={png}", served.url],
                   capture_output=True, timeout=60, check=True, cwd=tmp_path)
    assert png.stat().st_size > 5000


def test_escalation_note_and_no_alerts(served: Page) -> None:
    wait_for(lambda: served.oncall.requests, timeout=5, what="escalation")
    served.alerts.clear()
    html = requests.get(served.url, timeout=5).text
    assert "No active alerts." in html


def test_with_a_read_token_the_browser_signs_in(pipeline_factory: PipelineFactory,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With api.read_token_* the page asks the browser for basic auth: the read token as
    the password reads, the write token writes; ?signin asks a reader for a writer."""
    monkeypatch.setenv("PAGE_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("PAGE_TEST_READ", "read-t0ken")
    p = pipeline_factory({"api": {"bearer_token_env": "PAGE_TEST_TOKEN",
                                  "read_token_env": "PAGE_TEST_READ"}})
    with serving(p, lambda: [firing(site="A", device="A-1")]) as url:
        anonymous = requests.get(url, timeout=5)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="wardops-alerter"'
        assert "A-1" not in anonymous.text
        wall = requests.get(url, auth=("wall", "read-t0ken"), timeout=5)
        assert wall.status_code == 200 and "A-1" in wall.text and "<button" not in wall.text
        assert requests.get(url + "?signin", auth=("wall", "read-t0ken"),
                            timeout=5).status_code == 401
        writer = requests.get(url + "?signin", auth=("nino", TOKEN), timeout=5)
        assert writer.status_code == 200 and "<button" in writer.text
        assert "Signed in as <b>nino</b>" in writer.text
