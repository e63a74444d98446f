"""The alerter's HTTP API (Flask; served by cheroot from ``alerter.app``).

Who may read and who may write (silences, acks, reload) is decided in
``alerter.httpapi`` for both APIs: the write token or a web-config user in
``api.write_users`` writes; reads are open unless ``api.read_token_*`` is set. Errors are JSON
``{"status": "error", "error": "..."}``: bad JSON, bad matchers, bad times and oversized
bodies are 400, never 500.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from alerter import page
from alerter.httpapi import (
    BadRequest,
    PipelineView,
    Refusal,
    Refusals,
    basic_user,
    check_read,
    check_write,
    parse_json_object,
    refuse_read,
    refuse_write,
    v2_method_not_allowed,
)
from alerter.model import Alert
from alerter.notify.config import NotifyConfig
from alerter.notify.formats.alertmanager import rfc3339
from alerter.notify.matchers import Matcher, matches_all, parse_matchers
from alerter.notify.silences import Silence, SilenceNotFound, SilenceStore
from alerter.promjson import alert_json
from wardops_common.durations import parse_duration

log = logging.getLogger("alerter.api")


def parse_time(value: object, field: str) -> float:
    """RFC 3339 (``2026-01-02T03:04:05Z``) to Unix seconds."""
    if not isinstance(value, str):
        raise BadRequest(f"{field}: must be an RFC 3339 time string")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{field}: invalid RFC 3339 time {value!r}") from None
    if dt.tzinfo is None:
        raise BadRequest(f"{field}: time {value!r} needs a zone (Z or +hh:mm)")
    return dt.timestamp()


def parse_api_matchers(value: object) -> tuple[Matcher, ...]:
    """Matchers as strings (``'a="b"'``, a list of them) or Alertmanager v2 objects
    (``{"name", "value", "isRegex", "isEqual"}``)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise BadRequest("matchers: a non-empty list of matchers is required")
    result: list[Matcher] = []
    for i, item in enumerate(items):
        try:
            if isinstance(item, str):
                result.extend(parse_matchers(item))
            elif isinstance(item, dict) and isinstance(item.get("name"), str) \
                    and isinstance(item.get("value"), str):
                regex, equal = bool(item.get("isRegex", False)), bool(item.get("isEqual", True))
                op = {(False, True): "=", (False, False): "!=", (True, True): "=~",
                      (True, False): "!~"}[(regex, equal)]
                result.append(Matcher(item["name"], op, item["value"]))
            else:
                raise ValueError('expected a string like \'site="Tbilisi"\' or an object with '
                                 "name, value, isRegex, isEqual")
        except ValueError as exc:
            raise BadRequest(f"matchers[{i}]: {exc}") from None
    return tuple(result)


