"""Alertmanager API v2 on the alerter's port (``/api/v2``), for amtool and Grafana.

The subset Alertmanager's clients use: ``GET /status``, ``GET /receivers``,
``GET /alerts`` and ``GET /alerts/groups`` (``filter``, ``active``, ``silenced``,
``inhibited``, ``unprocessed``, ``receiver``; ``muted`` for groups), ``GET/POST /silences`` and
``GET/DELETE /silence/{id}``, in the JSON shapes of Alertmanager's OpenAPI spec.

It serves the same alerts and the same ``SilenceStore`` as ``/api/v1``: a silence
made with ``amtool`` mutes notifications like any other. Only firing alerts are listed
(pending ones never reach an Alertmanager either). Reads are open; writes need the
configured API token, sent as ``Authorization: Bearer <token>`` or as the password of
HTTP basic auth (any user name), which is what amtool's ``--http.config.file`` sends.
Errors are a JSON string with status 400/401/403/404, as Alertmanager answers.
"""

from __future__ import annotations

import logging
import platform
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import yaml
from flask import Blueprint, Response, jsonify, request

from alerter import __version__
from alerter.api import parse_api_matchers, parse_time, save_silence, silence_json
from alerter.httpapi import (
    BadRequest,
    PipelineView,
    Refusal,
    Refusals,
    parse_json_object,
    refuse_read,
    refuse_write,
)
from alerter.model import Alert
from alerter.notify.alertmanager.config import RESEND_DELAY
from alerter.notify.alertmanager.forward import firing_ends_at
from alerter.notify.config import EmailConfig, NotifyConfig, Route
from alerter.notify.formats.alertmanager import rfc3339
from alerter.notify.matchers import Matcher, Regex, compile_anchored, matches_all, parse_matchers
from alerter.notify.route import group_labels, match_routes
from alerter.notify.silences import Silence, SilenceNotFound
from alerter.notify.timeinterval import route_muted
from wardops_common.timeinterval import interval_yaml

log = logging.getLogger("alerter.amapi")
SECRET = "<secret>"  # what Alertmanager shows in place of secrets


# --- request parsing -----------------------------------------------------------------------

