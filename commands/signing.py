"""Commands to vehicles and their acknowledgements: the payloads on `vehicles/{vin}/commands` and
`vehicles/{vin}/commands/ack`, and the signature that lets a vehicle refuse forged commands.

A command is signed with HMAC-SHA256 under a per-vehicle key, itself derived from the server's
secret and the VIN (so a leaked vehicle key exposes one vehicle). The signature covers the
canonical JSON of every other field (sorted keys, no spaces).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import orjson

ACTIONS = ("enable", "disable")


def vehicle_key(secret: bytes, vin: str) -> bytes:
    return hmac.new(secret, b"vehicle-command-key:" + vin.encode(), hashlib.sha256).digest()


def _canonical(fields: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in fields.items() if k != "signature"}, option=orjson.OPT_SORT_KEYS)


def sign(fields: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The command with its `signature`."""
    return {**fields, "signature": hmac.new(key, _canonical(fields), hashlib.sha256).hexdigest()}


@dataclass(frozen=True)
class Command:
    id: str
    feature: str
    action: str
    expires_ms: int | None


@dataclass(frozen=True)
class Ack:
    id: str | None
    status: str  # accepted | rejected
    reason: str | None
    ts_ms: int

    def payload(self) -> bytes:
        return orjson.dumps({"id": self.id, "status": self.status, "reason": self.reason, "ts": self.ts_ms})


def check(payload: bytes, key: bytes | None, now_ms: int) -> Command | str:
    """The command, or why a vehicle refuses it."""
    try:
        fields = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(fields, dict):
        return "not a JSON object"
    missing = [k for k in ("id", "feature", "action", "signature") if not isinstance(fields.get(k), str)]
    if missing:
        return f"missing or not text: {', '.join(missing)}"
    if key is None:
        return "no command key provisioned on this vehicle"
    expected = hmac.new(key, _canonical(fields), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["signature"]):
        return "bad signature"
    if fields["action"] not in ACTIONS:
        return f"unknown action {fields['action']!r}"
    expires = fields.get("expires")
    if expires is not None and (not isinstance(expires, int) or expires <= now_ms) and fields["action"] == "enable":
        return "expired"
    return Command(fields["id"], fields["feature"], fields["action"], expires)


def command_id(payload: bytes) -> str | None:
    """The id of a command a vehicle refuses, when it has one, so that the server can match the ack."""
    try:
        value = orjson.loads(payload).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None
