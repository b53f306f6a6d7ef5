"""Feature catalog, entitlements and their audit log. Each change of an entitlement writes, in the
caller's transaction: the entitlement, an audit event, the command for the vehicle when it needs
one, and an `activation.*` outbox event for the CRM webhooks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.errors import UniqueViolation

from crm.features import Feature
from telemetry.errors import ConflictError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, insert_id, insert_one, select_list
from telemetry.vocabulary import EntitlementKind, EntitlementState
from webhooks import outbox

FEATURE_COLUMNS = select_list(Feature, "features")
_ENTITLEMENT_COLUMNS = (
    "e.id, v.vin, e.feature_code, e.kind, e.state, e.granted_by, e.dealer_id, e.purchase_reference, e.starts_at,"
    " e.ends_at, e.ended_reason, e.created_at, e.updated_at,"
    " (SELECT row_to_json(c) FROM (SELECT id, action, state, attempts, sent_at, acked_at, reason"
    "   FROM vehicle_commands WHERE entitlement_id = e.id ORDER BY created_at DESC LIMIT 1) c) AS last_command"
)


_ENTITLEMENTS = "FROM entitlements e JOIN vehicles v ON v.id = e.vehicle_id"


@dataclass(frozen=True, slots=True)
class Entitlement:
    """A software option granted to a vehicle, with the newest command that carries it there."""

    id: int
    vin: str
    feature_code: str
    kind: EntitlementKind
    state: EntitlementState
    granted_by: str
    dealer_id: int | None
    purchase_reference: str | None
    starts_at: datetime
    ends_at: datetime | None  # None: a purchase, for the vehicle's life
    ended_reason: str | None
    created_at: datetime
    updated_at: datetime
    last_command: dict[str, object] | None  # id, action, state, attempts, sent_at, acked_at, reason


@dataclass(frozen=True, slots=True)
class Event:
    """One line of an entitlement's audit log."""

    id: int
    at: datetime
    event: str
    detail: str
    by: str


async def create_feature(conn: Conn, **values: object) -> Feature:
    try:
        return await insert_one(conn, Feature, "features", values)
    except UniqueViolation as exc:
        raise ConflictError(f"feature {values['code']!r} exists already") from exc


async def list_features(conn: Conn) -> list[Feature]:
    return await fetch_all(conn, Feature, f"SELECT {FEATURE_COLUMNS} FROM features ORDER BY code")


async def get_feature(conn: Conn, *, code: str) -> Feature:
    query = f"SELECT {FEATURE_COLUMNS} FROM features WHERE code = %s"
    return await fetch_one(conn, Feature, query, (code,), missing=f"feature {code!r} not found")


async def of_vehicle(conn: Conn, *, vehicle_id: int) -> list[Entitlement]:
    """The vehicle's entitlements, live ones first, then newest first."""
    query = (
        f"SELECT {_ENTITLEMENT_COLUMNS} {_ENTITLEMENTS} WHERE e.vehicle_id = %s"
        " ORDER BY e.state NOT IN ('pending', 'active'), e.created_at DESC, e.id DESC"
    )
    return await fetch_all(conn, Entitlement, query, (vehicle_id,))


async def get(conn: Conn, *, entitlement_id: int) -> Entitlement:
    query = f"SELECT {_ENTITLEMENT_COLUMNS} {_ENTITLEMENTS} WHERE e.id = %s"
    return await fetch_one(
        conn, Entitlement, query, (entitlement_id,), missing=f"entitlement {entitlement_id} not found"
    )


async def by_idempotency_key(conn: Conn, *, key: str) -> Entitlement | None:
    cur = await conn.execute("SELECT id FROM entitlements WHERE idempotency_key = %s", (key,))
    row = await cur.fetchone()
    return None if row is None else await get(conn, entitlement_id=int(row["id"]))


async def vehicle_history(conn: Conn, *, vehicle_id: int) -> tuple[set[str], set[str]]:
    """(options pending or active, options the vehicle has ever had a trial of)."""
    cur = await conn.execute("SELECT feature_code, state, kind FROM entitlements WHERE vehicle_id = %s", (vehicle_id,))
    rows = await cur.fetchall()
    live = {r["feature_code"] for r in rows if r["state"] in ("pending", "active")}
    trials = {r["feature_code"] for r in rows if r["kind"] == "trial"}
    return live, trials


async def grant(
    conn: Conn,
    *,
    vehicle_id: int,
    feature_code: str,
    kind: str,
    by: str,
    dealer_id: int | None,
    purchase_reference: str | None,
    starts_at: datetime,
    ends_at: datetime | None,
    idempotency_key: str | None,
) -> Entitlement:
    """A pending entitlement and the enable command that will make it active."""
    try:
        entitlement_id = await insert_id(conn, "entitlements", {
            "vehicle_id": vehicle_id, "feature_code": feature_code, "kind": kind, "state": "pending",
            "granted_by": by, "dealer_id": dealer_id, "purchase_reference": purchase_reference, "starts_at": starts_at,
            "ends_at": ends_at, "idempotency_key": idempotency_key,
        })  # fmt: skip
    except UniqueViolation as exc:
        raise ConflictError(f"{feature_code} is active or being activated on the vehicle already") from exc
    until = f" until {ends_at:%Y-%m-%d %H:%M} UTC" if ends_at else ""
    await log(conn, entitlement_id, "requested", f"{kind} of {feature_code}{until}", by)
    await queue_command(conn, entitlement_id, "enable")
    return await get(conn, entitlement_id=entitlement_id)