def flag(name: str, default: bool = True) -> bool:
    """A boolean query parameter (``true``/``false``, as the OpenAPI client sends)."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise BadRequest(f"{name}: expected true or false, got {value!r}")


def filter_matchers() -> tuple[Matcher, ...]:
    """``filter`` parameters (repeatable), each one matcher or a ``{...}`` list."""
    result: list[Matcher] = []
    for text in request.args.getlist("filter"):
        try:
            result.extend(parse_matchers(text))
        except ValueError as exc:
            raise BadRequest(f"filter: {exc}") from None
    return tuple(result)


def receiver_regex() -> Regex | None:
    """``receiver``: a regular expression the whole receiver name must match (RE2, as
    Alertmanager's Go regexp: linear time, whatever the pattern)."""
    text = request.args.get("receiver")
    if not text:
        return None
    try:
        return compile_anchored(text)
    except ValueError as exc:
        raise BadRequest(f"receiver: {exc}") from None


# --- JSON shapes ---------------------------------------------------------------------------

def receivers_of(route: Route | None, labels: dict[str, str]) -> list[str]:
    """Receiver names an alert routes to, in route order, without repeats."""
    if route is None:
        return []
    return list(dict.fromkeys(r.receiver for r in match_routes(route, labels)))


def alert_status(mute: dict[str, list[str]]) -> dict[str, Any]:
    """``alertStatus``: suppressed when silenced, inhibited or muted by time intervals
    (acks do not suppress). ``mutedBy`` (Alertmanager 0.28) names the time intervals."""
    silenced, inhibited = mute.get("silenced", []), mute.get("inhibited", [])
    muted = mute.get("muted", [])
    return {"state": "suppressed" if silenced or inhibited or muted else "active",
            "silencedBy": list(silenced), "inhibitedBy": list(inhibited),
            "mutedBy": list(muted)}


def route_muted_by(route: Route, notify: NotifyConfig, now: float) -> list[str]:
    """The time intervals holding back ``route``'s groups at ``now`` (``mutedBy``)."""
    if not route.mute_time_intervals and not route.active_time_intervals:
        return []
    timed = route_muted(route.mute_time_intervals, route.active_time_intervals,
                        notify.time_intervals, datetime.fromtimestamp(now, UTC))
    return timed[1] if timed else []


def gettable_alert(alert: Alert, receivers: list[str], status: dict[str, Any],
                   now: float, ends_at: float) -> dict[str, Any]:
    """``gettableAlert``."""
    return {"labels": dict(alert.labels), "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.starts_at), "updatedAt": rfc3339(now),
            "endsAt": rfc3339(ends_at), "generatorURL": alert.generator_url,
            "fingerprint": alert.fingerprint, "receivers": [{"name": r} for r in receivers],
            "status": status}


def wanted(status: dict[str, Any], receivers: Iterable[str], *, active: bool, silenced: bool,
           inhibited: bool, receiver: Regex | None) -> bool:
    """Alertmanager's alert filter: each flag false hides the alerts in that state."""
    if not active and status["state"] == "active":
        return False
    if not silenced and status["silencedBy"]:
        return False
    if not inhibited and status["inhibitedBy"]:
        return False
    return receiver is None or any(receiver.fullmatch(r) for r in receivers)


def silence_sort_key(s: Silence, now: float) -> tuple[int, float]:
    """Alertmanager's order: active (ending soonest first), pending (starting soonest
    first), expired (ended most recently first)."""
    state = s.state(now)
    if state == "active":
        return (0, s.ends_at)
    if state == "pending":
        return (1, s.starts_at)
    return (2, -s.ends_at)


def silence_matches_filter(s: Silence, matchers: tuple[Matcher, ...]) -> bool:
    """Alertmanager's silence filter: the filter matchers must accept the silence's own
    matchers read as a label set (name → value)."""
    return matches_all(matchers, {m.name: m.value for m in s.matchers})


# --- config.original: the running routing in Alertmanager's YAML shape ----------------------

def prom_duration(seconds: float) -> str:
    """Seconds in Prometheus's duration syntax: ``5m``, ``1h30m``, ``1500ms``, ``0s``."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000),
                       ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _route_yaml(route: Route, parent: Route | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if parent is None or route.receiver != parent.receiver:
        out["receiver"] = route.receiver
    if route.matchers:
        out["matchers"] = [str(m) for m in route.matchers]
    if route.continue_:
        out["continue"] = True
    group_by = ["..."] if route.group_by_all else list(route.group_by)
    if parent is None or (route.group_by, route.group_by_all) != (parent.group_by,
                                                                  parent.group_by_all):
        out["group_by"] = group_by
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(route, key)
        if parent is None or value != getattr(parent, key):
            out[key] = prom_duration(value)
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(route, key):
            out[key] = list(getattr(route, key))
    if route.escalation:
        if not out:  # the comment must not be a route's first line ("- # ..." is null)
            out["receiver"] = route.receiver
        out[_ESCALATION_MARK] = route.key
    if route.routes:
        out["routes"] = [_route_yaml(child, route) for child in route.routes]
    return out


#: a key standing for a route's escalation until the YAML is written, then its comment
_ESCALATION_MARK = "__wardops_escalation__"
_ESCALATION_LINE = re.compile(rf"^(\s*){_ESCALATION_MARK}: .*$", re.M)


def _escalation_comment(route: Route) -> str:
    """``[{after: 15m, receiver: oncall}, ...]`` on one line (a comment cannot wrap)."""
    levels = [{"after": prom_duration(level.after), "receiver": level.receiver}
              for level in route.escalation]
    text = yaml.safe_dump(levels, default_flow_style=True, width=2**31, allow_unicode=True)
    return " ".join(text.split())


def _routes(route: Route) -> Iterable[Route]:
    yield route
    for child in route.routes:
        yield from _routes(child)


def _email_yaml(cfg: EmailConfig) -> dict[str, Any]:
    """One ``email_configs`` entry as Alertmanager shows it: a secret (password, CRAM-MD5
    secret, from a file, the environment or the config) is ``<secret>``."""
    out: dict[str, Any] = {"send_resolved": cfg.send_resolved, "to": cfg.to,
                           "from": cfg.from_, "hello": cfg.hello,
                           "smarthost": f"{cfg.smarthost[0]}:{cfg.smarthost[1]}"}
    if ":" in cfg.smarthost[0]:
        out["smarthost"] = f"[{cfg.smarthost[0]}]:{cfg.smarthost[1]}"
    if cfg.auth_username:
        out["auth_username"] = cfg.auth_username
    if cfg.auth_password is not None:
        out["auth_password"] = SECRET
    if cfg.auth_secret is not None:
        out["auth_secret"] = SECRET
    if cfg.auth_identity:
        out["auth_identity"] = cfg.auth_identity
    # Alertmanager fills in From and To (and its own Subject template, which wardops
    # does not use: its default subject is its own)
    given = {name.lower() for name in cfg.headers}
    out["headers"] = {**{k: v for k, v in (("From", cfg.from_), ("To", cfg.to))
                         if k.lower() not in given}, **cfg.headers}
    if cfg.html:
        out["html"] = cfg.html
    if cfg.text:
        out["text"] = cfg.text
    out["require_tls"] = cfg.require_tls
    tls = {"ca_file": cfg.tls.ca_file, "cert_file": cfg.tls.cert_file,
           "key_file": cfg.tls.key_file, "server_name": cfg.tls.server_name}
    out["tls_config"] = {**{k: str(v) for k, v in tls.items() if v},
                         "insecure_skip_verify": cfg.tls.insecure_skip_verify}
    return out


class SpecError(BadRequest):
    """A request Alertmanager's API server refuses before its own code runs (go-swagger's
    validation against the OpenAPI spec): answered as it does, ``{"code", "message"}``
    with status 422 (or 400 for a body that does not parse)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


