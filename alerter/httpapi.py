"""What the alerter's two HTTP APIs (``/api/v1``: alerter.api; ``/api/v2``, Alertmanager's:
alerter.amapi) share: who may write, and how a request body is read.

Each API keeps its own error shape (v1 ``{"status": "error", "error": ...}``, v2 a JSON
string as Alertmanager answers); the decisions are made here once, so the two cannot
drift apart:

- **writes** need the write token (``api.bearer_token_*``), as
  ``Authorization: Bearer <token>`` or as the password of ``Basic <user:password>`` (what
  amtool and curl -u send), or a ``--web.config.file`` user listed in
  ``api.write_users``; without either configured every write is refused (403). The read
  token and other users are read-only (403), so a wall display cannot expire a silence;
- **reads** of ``/api/*`` are open unless ``api.read_token_*`` is set; then they need the
  read token, the write token or an authenticated web-config user. Every refusal is
  counted in ``wardops_alerter_api_requests_refused_total{api, reason}`` and logged
  with the reason, never the token;
- **bodies** are JSON objects of at most ``api.max_body_bytes``; too large, not JSON, too
  deeply nested, or not an object is a 400 with the reason (counted too).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

from flask import Response, jsonify, request
from prometheus_client import CollectorRegistry, Counter

from alerter.model import Alert
from alerter.notify.acks import AckStore
from alerter.notify.config import ApiConfig, NotifyConfig
from alerter.notify.delivery import StorageHealth
from alerter.notify.silences import SilenceStore

log = logging.getLogger("alerter.api")

REFUSAL_REASONS = ("writes_disabled", "no_credentials", "wrong_credentials", "read_only",
                   "bad_body", "cross_origin")
APIS = ("v1", "v2", "http")  # http: --web.config.file's basic auth, before either API


class PipelineView(Protocol):
    """What the HTTP APIs read and write of the notification pipeline
    (``alerter.notify.NotificationPipeline``): its running config, the silence and ack
    stores, storage health, and each alert's mute status."""

    config: NotifyConfig
    silences: SilenceStore
    acks: AckStore
    storage: StorageHealth

    def now(self) -> float:
        """The pipeline's clock."""

    def mute_status(self, alert: Alert) -> dict[str, list[str]]:
        """Silences and inhibiting alerts that mute ``alert``."""

    def escalation_status(self, alert: Alert) -> dict[str, Any] | None:
        """``alert``'s escalation (level reached, next level, stopped), None if none."""

    def dead_letters(self, limit: int = 100) -> list[dict[str, object]]:
        """Given-up notifications, newest first."""


class BadRequest(ValueError):
    """A request the client must fix: 400 with this message."""


class Refusal(NamedTuple):
    """Why a write is refused: HTTP status, reason (the metric's label), message."""

    status: int
    reason: str
    message: str


class Refusals:
    """``wardops_alerter_api_requests_refused_total{api, reason}``, all series from 0."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._counter = Counter(
            "wardops_alerter_api_requests_refused",
            "API requests refused: without the credentials they need (writes_disabled, "
            "no_credentials, wrong_credentials, read_only), unusable bodies (bad_body) and "
            "writes a browser sent from another site (cross_origin).",
            ["api", "reason"], registry=registry)
        for api in APIS:
            for reason in REFUSAL_REASONS:
                self._counter.labels(api, reason)

    def count(self, api: str, reason: str) -> None:
        """Count one refusal."""
        self._counter.labels(api, reason).inc()


def _basic(header: str) -> tuple[str, str] | None:
    """(user, password) of a ``Basic`` ``Authorization`` header, else None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, password = decoded.partition(":")
    return user, password