async def queue_command(conn: Conn, entitlement_id: int, action: str) -> str:
    """Queue an enable or disable for the vehicle; an older command of the entitlement not yet
    answered is superseded (the vehicle acts on the newest)."""
    await conn.execute(
        "UPDATE vehicle_commands SET state = 'superseded' WHERE entitlement_id = %s"
        " AND state IN ('pending', 'sent', 'timed_out')",
        (entitlement_id,),
    )
    command_id = f"cmd-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO vehicle_commands (id, vehicle_id, entitlement_id, feature_code, action, expires_at)"
        " SELECT %s, vehicle_id, id, feature_code, %s, CASE WHEN %s = 'enable' THEN ends_at END"
        " FROM entitlements WHERE id = %s",
        (command_id, action, action, entitlement_id),
    )
    await conn.execute("SELECT pg_notify(current_schema() || '.commands', '')")
    return command_id


async def log(conn: Conn, entitlement_id: int, event: str, detail: str, by: str) -> None:
    """The audit log and the CRM event, in the caller's transaction."""
    await conn.execute(
        "INSERT INTO entitlement_events (entitlement_id, event, detail, by) VALUES (%s, %s, %s, %s)",
        (entitlement_id, event, detail, by),
    )
    cur = await conn.execute(
        "SELECT vehicle_id, feature_code, kind, state, starts_at, ends_at FROM entitlements WHERE id = %s",
        (entitlement_id,),
    )
    e = await cur.fetchone()
    assert e is not None
    data = {"entitlement_id": entitlement_id, "feature": e["feature_code"], "kind": e["kind"], "state": e["state"],
            "starts_at": e["starts_at"].isoformat(), "ends_at": e["ends_at"] and e["ends_at"].isoformat(),
            "detail": detail, "by": by}  # fmt: skip
    await outbox.enqueue(conn, event_type=f"activation.{event}", vehicle_id=int(e["vehicle_id"]), data=data)


async def set_state(conn: Conn, entitlement_id: int, state: str, *, ended_reason: str | None = None) -> None:
    await conn.execute(
        "UPDATE entitlements SET state = %s, ended_reason = COALESCE(%s, ended_reason), updated_at = now()"
        " WHERE id = %s",
        (state, ended_reason, entitlement_id),
    )


@dataclass(frozen=True, slots=True)
class Live:
    """The option pending or active on a vehicle, locked for the change the caller makes."""

    id: int
    state: EntitlementState
    kind: EntitlementKind
    ends_at: datetime | None


async def live_one(conn: Conn, *, vehicle_id: int, feature_code: str) -> Live:
    query = (
        f"SELECT {select_list(Live, 'entitlements')} FROM entitlements WHERE vehicle_id = %s AND feature_code = %s"
        " AND state IN ('pending', 'active') FOR UPDATE"
    )
    missing = f"{feature_code} is not active on the vehicle"
    return await fetch_one(conn, Live, query, (vehicle_id, feature_code), missing=missing)


async def end(conn: Conn, *, entitlement_id: int, event: str, reason: str, by: str) -> Entitlement:
    """Close the entitlement and queue the disable command (expiry, or an OEM's deactivation)."""
    await set_state(conn, entitlement_id, "ended", ended_reason=reason)
    await log(conn, entitlement_id, event, reason, by)
    await queue_command(conn, entitlement_id, "disable")
    return await get(conn, entitlement_id=entitlement_id)


async def extend(conn: Conn, *, entitlement_id: int, until: datetime, by: str) -> Entitlement:
    """A renewal: the new end, and an enable command carrying it to the vehicle."""
    await conn.execute(
        "UPDATE entitlements SET ends_at = %s, updated_at = now() WHERE id = %s", (until, entitlement_id)
    )
    await log(conn, entitlement_id, "renewed", f"until {until:%Y-%m-%d %H:%M} UTC", by)
    await queue_command(conn, entitlement_id, "enable")
    return await get(conn, entitlement_id=entitlement_id)


async def expire_due(conn: Conn, *, now: datetime, by: str = "scheduler") -> list[int]:
    """End the active entitlements whose time is up; returns their ids."""
    cur = await conn.execute(
        "SELECT id, kind FROM entitlements WHERE state IN ('active', 'pending') AND ends_at <= %s"
        " ORDER BY ends_at FOR UPDATE SKIP LOCKED",
        (now,),
    )
    ended = []
    for row in await cur.fetchall():
        await end(conn, entitlement_id=int(row["id"]), event="expired", reason=f"the {row['kind']} ran out", by=by)
        ended.append(int(row["id"]))
    return ended


@dataclass(frozen=True, slots=True)
class OptionEvent(Event):
    """An audit event with the option and the vehicle it concerns (a customer's timeline)."""

    feature_code: str
    vin: str


async def events_of_customer(conn: Conn, *, customer_id: int, limit: int) -> list[OptionEvent]:
    """Audit events of the entitlements on the customer's vehicles, newest first (the timeline)."""
    query = (
        f"SELECT {select_list(OptionEvent, 'x', feature_code='e.feature_code', vin='v.vin')} FROM entitlement_events x"
        " JOIN entitlements e ON e.id = x.entitlement_id JOIN vehicles v ON v.id = e.vehicle_id"
        " WHERE v.owner_customer_id = %s ORDER BY x.at DESC, x.id DESC LIMIT %s"
    )
    return await fetch_all(conn, OptionEvent, query, (customer_id, limit))


async def events(conn: Conn, *, entitlement_id: int) -> list[Event]:
    query = "SELECT id, at, event, detail, by FROM entitlement_events WHERE entitlement_id = %s ORDER BY id"
    return await fetch_all(conn, Event, query, (entitlement_id,))