#: postableSilence's required fields, in the order go-swagger checks them
_SILENCE_REQUIRED = ("comment", "createdBy", "endsAt", "matchers", "startsAt")
_MATCHER_REQUIRED = ("isRegex", "name", "value")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}")


def check_postable_silence(data: dict[str, Any]) -> None:
    """Alertmanager's spec checks of a posted silence (``SpecError``, 422): every required
    field present, at least one matcher, each matcher object with its required fields.
    (wardops also takes matchers as strings, ``'site="A"'``: an extension.)"""
    for name in _SILENCE_REQUIRED:
        if name not in data:
            raise SpecError(422, 602, f"{name} in body is required")
    matchers = data["matchers"]
    if isinstance(matchers, list):
        if not matchers:
            raise SpecError(422, 612, "matchers in body should have at least 1 items")
        for i, item in enumerate(matchers):
            if isinstance(item, dict):
                for name in _MATCHER_REQUIRED:
                    if name not in item:
                        raise SpecError(422, 602, f"matchers.{i}.{name} in body is required")


def check_silence_id(silence_id: str) -> None:
    """A silence ID in a path must be a UUID, as Alertmanager's spec says (422)."""
    if not _UUID.fullmatch(silence_id):
        raise SpecError(422, 601, f"silenceID in path must be of type uuid: {silence_id!r}"
                        .replace("'", '"'))


