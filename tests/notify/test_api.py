"""The HTTP API served by cheroot on loopback: alerts with mute status, silences, acks,
auth (401/403), 400s for bad input, health, readiness, reload and /metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from alerter.api import create_app
from tests.notify.conftest import PipelineFactory, firing
from tests.notify.receiver import Receiver
from tests.support import free_port, wait_http
from wardops_common.webserver import WebServer

TOKEN = "t0ken-for-tests"


class Api:
    def __init__(self, base: str, state: dict[str, Any]) -> None:
        self.base = base
        self.state = state

    def get(self, path: str, **kw: Any) -> requests.Response:
        return requests.get(self.base + path, timeout=5, **kw)

    def post(self, path: str, token: str | None = TOKEN, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(self.base + path, headers=headers, timeout=5, **kw)

    def delete(self, path: str, token: str | None = TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.delete(self.base + path, headers=headers, timeout=5)


def serve(tmp_path: Path, pipeline_factory: PipelineFactory, receiver: Receiver,
          api_cfg: dict[str, Any]) -> Iterator[Api]:
    cfg = {"route": {"receiver": "r", "group_by": ["site"], "group_wait": "0s"},
           "receivers": [{"name": "r", "webhook_configs": [{"url": receiver.url}]}],
           "inhibit_rules": [{"source_matchers": ['alertname="SiteDown"'],
                              "target_matchers": ['alertname="DeviceDown"'], "equal": ["site"]}],
           "api": api_cfg}
    p = pipeline_factory(cfg)
    state: dict[str, Any] = {"alerts": [], "ready": False, "reloads": 0, "reload_error": None,
                             "pipeline": p, "receiver": receiver}

    def reload() -> None:
        if state["reload_error"]:
            raise ValueError(state["reload_error"])
        state["reloads"] += 1

    app = create_app(alerts=lambda: state["alerts"],
                     rules=lambda: [{"name": "devices", "file": "rules/devices.yml",
                                     "rules": [{"name": "DeviceDown", "type": "alerting"}]}],
                     pipeline=p, notify_config=p.config, registry=p.registry, reload=reload,
                     ready=lambda: state["ready"])
    port = free_port()
    server = WebServer(app, f"127.0.0.1:{port}", ident="test", threads=2)
    server.start()
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/-/healthy")
    yield Api(base, state)
    server.close()


@pytest.fixture
def api(tmp_path: Path, pipeline_factory: PipelineFactory, receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("WARDOPS_TEST_API_TOKEN", TOKEN)
    yield from serve(tmp_path, pipeline_factory, receiver,
                     {"bearer_token_env": "WARDOPS_TEST_API_TOKEN", "max_body_bytes": 2048})


@pytest.fixture
def api_without_token(tmp_path: Path, pipeline_factory: PipelineFactory,
                      receiver: Receiver) -> Iterator[Api]:
    yield from serve(tmp_path, pipeline_factory, receiver, {})


SILENCE = {"matchers": ['site="Kharagauli"'], "duration": "2h", "createdBy": "nino@bank",
           "comment": "power works at the branch"}


def test_health_ready_and_metrics(api: Api) -> None:
    assert api.get("/-/healthy").text == "OK\n"
    assert api.get("/-/ready").status_code == 503
    api.state["ready"] = True
    assert api.get("/-/ready").status_code == 200
    metrics = api.get("/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert 'wardops_alerter_notifications_total{receiver="r",result="delivered"} 0.0' in metrics.text


def test_rules_are_served(api: Api) -> None:
    body = api.get("/api/v1/rules").json()
    assert body["status"] == "success"
    assert body["data"]["groups"][0]["rules"][0]["name"] == "DeviceDown"


def test_alerts_show_silenced_inhibited_and_acked(api: Api) -> None:
    p = api.state["pipeline"]
    site = firing("SiteDown", site="Tbilisi")
    dev = firing(site="Tbilisi", device="Tbilisi-R1")
    kh = firing(site="Kharagauli", device="Kharagauli-ATM")
    other = firing(site="Batumi", device="Batumi-SW")
    api.state["alerts"] = [site, dev, kh, other]
    p.process(api.state["alerts"])
    sid = api.post("/api/v1/silences", json=SILENCE).json()["silenceID"]
    assert api.post(f"/api/v1/alerts/{other.fingerprint}/ack",
                    json={"createdBy": "gio@bank", "comment": "known"}).status_code == 200
    alerts = {a["fingerprint"]: a for a in api.get("/api/v1/alerts").json()["data"]["alerts"]}
    assert alerts[dev.fingerprint]["status"]["inhibitedBy"] == [site.fingerprint]
    assert alerts[kh.fingerprint]["status"]["silencedBy"] == [sid]
    assert alerts[other.fingerprint]["status"]["acked"] is True
    assert alerts[other.fingerprint]["status"]["ackedBy"] == "gio@bank"
    assert alerts[site.fingerprint]["status"] == {"silencedBy": [], "inhibitedBy": [],
                                                  "acked": False, "ackedBy": None, "muted": False,
                                                  "escalation": None}
    assert alerts[kh.fingerprint]["labels"]["device"] == "Kharagauli-ATM"
    filtered = api.get("/api/v1/alerts", params={"filter": '{site=~"Kh.*"}'}).json()
    assert [a["fingerprint"] for a in filtered["data"]["alerts"]] == [kh.fingerprint]


def test_silence_lifecycle(api: Api) -> None:
    created = api.post("/api/v1/silences", json=SILENCE)
    assert created.status_code == 200
    sid = created.json()["silenceID"]
    listed = api.get("/api/v1/silences").json()["data"]
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["matchers"] == [{"name": "site", "value": "Kharagauli", "isRegex": False,
                                      "isEqual": True}]
    assert listed[0]["status"]["state"] == "active" and listed[0]["createdBy"] == "nino@bank"
    assert api.delete(f"/api/v1/silences/{sid}").status_code == 200
    assert api.get(f"/api/v1/silences/{sid}").json()["data"]["status"]["state"] == "expired"
    assert api.delete("/api/v1/silences/no-such-id").status_code == 404
    # Alertmanager v2 matcher objects and explicit times work as well.
    now = time.time()
    v2 = api.post("/api/v1/silences", json={
        "matchers": [{"name": "alertname", "value": "Device.*", "isRegex": True, "isEqual": True}],
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00+04:00",
        "createdBy": "amtool", "comment": "long"})
    assert v2.status_code == 200, v2.text
    assert v2.json()["data"]["matchersText"] == ['alertname=~"Device.*"']
    assert time.time() - now < 5


def test_silences_persist_in_state_dir(api: Api, tmp_path: Path) -> None:
    sid = api.post("/api/v1/silences", json=SILENCE).json()["silenceID"]
    from alerter.notify import NotificationPipeline
    again = NotificationPipeline(api.state["pipeline"].config, tmp_path / "state",
                                 external_url="x")
    assert [s.id for s in again.silences.list()] == [sid]


def test_writes_need_the_bearer_token(api: Api) -> None:
    for resp in (api.post("/api/v1/silences", token=None, json=SILENCE),
                 api.post("/api/v1/silences", token="wrong", json=SILENCE),
                 api.delete("/api/v1/silences/x", token=None),
                 api.post("/api/v1/alerts/0123456789abcdef/ack", token=None),
                 api.post("/-/reload", token=None)):
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"] in ("wrong token", "missing token (send it as a bearer "
                                        "token or as the basic-auth password)")
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/api/v1/silences").json()["data"] == []


def test_writes_refused_without_configured_token(api_without_token: Api) -> None:
    resp = api_without_token.post("/api/v1/silences", token="anything", json=SILENCE)
    assert resp.status_code == 403
    assert resp.json()["error"] == ("writes are disabled: configure api.bearer_token_env, "
                                    "api.bearer_token_file or api.write_users")
    assert api_without_token.get("/api/v1/alerts").status_code == 200  # reads stay open


@pytest.mark.parametrize("body, error", [
    (b"{not json", "invalid JSON: Expecting property name enclosed in double quotes: "
                   "line 1 column 2 (char 1)"),
    (b"[1, 2]", "request body must be a JSON object"),
    (b"", "request body must be a JSON object"),
    (b'{"matchers": ["site"], "duration": "1h", "createdBy": "a", "comment": "b"}',
     "matchers[0]: expected one of =, !=, =~, !~ at position 4 in 'site'"),
    (b'{"matchers": [], "duration": "1h", "createdBy": "a", "comment": "b"}',
     "matchers: a non-empty list of matchers is required"),
    (b'{"matchers": ["site=~\\".*\\""], "duration": "1h", "createdBy": "a", "comment": "b"}',
     "matchers: at least one matcher must not match the empty string (a silence must not "
     "mute every alert)"),
    (b'{"matchers": ["site=\\"A\\""], "duration": "soon", "createdBy": "a", "comment": "b"}',
     "duration: invalid duration 'soon' (use e.g. 500ms, 30s, 5m, 1h30m)"),
    (b'{"matchers": ["site=\\"A\\""], "endsAt": "tomorrow", "createdBy": "a", "comment": "b"}',
     "endsAt: invalid RFC 3339 time 'tomorrow'"),
    (b'{"matchers": ["site=\\"A\\""], "startsAt": "2026-01-02T00:00:00Z", '
     b'"endsAt": "2026-01-01T00:00:00Z", "createdBy": "a", "comment": "b"}',
     "endsAt: must be after startsAt"),
    (b'{"matchers": ["site=\\"A\\""], "duration": "1h", "comment": "b"}', "createdBy: required"),
    (b'{"matchers": ["site=\\"A\\""], "duration": "1h", "createdBy": 5, "comment": "b"}',
     "createdBy, comment and id must be strings"),
    (b'{"comment": "' + b"x" * 3000 + b'"}', "request body larger than 2048 bytes"),
])
def test_bad_silence_requests_get_400(api: Api, body: bytes, error: str) -> None:
    resp = requests.post(api.base + "/api/v1/silences", data=body, timeout=5,
                      headers={"Authorization": f"Bearer {TOKEN}",
                               "Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json() == {"status": "error", "error": error}


def test_bad_filter_is_400(api: Api) -> None:
    resp = api.get("/api/v1/alerts", params={"filter": '{site="x"'})
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("filter: ")


def test_ack_unknown_alert_is_404(api: Api) -> None:
    resp = api.post("/api/v1/alerts/0123456789abcdef/ack")
    assert resp.status_code == 404
    assert resp.json()["error"] == "no firing alert with fingerprint 0123456789abcdef"


def test_reload(api: Api) -> None:
    assert api.post("/-/reload").json() == {"status": "success"}
    assert api.state["reloads"] == 1
    api.state["reload_error"] = "alerter.yml: route.receiver: unknown receiver 'x'"
    resp = api.post("/-/reload")
    assert resp.status_code == 400
    assert resp.json()["error"] == ("reload failed, running config kept: alerter.yml: "
                                    "route.receiver: unknown receiver 'x'")


def test_unknown_path_is_json_404(api: Api) -> None:
    resp = api.get("/api/v1/nothing")
    assert resp.status_code == 404 and resp.json()["status"] == "error"


def test_dead_letters_are_listed(api: Api) -> None:
    receiver: Receiver = api.state["receiver"]
    receiver.fail_next(1, 410)
    api.state["pipeline"].process([firing(site="Poti", device="Poti-ATM")])
    from tests.support import wait_for
    letters = wait_for(lambda: api.get("/api/v1/notifications/dead-letters").json()["data"],
                       timeout=10, what="a dead letter")
    assert letters[0]["receiver"] == "r" and letters[0]["lastError"] == "http_4xx is not retried"
    assert '"device": "Poti-ATM"' in letters[0]["body"]


@pytest.mark.parametrize("body", [
    b'{"matchers": ["site=\\"A\\""], "duration": "1000000000h", "createdBy": "a", "comment": "b"}',
    b'{"matchers": ["site=\\"A\\""], "duration": NaN, "createdBy": "a", "comment": "b"}',
    b'{"matchers": ["site=\\"A\\""], "duration": Infinity, "createdBy": "a", "comment": "b"}',
    b'{"matchers": ["site=\\"A\\""], "duration": 1e308, "createdBy": "a", "comment": "b"}',
], ids=["1000000000h", "NaN", "Infinity", "1e308"])
def test_a_silence_that_cannot_be_served_is_never_stored(api: Api, body: bytes) -> None:
    """The old alerter answered 500 but stored `duration: 1000000000h` as active; from then
    on every silence listing (v1, v2, amtool, Grafana) answered 500."""
    resp = requests.post(api.base + "/api/v1/silences", data=body, timeout=5,
                         headers={"Authorization": f"Bearer {TOKEN}",
                                  "Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["status"] == "error"
    listed = api.get("/api/v1/silences")
    assert listed.status_code == 200 and listed.json()["data"] == []
    # nothing stored: the v2 API and amtool list from the same store
    assert api.state["pipeline"].silences.list() == []


def test_a_backtracking_filter_answers_at_once_and_does_not_freeze_the_alerter(
        api: Api) -> None:
    """Matchers run in RE2 (linear time, as in Alertmanager and Prometheus). With Python's
    backtracking engine this one unauthenticated GET took seconds per alert (2^n steps),
    and /-/healthy waited behind it."""
    long = firing(site="Tbilisi", device="a" * 40 + "b")
    api.state["alerts"] = [long, firing(site="Tbilisi", device="Tbilisi-R1")]
    slow: dict[str, float] = {}

    def query() -> None:
        started = time.monotonic()
        resp = api.get("/api/v1/alerts", params={"filter": '{device=~"(a+)+$"}'})
        slow["took"] = time.monotonic() - started
        slow["status"] = resp.status_code
        slow["alerts"] = len(resp.json()["data"]["alerts"])
    worker = threading.Thread(target=query)
    worker.start()
    started = time.monotonic()
    assert api.get("/-/healthy").status_code == 200
    healthy_took = time.monotonic() - started
    worker.join(10)
    assert not worker.is_alive(), "the filter request is still running"
    assert (slow["status"], slow["alerts"]) == (200, 0)
    assert slow["took"] < 1.0 and healthy_took < 1.0, (slow, healthy_took)


def test_a_regex_go_rejects_is_a_clear_400(api: Api) -> None:
    """RE2 syntax, like Go's: look-arounds and back-references are errors, not slow paths."""
    resp = api.get("/api/v1/alerts", params={"filter": '{device=~"(?=x)"}'})
    assert resp.status_code == 400
    assert "invalid regular expression '(?=x)'" in resp.json()["error"]
