"""docs/notifications.md's replay-protection recipe for receivers, run on headers made by the real
signing code (alerter.notify.signing, as delivery uses it): an authentic notification is
accepted once; retries, verbatim replays, replays with a made-up Idempotency-Key and
altered bodies are refused."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from alerter.notify.signing import signed_headers
from tests.support import REPO

SECRET = "receiver-secret"


def readme_recipe() -> Callable[..., bool]:
    text = (REPO / "docs" / "notifications.md").read_text()
    section = text[text.index("### Replay protection"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "docs/notifications.md lost its replay-protection recipe"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/notifications.md", "exec"), namespace)
    return namespace["accept"]


def delivery(body: bytes, now: float) -> dict[str, str]:
    """Headers as alerter.notify.delivery sends them for one attempt."""
    return {"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json",
            **signed_headers(SECRET, body, now)}


def test_recipe_accepts_once_and_refuses_replays() -> None:
    accept = readme_recipe()
    seen: dict[str, float] = {}
    body = json.dumps({"version": "4", "status": "resolved", "alerts": []}).encode()
    headers = delivery(body, 1_700_000_000)
    assert accept(headers, body, SECRET, seen) is True
    retry = {**headers, "X-Wardops-Timestamp": "1700000030"}      # same key, later attempt
    assert accept(retry, body, SECRET, seen) is False
    assert accept(headers, body, SECRET, seen) is False             # verbatim replay
    new_key = {**headers, "Idempotency-Key": uuid.uuid4().hex}      # replay, key made up
    assert accept(new_key, body, SECRET, seen) is False
    altered = body.replace(b"resolved", b"firing")
    assert accept(headers | {"Idempotency-Key": uuid.uuid4().hex}, altered, SECRET, seen) is False
    assert accept(delivery(body, 1), body, "another-secret", {}) is False
    other = json.dumps({"version": "4", "status": "firing", "alerts": []}).encode()
    assert accept(delivery(other, 1_700_000_060), other, SECRET, seen) is True
