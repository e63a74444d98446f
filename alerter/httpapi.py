"""What the alerter's two HTTP APIs (``/api/v1``: alerter.api; ``/api/v2``, Alertmanager's:
alerter.amapi) share: who may write, and how a request body is read.

Each API keeps its own error shape (v1 ``{"status": "error", "error": ...}``, v2 a JSON
string as Alertmanager answers); the decisions are made here once, so the two cannot
drift apart:

- **writes** need the configured token, as ``Authorization: Bearer <token>`` or as the
  password of ``Basic <user:password>`` (what amtool and curl -u send); without a
  configured token every write is refused (403). Every refusal is counted in
  ``wardops_alerter_api_requests_refused_total{api, reason}`` and logged without the
  token;
- **bodies** are JSON objects of at most ``api.max_body_bytes``; too large, not JSON, too
  deeply nested, or not an object is a 400 with the reason (counted too).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from typing import Any, NamedTuple, Protocol

from flask import request
from prometheus_client import CollectorRegistry, Counter

from alerter.model import Alert
from alerter.notify.acks import AckStore
from alerter.notify.config import NotifyConfig
from alerter.notify.delivery import StorageHealth
from alerter.notify.silences import SilenceStore
from wardops_common.secrets import Secret

log = logging.getLogger("alerter.api")

REFUSAL_REASONS = ("writes_disabled", "no_credentials", "wrong_credentials", "bad_body")
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
            "API requests refused: writes without the token (writes_disabled, "
            "no_credentials, wrong_credentials) and unusable bodies (bad_body).",
            ["api", "reason"], registry=registry)
        for api in APIS:
            for reason in REFUSAL_REASONS:
                self._counter.labels(api, reason)

    def count(self, api: str, reason: str) -> None:
        """Count one refusal."""
        self._counter.labels(api, reason).inc()


def token_from(header: str) -> str | None:
    """The token in ``Bearer <token>`` or in the password of ``Basic <user:password>``."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def check_write(token: Secret | None, authorization: str) -> Refusal | None:
    """None if ``authorization`` (the header's value) carries ``token``; else why not."""
    if token is None:
        return Refusal(403, "writes_disabled", "writes are disabled: configure "
                       "api.bearer_token_env or api.bearer_token_file")
    given = token_from(authorization)
    if given is None:
        return Refusal(401, "no_credentials", "missing token (send it as a bearer token or "
                       "as the basic-auth password)")
    if not hmac.compare_digest(given.encode(), token.value.encode()):
        return Refusal(401, "wrong_credentials", "wrong token")
    return None


def refuse_write(token: Secret | None, refusals: Refusals, api: str) -> Refusal | None:
    """Check the current Flask request's write authorization; a refusal is counted and
    logged (amtool shows no body for a 401: the log says why) before it is returned for
    the API to answer in its own shape."""
    refusal = check_write(token, request.headers.get("Authorization", ""))
    if refusal is not None:
        refusals.count(api, refusal.reason)
        _log_refusal(refusal, method=request.method, path=request.path,
                     remote=request.remote_addr)
    return refusal


def _log_refusal(refusal: Refusal, *, method: str, path: str, remote: str | None) -> None:
    said = {"writes_disabled": "writes disabled", "no_credentials": "no token",
            "wrong_credentials": "wrong token"}.get(refusal.reason, refusal.reason)
    log.warning("write refused: %s", said,
                extra={"method": method, "path": path, "remote": remote})


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
