"""Webhook signatures: HMAC-SHA256 over f"{t}.{body}" with the shared secret.

The header is `Avatar-Signature: t=<unix seconds>,v1=<hex>`. The timestamp is signed with
the body, so a receiver that also bounds its age (a few minutes) refuses a replayed request.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Avatar-Signature"
DELIVERY_HEADER = "Avatar-Delivery"
EVENT_HEADER = "Avatar-Event"
DEFAULT_TOLERANCE_S = 300.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `f"{timestamp}.{body}"`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now: float | None = None,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """Whether `header` signs `body` with `secret` and its timestamp is within `tolerance_s`
    of `now`; what a receiver does (README: Webhooks)."""
    fields: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))
