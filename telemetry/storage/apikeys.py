"""API keys: created once (the caller shows the key to a person, then it is gone), found by
their prefix, proven by the SHA-256 digest of their secret part, revoked by id.

The secret is 32 random bytes, so a fast digest is enough: there is nothing to brute-force that a
slow password hash would protect. Both the async API and the sync CLI use these functions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from psycopg.errors import ForeignKeyViolation

from telemetry.errors import InvalidRequestError, NotFoundError
from telemetry.storage.db import Conn, SyncConn
from telemetry.storage.typed_rows import fetch_all_sync, fetch_one_sync, insert_sql, select_list
from telemetry.vocabulary import Role

ROLES = tuple(Role)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored: never the key, only the prefix it is found by."""

    id: int
    prefix: str
    role: str  # a Role; a stored value outside it still lists
    dealer_id: int | None  # an advisor's dealer
    name: str  # who or what the key is for
    created_at: datetime
    revoked_at: datetime | None


_COLUMNS = select_list(ApiKey, "api_keys")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role and (for advisors) dealer."""

    key_id: int
    role: str
    dealer_id: int | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """(key, prefix, digest of the secret)."""
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    return f"tk_{prefix}_{secret}", prefix, _digest(secret)


def split(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "tk" or len(parts[1]) != 8 or not parts[2]:
        return None
    return parts[1], parts[2]


def check_role(role: str, dealer_id: int | None) -> None:
    if role not in ROLES:
        raise InvalidRequestError(f"role must be one of {', '.join(ROLES)}")
    if (role == "advisor") != (dealer_id is not None):
        raise InvalidRequestError("an advisor key needs a dealer; other roles have none")


def create_sync(conn: SyncConn, *, role: str, dealer_id: int | None = None, name: str = "") -> tuple[str, ApiKey]:
    """The new key (shown once) and its row."""
    check_role(role, dealer_id)
    key, prefix, digest = new_key()
    values = {"prefix": prefix, "digest": digest, "role": role, "dealer_id": dealer_id, "name": name}
    query = insert_sql("api_keys", values, _COLUMNS)
    try:
        row = fetch_one_sync(conn, ApiKey, query, list(values.values()), missing="no key returned")
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer {dealer_id} not found") from exc
    return key, row


def list_sync(conn: SyncConn) -> list[ApiKey]:
    return fetch_all_sync(conn, ApiKey, f"SELECT {_COLUMNS} FROM api_keys ORDER BY id")


def revoke_sync(conn: SyncConn, *, key_id: int) -> None:
    cur = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (key_id,))
    if cur.rowcount == 0:
        raise NotFoundError(f"no active API key {key_id}")


async def authenticate(conn: Conn, key: str) -> Principal | None:
    """The principal of an active key; None for anything else (malformed, unknown, revoked)."""
    parts = split(key)
    if parts is None:
        return None
    prefix, secret = parts
    cur = await conn.execute(
        "SELECT id, digest, role, dealer_id FROM api_keys WHERE prefix = %s AND revoked_at IS NULL", (prefix,)
    )
    row = await cur.fetchone()
    if row is None or not hmac.compare_digest(row["digest"], _digest(secret)):
        return None
    return Principal(int(row["id"]), row["role"], row["dealer_id"])
