"""The signature on webhook requests, as a receiver checks it.

`Telemetry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the endpoint's
secret. Signing the timestamp with the body lets a receiver refuse replays of an old request
(`tolerance_s`); the event id in the body (also sent as `Idempotency-Key`) lets it drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "Telemetry-Signature"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance_s: float = 300.0) -> bool:
    """Whether `header` signs `body` under `secret`, made no more than `tolerance_s` from `now`."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(fields.get("v1", ""), _mac(secret, timestamp, body))