def silence_json(s: Silence, now: float) -> dict[str, Any]:
    """A silence in the Alertmanager API v2 shape (plus ``matchersText``)."""
    return {
        "id": s.id,
        "matchers": [{"name": m.name, "value": m.value, "isRegex": m.is_regex,
                      "isEqual": m.is_equal} for m in s.matchers],
        "matchersText": [str(m) for m in s.matchers],
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "updatedAt": rfc3339(s.updated_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "status": {"state": s.state(now)},
    }


#: 9999-12-31T23:59:59Z: the last time RFC 3339 (and amtool, and Grafana) can show
MAX_SILENCE_TIME = 253402300799.0
MAX_SILENCE_TEXT = 4096


def can_update(prev: Silence, matchers: tuple[Matcher, ...], starts_at: float,
               ends_at: float, now: float) -> bool:
    """Whether an API v2 update may change ``prev`` in place (Alertmanager's
    ``canUpdate``): the same matchers, and for an active silence the same start and an
    end not in the past; a pending one may move its start, but not into the past; an
    expired one never."""
    if tuple(matchers) != tuple(prev.matchers):
        return False
    state = prev.state(now)
    if state == "active":
        # a start sent back as read is the same start: amtool sends times to the
        # millisecond (and Alertmanager keeps the ID for its `silence update` then too)
        return abs(starts_at - prev.starts_at) < 0.001 and ends_at >= now
    if state == "pending":
        return starts_at >= now
    return False


def save_silence(silences: SilenceStore, data: dict[str, Any], matchers: tuple[Matcher, ...],
                 starts_at: float, ends_at: float, now: float, *, api: str) -> Silence:
    """Create (or, with ``id``, update) a silence from an API body; log who did it.

    Both APIs share this. In ``api == "v2"`` Alertmanager's rules apply on top: an update
    that :func:`can_update` refuses (other matchers, an active silence's start moved, an
    expired silence) expires the old silence and makes a new one with a new ID, and a new
    silence does not start in the past. Raises :class:`BadRequest` for a bad body and
    :class:`SilenceNotFound` for an unknown ``id``; each API words its own 404.
    """
    created_by, comment = data.get("createdBy", ""), data.get("comment", "")
    silence_id = data.get("id") or None
    if not all(isinstance(v, str) for v in (created_by, comment)) or \
            not isinstance(silence_id, (str, type(None))):
        raise BadRequest("createdBy, comment and id must be strings")
    # Never store what cannot be served back: times RFC 3339 can write, bounded text.
    for name, at in (("startsAt", starts_at), ("endsAt", ends_at)):
        if not (math.isfinite(at) and 0 <= at <= MAX_SILENCE_TIME):
            raise BadRequest(f"{name}: must be between 1970-01-01 and 9999-12-31 (UTC)")
    for name, text in (("createdBy", created_by), ("comment", comment),
                       ("id", silence_id or "")):
        if len(text) > MAX_SILENCE_TEXT:
            raise BadRequest(f"{name}: longer than {MAX_SILENCE_TEXT} characters")
    for m in matchers:
        if len(m.name) + len(m.value) > MAX_SILENCE_TEXT:
            raise BadRequest(f"matchers: {m.name}: longer than {MAX_SILENCE_TEXT} characters")
    if api == "v2":
        if silence_id is not None:
            prev = silences.get(silence_id)
            if not can_update(prev, matchers, starts_at, ends_at, now):
                # Alertmanager's rule: expire the old one and make a new one (new ID), so
                # what a silence muted before the change stays on record
                if prev.state(now) != "expired":
                    silences.expire(prev.id)
                silence_id = None
        if silence_id is None:
            starts_at = max(starts_at, now)
    try:
        silence = silences.create(matchers, starts_at, ends_at, created_by, comment, silence_id)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    log.info("silence saved", extra={"silence": silence.id, "created_by": created_by,
                                     "matchers": ",".join(map(str, matchers)), "api": api})
    return silence


def create_app(*, alerts: Callable[[], list[Alert]], rules: Callable[[], list[dict[str, Any]]],
               pipeline: PipelineView,
               notify_config: NotifyConfig | Callable[[], NotifyConfig] | None,
               registry: CollectorRegistry, reload: Callable[[], None], ready: Callable[[], bool],
               refusals: Refusals | None = None) -> Flask:
    """Build the API app.

    ``alerts`` returns the active alerts (pending and firing); ``rules`` the rule groups in
    the shape of Prometheus's ``/api/v1/rules`` ``data.groups``; ``reload`` re-reads config
    and raises ``ValueError`` on a bad file (keeping the running one); ``ready`` is true
    after the first evaluation cycle, also one whose queries failed (readiness is "can
    serve", not "data healthy": that is ``MonitoringDegraded``). ``notify_config`` may
    also be a callable returning the current config (extension); otherwise the pipeline's
    current config is used, so the bearer token follows reloads.
    """
    app = Flask("wardops-alerter")

    def current_config() -> NotifyConfig:
        if callable(notify_config):
            return notify_config()
        return pipeline.config

    def now() -> float:
        return pipeline.now()

    def error(status: int, message: str) -> Response:
        resp = jsonify({"status": "error", "error": message})
        resp.status_code = status
        return resp

    refused = refusals if refusals is not None else Refusals(None)

    def body_json(required: bool = True) -> dict[str, Any]:
        limit = current_config().api.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise BadRequest(f"request body larger than {limit} bytes")
        raw = request.get_data(cache=True)
        if not required and not raw.strip():
            return {}
        return parse_json_object(raw, limit)

    def refusal_response(refusal: Refusal | None) -> Response | None:
        if refusal is None:
            return None
        resp = error(refusal.status, refusal.message)
        if refusal.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="wardops-alerter"'
        return resp

    def authorize() -> Response | None:
        return refusal_response(refuse_write(current_config().api, refused, "v1"))

    @app.before_request
    def authorize_read() -> Response | None:
        # /api/v2 checks its own reads (its errors have another shape); health, readiness
        # and /metrics stay behind --web.config.file only, as in Prometheus.
        if request.method in ("GET", "HEAD") and request.path.startswith("/api/v1/"):
            return refusal_response(refuse_read(current_config().api, refused, "v1"))
        return None

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Response:
        refused.count("v1", "bad_body")
        return error(400, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if isinstance(exc, MethodNotAllowed) and request.path.startswith("/api/v2/"):
            return v2_method_not_allowed(request.method, exc.valid_methods)
        if exc.code == 413:
            limit = current_config().api.max_body_bytes
            return error(400, f"request body larger than {limit} bytes")
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        log.exception("API request failed", extra={"path": request.path})
        return error(500, f"internal error: {type(exc).__name__}")

    # --- health and metrics ---------------------------------------------------------------

    @app.get("/-/healthy")
    def healthy() -> Response:
        # Unhealthy only for what a restart or an operator must fix here: the state
        # directory cannot be written (notifications are then held in memory only).
        problem = pipeline.storage.problem()
        if problem:
            return Response(f"Unhealthy: {problem}\n", status=503, mimetype="text/plain")
        return Response("OK\n", mimetype="text/plain")

    @app.get("/-/ready")
    def is_ready() -> Response:
        if ready():
            return Response("Ready\n", mimetype="text/plain")
        return Response("Not ready: no evaluation finished yet\n", status=503,
                        mimetype="text/plain")

    @app.post("/-/reload")
    def do_reload() -> Response:
        if (denied := authorize()) is not None:
            return denied
        try:
            reload()
        except ValueError as exc:
            return error(400, f"reload failed, running config kept: {exc}")
        return jsonify({"status": "success"})

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=None,
                        headers={"Content-Type": CONTENT_TYPE_LATEST})

    # --- the page ---------------------------------------------------------------------------

    def sign_in(why: str) -> Response:
        return Response(f"{why}\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Basic realm="wardops-alerter"'})

    @app.get("/")
    def index() -> Response:
        """Active alerts by site; a writer gets the buttons (``alerter.page``). A browser
        signs in with basic auth: a ``--web.config.file`` user, or any name with a token
        as the password (``?signin`` asks for it)."""
        api = current_config().api
        auth = request.headers.get("Authorization", "")
        user = request.remote_user
        if check_read(api, auth, user) is not None:
            return sign_in("Sign in with the read or the write token as the password.")
        writer = check_write(api, auth, user) is None
        can_write = api.bearer_token is not None or bool(api.write_users)
        if "signin" in request.args and can_write and not writer:
            return sign_in("Sign in as a writer: a user in api.write_users, or any name with "
                           "the write token as the password.")
        t = now()
        active = alerts()
        by_fingerprint = {a.fingerprint: a for a in active}
        rows = [page.row(a, pipeline.mute_status(a), pipeline.escalation_status(a),
                         by_fingerprint)
                for a in active if a.state in ("firing", "pending")]
        nonce = secrets.token_urlsafe(16)
        html = page.render(rows, now=t, writer=writer, user=user or basic_user(auth) or "web",
                           can_sign_in=can_write and not writer, nonce=nonce)
        return Response(html, mimetype="text/html", headers=page.headers(nonce))

    # --- alerts and rules -------------------------------------------------------------------

    @app.get("/api/v1/alerts")
    def list_alerts() -> Response:
        matchers: tuple[Matcher, ...] = ()
        if flt := request.args.get("filter"):
            try:
                matchers = tuple(parse_matchers(flt))
            except ValueError as exc:
                raise BadRequest(f"filter: {exc}") from None
        result = []
        for alert in alerts():
            if not matches_all(matchers, alert.labels):
                continue
            status = pipeline.mute_status(alert)
            acked = status.get("acked", [])
            result.append({
                **alert_json(alert), "fingerprint": alert.fingerprint,
                "generatorURL": alert.generator_url,
                "status": {
                    "silencedBy": status.get("silenced", []),
                    "inhibitedBy": status.get("inhibited", []),
                    "acked": bool(acked), "ackedBy": acked[0] if acked else None,
                    "muted": any(status.values()),
                    "escalation": pipeline.escalation_status(alert),
                },
            })
        return jsonify({"status": "success", "data": {"alerts": result}})

    @app.get("/api/v1/rules")
    def list_rules() -> Response:
        return jsonify({"status": "success", "data": {"groups": rules()}})

    @app.post("/api/v1/alerts/<fingerprint>/ack")
    def ack(fingerprint: str) -> Response:
        if (denied := authorize()) is not None:
            return denied
        data = body_json(required=False)
        by = data.get("createdBy", "api")
        comment = data.get("comment", "")
        if not isinstance(by, str) or not isinstance(comment, str):
            raise BadRequest("createdBy and comment must be strings")
        alert = next((a for a in alerts() if a.fingerprint == fingerprint), None)
        if alert is None or alert.state != "firing":
            return error(404, f"no firing alert with fingerprint {fingerprint}")
        entry = pipeline.acks.ack(alert, by, comment)
        return jsonify({"status": "success", "data": {
            "fingerprint": entry.fingerprint, "ackedBy": entry.acked_by,
            "comment": entry.comment, "ackedAt": rfc3339(entry.acked_at),
            "startsAt": rfc3339(entry.starts_at)}})

    # --- silences ------------------------------------------------------------------------------

    @app.get("/api/v1/silences")
    def list_silences() -> Response:
        t = now()
        return jsonify({"status": "success",
                        "data": [silence_json(s, t) for s in pipeline.silences.list()]})

    @app.get("/api/v1/silences/<silence_id>")
    def get_silence(silence_id: str) -> Response:
        try:
            return jsonify({"status": "success",
                            "data": silence_json(pipeline.silences.get(silence_id), now())})
        except SilenceNotFound:
            return error(404, f"no silence {silence_id}")

    @app.post("/api/v1/silences")
    def create_silence() -> Response:
        if (denied := authorize()) is not None:
            return denied
        data = body_json()
        t = now()
        matchers = parse_api_matchers(data.get("matchers"))
        starts_at = parse_time(data["startsAt"], "startsAt") if "startsAt" in data else t
        if "endsAt" in data:
            ends_at = parse_time(data["endsAt"], "endsAt")
        elif "duration" in data:
            try:
                ends_at = starts_at + parse_duration(data["duration"])
            except ValueError as exc:
                raise BadRequest(f"duration: {exc}") from None
        else:
            raise BadRequest("endsAt or duration is required")
        try:
            silence = save_silence(pipeline.silences, data, matchers, starts_at, ends_at, t,
                                   api="v1")
        except SilenceNotFound:
            return error(404, f"no silence {data.get('id')}")
        return jsonify({"status": "success", "silenceID": silence.id,
                        "data": silence_json(silence, t)})

    @app.delete("/api/v1/silences/<silence_id>")
    def expire_silence(silence_id: str) -> Response:
        if (denied := authorize()) is not None:
            return denied
        try:
            silence = pipeline.silences.expire(silence_id)
        except SilenceNotFound:
            return error(404, f"no silence {silence_id}")
        return jsonify({"status": "success", "data": silence_json(silence, now())})

    # --- delivery inspection -------------------------------------------------------------------

    @app.get("/api/v1/notifications/dead-letters")
    def dead_letters() -> Response:
        return jsonify({"status": "success", "data": pipeline.dead_letters()})

    return app
