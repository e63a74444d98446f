"""One API layer for /api/v1 and /api/v2: the same write authorization (bearer token, or
the token as basic-auth password, or a web-config user allowed to write), the same read
authorization (the read token), the same body limits, and every refusal counted in
``wardops_alerter_api_requests_refused_total{api, reason}``."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from alerter.amapi import create_blueprint
from alerter.api import create_app
from alerter.httpapi import Refusals
from alerter.notify import NotificationPipeline
from alerter.notify.config import parse_notify_config
from tests.support import fuzz_examples

TOKEN = "api-layer-t0ken"
V1 = {"matchers": ['site="Batumi"'], "duration": "1h", "createdBy": "noc",
      "comment": "fibre works"}
V2 = {"matchers": [{"name": "site", "value": "Batumi", "isRegex": False, "isEqual": True}],
      "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
      "createdBy": "noc", "comment": "fibre works"}


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> tuple[FlaskClient, CollectorRegistry]:
    monkeypatch.setenv("API_LAYER_TOKEN", TOKEN)
    return _both_apis({"bearer_token_env": "API_LAYER_TOKEN"}, tmp_path)


def _both_apis(api: dict[str, object], state: Path) -> tuple[FlaskClient, CollectorRegistry]:
    """/api/v1 and /api/v2 over one pipeline configured with ``api``."""
    config = parse_notify_config({"api": api})
    pipeline = NotificationPipeline(config, state, external_url="http://alerter.test")
    registry = CollectorRegistry()
    refusals = Refusals(registry)
    app: Flask = create_app(alerts=lambda: [], rules=lambda: [], pipeline=pipeline,
                            notify_config=None, registry=registry, reload=lambda: None,
                            ready=lambda: True, refusals=refusals)
    running = SimpleNamespace(longest_interval=10.0)  # what /api/v2 reads of AlerterConfig
    app.register_blueprint(create_blueprint(alerts=lambda: [], pipeline=pipeline,
                                            config=lambda: running, refusals=refusals))
    return app.test_client(), registry


def refused(registry: CollectorRegistry, api: str, reason: str) -> float:
    value = registry.get_sample_value("wardops_alerter_api_requests_refused_total",
                                      {"api": api, "reason": reason})
    assert value is not None, "every api/reason series exists from the start"
    return value


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"grafana:{password}".encode()).decode()}


@pytest.mark.parametrize("api,body", [("v1", V1), ("v2", V2)])
def test_both_apis_authorize_writes_alike_and_count_refusals(
        client: tuple[FlaskClient, CollectorRegistry], api: str, body: dict) -> None:  # type: ignore[type-arg]
    http, registry = client
    path = f"/api/{api}/silences"
    assert http.post(path, json=body).status_code == 401
    assert refused(registry, api, "no_credentials") == 1
    wrong = http.post(path, json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers
    assert http.post(path, json=body, headers=basic("nope")).status_code == 401
    assert refused(registry, api, "wrong_credentials") == 2
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, basic(TOKEN)):
        ok = http.post(path, json=body, headers=headers)
        assert ok.status_code == 200, ok.get_data(as_text=True)
    other = "v2" if api == "v1" else "v1"
    assert refused(registry, other, "no_credentials") == 0  # counted per API


READ_TOKEN = "wall-display-r3ad"


@pytest.fixture
def readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> tuple[FlaskClient, CollectorRegistry]:
    """An alerter with a write token, a read token and one web-config user who may write."""
    monkeypatch.setenv("API_LAYER_TOKEN", TOKEN)
    monkeypatch.setenv("API_LAYER_READ", READ_TOKEN)
    return _both_apis({"bearer_token_env": "API_LAYER_TOKEN",
                       "read_token_env": "API_LAYER_READ", "write_users": ["noc"]}, tmp_path)


@pytest.mark.parametrize("api,body", [("v1", V1), ("v2", V2)])
def test_readers_read_and_cannot_write(readers: tuple[FlaskClient, CollectorRegistry],
                                       api: str, body: dict) -> None:  # type: ignore[type-arg]
    """A wall display holding the read token (or authenticated by --web.config.file as a
    user not in api.write_users) lists alerts and silences but cannot create or expire a
    silence; with api.read_token set, anonymous reads are refused; the write token and
    write users do both. Each refusal is counted with its reason."""
    http, registry = readers
    reads = [f"/api/{api}/alerts", f"/api/{api}/silences"]
    for path in reads:
        assert http.get(path).status_code == 401
        assert http.get(path, headers=basic("guess")).status_code == 401
        for headers in ({"Authorization": f"Bearer {READ_TOKEN}"}, basic(READ_TOKEN),
                        {"Authorization": f"Bearer {TOKEN}"}):
            assert http.get(path, headers=headers).status_code == 200, (path, headers)
        assert http.get(path, environ_base={"REMOTE_USER": "wall"}).status_code == 200
    assert refused(registry, api, "no_credentials") == 2
    assert refused(registry, api, "wrong_credentials") == 2

    path = f"/api/{api}/silences"
    wall = http.post(path, json=body, headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert wall.status_code == 403 and "read token may only read" in wall.get_data(True)
    wall_user = http.post(path, json=body, environ_base={"REMOTE_USER": "wall"})
    assert wall_user.status_code == 403 and "'wall' may only read" in wall_user.get_data(True)
    assert refused(registry, api, "read_only") == 2
    created = http.post(path, json=body, environ_base={"REMOTE_USER": "noc"})
    assert created.status_code == 200, created.get_data(as_text=True)
    silence_id = created.get_json()["silenceID"]
    expire = f"/api/v2/silence/{silence_id}" if api == "v2" else f"{path}/{silence_id}"
    assert http.delete(expire, headers={"Authorization": f"Bearer {READ_TOKEN}"}
                       ).status_code == 403
    assert http.delete(expire, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert http.post("/-/reload", environ_base={"REMOTE_USER": "wall"}).status_code == 403
    # health, readiness and /metrics are not API reads (Prometheus scrapes them)
    assert http.get("/metrics").status_code == 200
    assert http.get("/-/ready").status_code == 200


def test_the_read_token_must_differ_from_the_write_token(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("SAME", TOKEN)
    with pytest.raises(ValueError, match="api.read_token: must differ"):
        parse_notify_config({"api": {"bearer_token_env": "SAME", "read_token_env": "SAME"}})
    with pytest.raises(ValueError, match=r"api.write_users\[0\]"):
        parse_notify_config({"api": {"write_users": [""]}})


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("body,says", [
    (b"[" * 60_000, "nested too deeply"),
    (b'{"matchers": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested too deeply"),
    (b"\xff\xfe{}", "invalid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"x" * 70_000, "larger than 65536 bytes"),
])
def test_hostile_bodies_are_a_counted_400_on_both_apis(
        client: tuple[FlaskClient, CollectorRegistry], api: str, body: bytes,
        says: str) -> None:
    http, registry = client
    started = time.monotonic()
    resp = http.post(f"/api/{api}/silences", data=body, content_type="application/json",
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert says in resp.get_data(as_text=True)
    assert refused(registry, api, "bad_body") == 1
    assert time.monotonic() - started < 5


def test_the_receiver_filter_is_re2_like_alertmanager(
        client: tuple[FlaskClient, CollectorRegistry]) -> None:
    http, _ = client
    started = time.monotonic()
    resp = http.get("/api/v2/alerts", query_string={"receiver": "(a+)+$"})
    assert resp.status_code == 200 and time.monotonic() - started < 2
    look_around = http.get("/api/v2/alerts", query_string={"receiver": "(?=chat)"})
    assert look_around.status_code == 400 and "receiver" in look_around.get_json()


_param = st.one_of(st.text(max_size=40), st.sampled_from([
    '{site="A"}', 'site=~"(a+)+$"', "site=~((", '{a="b",c=~"d"}', "true", "false", "", "\x00",
    "a" * 3000, '{a="\\x"}', "(?=x)", "\ud7ff", "{{", "=~", "site!~.*"]))


@settings(max_examples=fuzz_examples(300), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/api/v1/alerts", "/api/v1/silences", "/api/v2/alerts",
                             "/api/v2/alerts/groups", "/api/v2/silences"]),
       params=st.dictionaries(st.sampled_from(["filter", "receiver", "silenced", "inhibited",
                                               "active", "unprocessed", "limit"]),
                              st.lists(_param, min_size=1, max_size=3), max_size=4))
def test_any_query_parameters_get_an_answer_or_a_400_never_a_500(
        client: tuple[FlaskClient, CollectorRegistry], path: str,
        params: dict[str, list[str]]) -> None:
    http, _ = client
    started = time.monotonic()
    resp = http.get(path, query_string=params)
    assert resp.status_code in (200, 400), (path, params, resp.get_data(as_text=True)[:300])
    assert resp.is_json
    assert time.monotonic() - started < 1.0, (path, params)