def token_from(header: str) -> str | None:
    """The token in ``Bearer <token>`` or in the password of ``Basic <user:password>``."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    basic = _basic(header)
    return basic[1] if basic else None


def basic_user(header: str) -> str | None:
    """The user name of a ``Basic`` ``Authorization`` header (who signed in with a
    token as the password), else None."""
    basic = _basic(header)
    return basic[0] or None if basic else None


def check_write(api: ApiConfig, authorization: str, user: str | None) -> Refusal | None:
    """None if the request may write; else why not. ``authorization``: the header's value;
    ``user``: the user ``--web.config.file``'s basic auth authenticated (``REMOTE_USER``),
    if any. A writer is a user in ``api.write_users`` or a request carrying the write
    token; the read token, or an authenticated user who is not a writer, is read-only."""
    if user is not None and user in api.write_users:
        return None
    token = api.bearer_token
    given = None if user is not None else token_from(authorization)
    if token is not None and given is not None \
            and hmac.compare_digest(given.encode(), token.value.encode()):
        return None
    if user is not None:
        return Refusal(403, "read_only", f"user {user!r} may only read (writers are listed "
                       "in api.write_users)")
    if api.read_token is not None and given is not None \
            and hmac.compare_digest(given.encode(), api.read_token.value.encode()):
        return Refusal(403, "read_only", "the read token may only read")
    if token is None:
        return Refusal(403, "writes_disabled", "writes are disabled: configure "
                       "api.bearer_token_env, api.bearer_token_file or api.write_users")
    if given is None:
        return Refusal(401, "no_credentials", "missing token (send it as a bearer token or "
                       "as the basic-auth password)")
    return Refusal(401, "wrong_credentials", "wrong token")


def check_origin(authorization: str, origin: str | None, fetch_site: str | None,
                 host: str) -> Refusal | None:
    """None unless a browser sent this write from another site (cross-site request
    forgery): the alerter's ``/`` page posts to the API with the browser's basic-auth
    credentials, which a browser would also attach to a form another site submits.

    As Go's ``http.CrossOriginProtection``: ``Sec-Fetch-Site`` other than
    ``same-origin``/``none`` is refused; without it, an ``Origin`` whose host is not the
    request's ``Host``. Requests with neither (amtool, curl, Grafana's server-side proxy)
    and bearer tokens (a browser never attaches one by itself) pass.
    """
    if authorization.partition(" ")[0].lower() == "bearer":
        return None
    if fetch_site is not None:
        if fetch_site in ("same-origin", "none"):
            return None
    elif origin is None or urlsplit(origin).netloc.lower() == host.lower():
        return None
    return Refusal(403, "cross_origin", "cross-origin write refused (send it from the "
                   "alerter's own page, or without a browser's Origin)")


def check_read(api: ApiConfig, authorization: str, user: str | None) -> Refusal | None:
    """None if the request may read the API; else why not. Reads are open unless
    ``api.read_token`` is set; then they need it, the write token, or a user the web
    config authenticated."""
    if api.read_token is None or user is not None:
        return None
    given = token_from(authorization)
    if given is None:
        return Refusal(401, "no_credentials", "missing token (send the read token as a "
                       "bearer token or as the basic-auth password)")
    for token in (api.read_token, api.bearer_token):
        if token is not None and hmac.compare_digest(given.encode(), token.value.encode()):
            return None
    return Refusal(401, "wrong_credentials", "wrong token")


def refuse_write(api: ApiConfig, refusals: Refusals, which: str) -> Refusal | None:
    """Check the current Flask request's write authorization; a refusal is counted and
    logged (amtool shows no body for a 401: the log says why) before it is returned for
    the API (``which``: v1 or v2) to answer in its own shape."""
    return _refuse(_check_write_here, "write", api, refusals, which)


def _check_write_here(api: ApiConfig, authorization: str, user: str | None) -> Refusal | None:
    """``check_origin`` then ``check_write`` on the current Flask request."""
    return check_origin(authorization, request.headers.get("Origin"),
                        request.headers.get("Sec-Fetch-Site"), request.host) \
        or check_write(api, authorization, user)


def refuse_read(api: ApiConfig, refusals: Refusals, which: str) -> Refusal | None:
    """As :func:`refuse_write`, for a read."""
    return _refuse(check_read, "read", api, refusals, which)


def _refuse(check: Callable[[ApiConfig, str, str | None], Refusal | None], what: str,
            api: ApiConfig, refusals: Refusals, which: str) -> Refusal | None:
    refusal = check(api, request.headers.get("Authorization", ""), request.remote_user)
    if refusal is not None:
        refusals.count(which, refusal.reason)
        said = {"writes_disabled": "writes disabled", "no_credentials": "no token",
                "wrong_credentials": "wrong token", "read_only": "read-only credentials",
                "cross_origin": "cross-origin request from a browser",
                }.get(refusal.reason, refusal.reason)
        log.warning("%s refused: %s", what, said,
                    extra={"method": request.method, "path": request.path,
                           "remote": request.remote_addr, "user": request.remote_user})
    return refusal


def v2_method_not_allowed(method: str, valid: Iterable[str] | None) -> Response:
    """A 405 under ``/api/v2`` as Alertmanager's API server answers it: the methods the
    path serves in ``Allow`` and in the message."""
    allowed = sorted(m for m in valid or () if m not in ("HEAD", "OPTIONS"))
    resp = jsonify({"code": 405,
                    "message": f"method {method} is not allowed, but [{','.join(allowed)}] are"})
    resp.status_code = 405
    resp.headers["Allow"] = ",".join(allowed)
    return resp


def parse_json_object(raw: bytes, limit: int, what: str = "a JSON object") -> dict[str, Any]:
    """``raw`` as a JSON object of at most ``limit`` bytes; ``BadRequest`` otherwise."""
    if len(raw) > limit:
        raise BadRequest(f"request body larger than {limit} bytes")
    if not raw.strip():
        raise BadRequest(f"request body must be {what}")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BadRequest("request body nested too deeply") from None
    except ValueError as exc:  # also not UTF-8
        raise BadRequest(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"request body must be {what}")
    return data
