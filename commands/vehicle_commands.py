"""The command queue to vehicles (migration 0015), which survives restarts.

pending -> sent -> accepted | rejected (the vehicle's answer), or sent -> timed_out when no
answer came within the ack timeout; a timed-out command is sent again (same id: the vehicle
answers a repeat the same way and applies it once) after a backoff, or at once when the vehicle
shows it is back online by sending telemetry. A newer command for the same entitlement
supersedes one not answered yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from crm import entitlements
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all
from telemetry.vocabulary import CommandAction, CommandState


@dataclass(frozen=True, slots=True)
class Command:
    """A command to a vehicle as queued, with where it got to."""

    id: str
    entitlement_id: int | None
    feature_code: str
    action: CommandAction
    expires_at: datetime | None
    state: CommandState
    attempts: int
    sent_at: datetime | None
    timed_out_at: datetime | None
    acked_at: datetime | None
    reason: str | None  # the vehicle's, when it rejected the command
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: str
    vin: str
    feature_code: str
    action: str
    expires_at: datetime | None
    attempts: int
    entitlement_id: int | None


async def time_out(conn: Conn, *, now: datetime, retry_base: timedelta, retry_cap: timedelta) -> int:
    """Sent commands whose ack is overdue become timed_out, with the time of the next try."""
    cur = await conn.execute(
        "UPDATE vehicle_commands SET state = 'timed_out', timed_out_at = %(now)s,"
        " next_attempt_at = %(now)s + LEAST(%(cap)s, %(base)s * power(2, GREATEST(attempts - 1, 0)))"
        " WHERE state = 'sent' AND next_attempt_at <= %(now)s RETURNING entitlement_id, attempts, next_attempt_at",
        {"now": now, "base": retry_base, "cap": retry_cap},
    )
    rows = await cur.fetchall()
    for r in rows:
        if r["entitlement_id"] is not None:
            detail = (
                f"no answer from the vehicle after {r['attempts']} attempt(s);"
                f" next try by {r['next_attempt_at']:%H:%M:%S} UTC, or when it is back online"
            )
            await entitlements.log(conn, int(r["entitlement_id"]), "timed_out", detail, "dispatcher")
    return len(rows)


async def claim_due(conn: Conn, *, now: datetime, ack_timeout: timedelta, limit: int) -> list[Outgoing]:
    """Commands to send now: new ones, and timed-out ones whose retry is due or whose vehicle has
    sent telemetry since they timed out. They are marked sent before they go out."""
    cur = await conn.execute(
        "WITH due AS (SELECT c.id FROM vehicle_commands c WHERE c.state = 'pending'"
        "   OR (c.state = 'timed_out' AND (c.next_attempt_at <= %(now)s OR EXISTS (SELECT 1 FROM samples s"
        "       WHERE s.vehicle_id = c.vehicle_id AND s.ts > c.timed_out_at)))"
        "   ORDER BY c.created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " UPDATE vehicle_commands c SET state = 'sent', attempts = c.attempts + 1, sent_at = %(now)s,"
        "   next_attempt_at = %(now)s + %(timeout)s"
        " FROM due, vehicles v WHERE c.id = due.id AND v.id = c.vehicle_id"
        " RETURNING c.id, v.vin, c.feature_code, c.action, c.expires_at, c.attempts, c.entitlement_id",
        {"now": now, "limit": limit, "timeout": ack_timeout},
    )
    out = [Outgoing(**r) for r in await cur.fetchall()]
    for c in out:
        if c.entitlement_id is not None:
            event, what = ("sent", "sent") if c.attempts == 1 else ("resent", f"sent again (attempt {c.attempts})")
            await entitlements.log(conn, c.entitlement_id, event, f"{c.action} command {c.id} {what}", "dispatcher")
    return out


async def apply_ack(conn: Conn, *, vin: str, payload: bytes) -> str:
    """Apply a vehicle's acknowledgement; every ack is recorded with what came of it."""
    command_id = status = reason = None
    try:
        ack = orjson.loads(payload)
        if not isinstance(ack, dict):
            raise TypeError("not a JSON object")
        command_id, status, reason = ack.get("id"), ack.get("status"), ack.get("reason")
        if status not in ("accepted", "rejected"):
            raise TypeError(f"status must be accepted or rejected, got {status!r}")
        outcome = await _apply(conn, vin, str(command_id), status, None if reason is None else str(reason))
    except (orjson.JSONDecodeError, TypeError) as exc:
        outcome = f"invalid: {exc}"
    await conn.execute(
        "INSERT INTO command_acks (vin, command_id, status, reason, outcome, payload) VALUES (%s, %s, %s, %s, %s, %s)",
        (vin, _text(command_id), _text(status), _text(reason), outcome, payload),
    )
    return outcome


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:500]


async def _apply(conn: Conn, vin: str, command_id: str, status: str, reason: str | None) -> str:
    cur = await conn.execute(
        "SELECT c.id, c.state, c.action, c.entitlement_id, e.state AS entitlement_state FROM vehicle_commands c"
        " JOIN vehicles v ON v.id = c.vehicle_id LEFT JOIN entitlements e ON e.id = c.entitlement_id"
        " WHERE c.id = %s AND v.vin = %s FOR UPDATE OF c",
        (command_id, vin),
    )
    c = await cur.fetchone()
    if c is None:
        return "ignored: unknown command"
    if c["state"] not in ("pending", "sent", "timed_out"):
        return f"ignored: command {c['state']} already"
    await conn.execute(
        "UPDATE vehicle_commands SET state = %s, acked_at = now(), reason = %s WHERE id = %s",
        (status, reason, command_id),
    )
    eid = c["entitlement_id"]
    if eid is None:
        return "applied"
    if status == "accepted" and c["action"] == "enable":
        if c["entitlement_state"] == "pending":
            await entitlements.set_state(conn, int(eid), "active")
        await entitlements.log(conn, int(eid), "active", "the vehicle switched it on", f"vehicle {vin}")
    elif status == "accepted":
        await entitlements.log(conn, int(eid), "switched_off", "the vehicle switched it off", f"vehicle {vin}")
    else:
        if c["action"] == "enable" and c["entitlement_state"] == "pending":
            await entitlements.set_state(conn, int(eid), "failed", ended_reason=reason)
        await entitlements.log(
            conn, int(eid), "failed", f"the vehicle refused {c['action']}: {reason}", f"vehicle {vin}"
        )
    return "applied"


async def of_vehicle(conn: Conn, *, vehicle_id: int, limit: int = 100) -> list[Command]:
    """The vehicle's commands, newest first."""
    query = (
        "SELECT id, entitlement_id, feature_code, action, expires_at, state, attempts, sent_at, timed_out_at,"
        " acked_at, reason, created_at FROM vehicle_commands WHERE vehicle_id = %s ORDER BY created_at DESC LIMIT %s"
    )
    return await fetch_all(conn, Command, query, (vehicle_id, limit))