def redacted_url(url: str) -> str:
    """``url`` with only its scheme, host and port: a URL amtool can parse (it refuses
    ``<secret>`` where Alertmanager 0.25 has a plain URL) that shows no path, query or
    credentials, where chat webhooks keep their tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "secret.invalid"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'https'}://{host}{port}/{quote(SECRET)}"


def alertmanager_yaml(notify: NotifyConfig) -> str:
    """The routing, receivers, inhibit rules and time intervals as an ``alertmanager.yml``
    that amtool (``config routes show/test``) and Grafana's Alertmanager datasource parse;
    webhook URLs keep only scheme, host and port (:func:`redacted_url`), e-mail secrets
    are ``<secret>`` as Alertmanager shows them, and a route's ``escalation`` (wardops's
    own key, which Alertmanager would refuse) is a comment in its place."""
    doc: dict[str, Any] = {"global": {"resolve_timeout": "5m"}}
    if notify.route is not None:
        doc["route"] = _route_yaml(notify.route, None)
    doc["inhibit_rules"] = [{"source_matchers": [str(m) for m in r.source_matchers],
                             "target_matchers": [str(m) for m in r.target_matchers],
                             "equal": list(r.equal)} for r in notify.inhibit_rules]
    receivers = []
    for r in notify.receivers.values():
        item: dict[str, Any] = {"name": r.name}
        if r.webhook_configs:
            item["webhook_configs"] = [{"send_resolved": h.send_resolved,
                                        "url": redacted_url(h.url.value if h.url else ""),
                                        "max_alerts": h.max_alerts} for h in r.webhook_configs]
        if r.email_configs:
            item["email_configs"] = [_email_yaml(e) for e in r.email_configs]
        receivers.append(item)
    doc["receivers"] = receivers
    doc["templates"] = []
    if notify.time_intervals:
        doc["time_intervals"] = [{"name": name, "time_intervals": [interval_yaml(i) for i in ti]}
                                 for name, ti in notify.time_intervals.items()]
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    # escalation is wardops's own (Alertmanager refuses an unknown key): a comment, in
    # the order the routes are written
    comments = iter([_escalation_comment(r) for r in _routes(notify.route) if r.escalation]
                    if notify.route is not None else [])
    return _ESCALATION_LINE.sub(lambda m: f"{m[1]}# wardops escalation: {next(comments)}",
                                text)


# --- the blueprint --------------------------------------------------------------------------

def create_blueprint(*, alerts: Callable[[], list[Alert]], pipeline: PipelineView,
                     config: Callable[[], Any], started_at: float | None = None,
                     clock: Callable[[], float] = time.time,
                     refusals: Refusals | None = None) -> Blueprint:
    """The ``/api/v2`` blueprint.

    ``alerts`` returns the active alerts (as for ``/api/v1``), ``pipeline`` is the
    notification pipeline (its ``silences``, ``mute_status`` and current ``config``),
    ``config`` returns the running ``AlerterConfig`` (it follows reloads).
    """
    bp = Blueprint("alertmanager_api_v2", __name__, url_prefix="/api/v2")
    refused = refusals if refusals is not None else Refusals(None)
    started = started_at if started_at is not None else clock()

    def notify_config() -> NotifyConfig:
        return pipeline.config

    def error(status: int, message: str) -> Response:
        resp = jsonify(message)  # Alertmanager answers errors with a JSON string
        resp.status_code = status
        return resp

    def refusal_response(refusal: Refusal | None) -> Response | None:
        if refusal is None:
            return None
        resp = error(refusal.status, refusal.message)
        if refusal.status == 401:
            resp.headers["WWW-Authenticate"] = 'Basic realm="wardops-alerter"'
        return resp

    def authorize() -> Response | None:
        return refusal_response(refuse_write(notify_config().api, refused, "v2"))

    @bp.before_request
    def authorize_read() -> Response | None:
        if request.method in ("GET", "HEAD"):
            return refusal_response(refuse_read(notify_config().api, refused, "v2"))
        return None

    @bp.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Response:
        refused.count("v2", "bad_body")
        if isinstance(exc, SpecError):
            resp = jsonify({"code": exc.code, "message": str(exc)})
            resp.status_code = exc.status
            return resp
        return error(400, str(exc))

    def alert_entries() -> list[tuple[Alert, list[str], dict[str, Any]]]:
        """Firing alerts with their receivers and status, by fingerprint."""
        route = notify_config().route
        result = []
        for alert in sorted(alerts(), key=lambda a: a.fingerprint):
            if alert.state != "firing":
                continue
            status = alert_status(pipeline.mute_status(alert))
            if (escalation := pipeline.escalation_status(alert)) is not None:
                status["escalation"] = escalation  # wardops's own; amtool ignores it
            result.append((alert, receivers_of(route, alert.labels), status))
        return result

    def ends_at(now: float) -> float:
        return firing_ends_at(now, config().longest_interval, RESEND_DELAY)

    # --- general -------------------------------------------------------------------------

    @bp.get("/status")
    def status() -> Response:
        return jsonify({
            "cluster": {"name": platform.node(), "status": "disabled", "peers": []},
            "versionInfo": {"version": __version__, "revision": "", "branch": "",
                            "buildUser": "wardops", "buildDate": "",
                            "goVersion": f"python{platform.python_version()}"},
            "config": {"original": alertmanager_yaml(notify_config())},
            "uptime": rfc3339(started),
        })

    @bp.get("/receivers")
    def receivers() -> Response:
        return jsonify([{"name": name} for name in notify_config().receivers])

    # --- alerts ---------------------------------------------------------------------------

    @bp.get("/alerts")
    def list_alerts() -> Response:
        matchers, receiver = filter_matchers(), receiver_regex()
        flags = {k: flag(k) for k in ("active", "silenced", "inhibited")}
        flag("unprocessed")  # validated; nothing here is unprocessed
        now = clock()
        end = ends_at(now)
        return jsonify([gettable_alert(a, names, st, now, end)
                        for a, names, st in alert_entries()
                        if matches_all(matchers, a.labels)
                        and wanted(st, names, receiver=receiver, **flags)])

    @bp.get("/alerts/groups")
    def alert_groups() -> Response:
        matchers, receiver = filter_matchers(), receiver_regex()
        flags = {k: flag(k) for k in ("active", "silenced", "inhibited")}
        show_muted = flag("muted")
        now = clock()
        end = ends_at(now)
        notify = notify_config()
        route = notify.route
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
        if route is not None:
            for a, names, alert_st in alert_entries():
                if not matches_all(matchers, a.labels):
                    continue
                for r in match_routes(route, a.labels):
                    # as Alertmanager 0.28: a group's time intervals are its alerts' mutedBy
                    muted_by = route_muted_by(r, notify, now)
                    if muted_by and not show_muted:
                        continue
                    st = {**alert_st, "mutedBy": muted_by,
                          "state": "suppressed" if muted_by else alert_st["state"]}
                    if not wanted(st, [r.receiver], receiver=receiver, **flags):
                        continue
                    labels = group_labels(r, a.labels)
                    key = (r.key, tuple(sorted(labels.items())))
                    group = groups.setdefault(key, {"labels": labels,
                                                    "receiver": {"name": r.receiver},
                                                    "alerts": []})
                    group["alerts"].append(gettable_alert(a, names, st, now, end))
        # Alertmanager's order: by group labels, then receiver name
        return jsonify(sorted(groups.values(), key=lambda g: (sorted(g["labels"].items()),
                                                               g["receiver"]["name"])))

    # --- silences ---------------------------------------------------------------------------

    @bp.get("/silences")
    def list_silences() -> Response:
        matchers = filter_matchers()
        now = clock()
        found = [s for s in pipeline.silences.list() if silence_matches_filter(s, matchers)]
        found.sort(key=lambda s: silence_sort_key(s, now))
        return jsonify([silence_json(s, now) for s in found])

    @bp.post("/silences")
    def post_silence() -> Response:
        if (denied := authorize()) is not None:
            return denied
        limit = notify_config().api.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise BadRequest(f"request body larger than {limit} bytes")
        try:
            data = parse_json_object(request.get_data(cache=True), limit,
                                     "a JSON object (postableSilence)")
        except BadRequest as exc:
            raise SpecError(400, 400, f"parsing silence body failed, because {exc}") from None
        check_postable_silence(data)
        now = clock()
        matchers = parse_api_matchers(data.get("matchers"))
        try:
            starts_at = parse_time(data["startsAt"], "startsAt")
            ends_at_ = parse_time(data["endsAt"], "endsAt")
        except BadRequest as exc:
            raise SpecError(400, 400, f"parsing silence body failed, because {exc}") from None
        try:
            silence = save_silence(pipeline.silences, data, matchers, starts_at, ends_at_, now,
                                   api="v2")
        except SilenceNotFound:
            return error(404, f"silence {data.get('id')} not found")
        return jsonify({"silenceID": silence.id})

    @bp.get("/silence/<silence_id>")
    def get_silence(silence_id: str) -> Response:
        check_silence_id(silence_id)
        try:
            return jsonify(silence_json(pipeline.silences.get(silence_id), clock()))
        except SilenceNotFound:
            return Response(status=404)  # Alertmanager: no body

    @bp.delete("/silence/<silence_id>")
    def delete_silence(silence_id: str) -> Response:
        if (denied := authorize()) is not None:
            return denied
        check_silence_id(silence_id)
        try:
            silence = pipeline.silences.expire(silence_id)
        except SilenceNotFound:
            return error(404, f"silence {silence_id} not found")
        log.info("silence expired", extra={"silence": silence.id, "api": "v2"})
        return Response(status=200)

    return bp
