"""Request signing: ``X-Wardops-Signature`` and ``X-Wardops-Timestamp``.

The signature is ``sha256=`` + hex(HMAC-SHA256(secret, body)), over the exact body
bytes sent, nothing else (the contract in docs/design.md). ``X-Wardops-Timestamp`` is the
Unix time of the attempt; it is not covered by the signature (nor is ``Idempotency-Key``),
so it proves nothing about freshness: receivers get replay protection by remembering the
``Idempotency-Key`` and signature values they accepted (docs/notifications.md, "Replay protection").
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Wardops-Signature"
TIMESTAMP_HEADER = "X-Wardops-Timestamp"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Wardops-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, body), header)


def signed_headers(secret: str | None, body: bytes, now: float) -> dict[str, str]:
    """The signing headers for one attempt ({} without a secret)."""
    if not secret:
        return {}
    return {SIGNATURE_HEADER: sign(secret, body), TIMESTAMP_HEADER: str(int(now))}
