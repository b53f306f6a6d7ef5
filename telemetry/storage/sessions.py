"""Console sessions: a random id in an HttpOnly cookie stands for an API key for a working day.

The id is 32 random bytes, stored as its SHA-256 digest (as API keys are), so a copy of the table
opens no session. Each session has its own CSRF token, which every state-changing request made
with the cookie must echo. A session is over at its expiry, at sign-out, or as soon as its key is
revoked (`principal` joins the key on every request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from telemetry.storage.apikeys import Principal
from telemetry.storage.db import Conn, SyncConn


@dataclass(frozen=True)
class Session:
    principal: Principal
    advisor: str
    csrf_token: str


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def start(conn: Conn, *, key_id: int, advisor: str, lifetime: timedelta) -> str:
    """A new session for the key; returns its id (for the cookie, shown nowhere else)."""
    session_id = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO console_sessions (digest, key_id, advisor, csrf_token, expires_at)"
        " VALUES (%s, %s, %s, %s, now() + %s)",
        (_digest(session_id), key_id, advisor, secrets.token_urlsafe(24), lifetime),
    )
    return session_id


async def find(conn: Conn, session_id: str) -> Session | None:
    """The live session with this id, of a key that is not revoked; None for anything else."""
    cur = await conn.execute(
        "SELECT k.id, k.role, k.dealer_id, s.advisor, s.csrf_token FROM console_sessions s"
        " JOIN api_keys k ON k.id = s.key_id"
        " WHERE s.digest = %s AND s.expires_at > now() AND k.revoked_at IS NULL",
        (_digest(session_id),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Session(Principal(int(row["id"]), row["role"], row["dealer_id"]), row["advisor"], row["csrf_token"])


async def end(conn: Conn, session_id: str) -> None:
    await conn.execute("DELETE FROM console_sessions WHERE digest = %s", (_digest(session_id),))


def forget_expired_sync(conn: SyncConn) -> int:
    """For serve's hourly maintenance: expired sessions open nothing, but need not be kept."""
    return conn.execute("DELETE FROM console_sessions WHERE expires_at <= now()").rowcount


async def still_valid(conn: Conn, principal: Principal, session_id: str | None) -> bool:
    """For long-lived streams: the key is not revoked and, when a session opened it, it goes on."""
    if session_id is not None:
        return await find(conn, session_id) is not None
    cur = await conn.execute("SELECT 1 FROM api_keys WHERE id = %s AND revoked_at IS NULL", (principal.key_id,))
    return await cur.fetchone() is not None
