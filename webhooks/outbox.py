"""The webhook outbox (migration 0011): endpoints, events and their deliveries.

Events are written by the transaction that makes the change (the alerts trigger, or `enqueue`
here); the sender claims due deliveries, one per (endpoint, vehicle) at a time in event order,
and records what came of each attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from psycopg.types.json import Jsonb

from telemetry.errors import NotFoundError
from telemetry.storage.db import Conn, SyncConn
from telemetry.storage.typed_rows import fetch_all, fetch_one, insert_one, select_list
from telemetry.vocabulary import DeliveryState


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A CRM endpoint subscribed to event families (its secret is never read back)."""

    id: int
    url: str
    event_types: list[str]  # EventFamily words; a stored one outside it still shows
    dealer_id: int | None  # only this dealer's vehicles; None: every dealer
    description: str | None
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointBacklog(Endpoint):
    pending: int  # deliveries waiting or being retried
    dead: int  # deliveries given up on


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One event's delivery to one endpoint, as its history shows it."""

    endpoint_id: int
    event_id: UUID
    event_type: str
    created_at: datetime
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    payload: dict[str, object]


_ENDPOINT_COLUMNS = select_list(Endpoint, "e")
_DELIVERY_COLUMNS = select_list(DeliveryRecord, "d", event_id="o.id", event_type="o.type", created_at="o.created_at",
                                payload="o.payload")  # fmt: skip
_DELIVERY_FROM = "FROM webhook_deliveries d JOIN outbox_events o ON o.seq = d.event_seq"


async def enqueue(conn: Conn, *, event_type: str, vehicle_id: int, data: dict[str, object]) -> UUID:
    """Write an event for the vehicle in the caller's transaction; returns its id."""
    cur = await conn.execute("SELECT enqueue_event(%s, %s, %s) AS id", (event_type, vehicle_id, Jsonb(data)))
    row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def create_endpoint(
    conn: Conn,
    *,
    url: str,
    secret: str,
    event_types: list[str],
    dealer_id: int | None,
    description: str | None,
) -> Endpoint:
    values = {"url": url, "secret": secret, "event_types": event_types, "dealer_id": dealer_id,
              "description": description}  # fmt: skip
    return await insert_one(conn, Endpoint, "webhook_endpoints", values)


async def list_endpoints(conn: Conn) -> list[EndpointBacklog]:
    query = (
        f"SELECT {_ENDPOINT_COLUMNS}, (SELECT count(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id"
        " AND d.state = 'pending') AS pending, (SELECT count(*) FROM webhook_deliveries d"
        " WHERE d.endpoint_id = e.id AND d.state = 'dead') AS dead FROM webhook_endpoints e ORDER BY id"
    )
    return await fetch_all(conn, EndpointBacklog, query)


async def deactivate_endpoint(conn: Conn, *, endpoint_id: int) -> None:
    """No new events for it; deliveries still pending are dropped with it."""
    cur = await conn.execute("UPDATE webhook_endpoints SET active = false WHERE id = %s RETURNING id", (endpoint_id,))
    if await cur.fetchone() is None:
        raise NotFoundError(f"webhook endpoint {endpoint_id} not found")
    await conn.execute("DELETE FROM webhook_deliveries WHERE endpoint_id = %s AND state = 'pending'", (endpoint_id,))


@dataclass(frozen=True, slots=True)
class Delivery:
    endpoint_id: int
    event_seq: int
    event_id: UUID
    event_type: str
    url: str
    secret: str
    payload: dict[str, object]
    attempts: int
    window_start: datetime


async def claim(conn: Conn, *, limit: int, lease: timedelta) -> list[Delivery]:
    """Take up to `limit` due deliveries, each the oldest pending one of its (endpoint, vehicle).

    A claimed delivery is leased: if the sender dies before recording the outcome, it is due again
    when the lease ends (receivers deduplicate on the event id). Deliveries locked by another
    sender are skipped, and so are those queued behind them, which keeps per-vehicle order.
    """
    cur = await conn.execute(
        "WITH due AS ("
        "  SELECT d.endpoint_id, d.event_seq FROM webhook_deliveries d"
        "  WHERE d.state = 'pending' AND d.next_attempt_at <= now()"
        "  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id"
        "    AND p.ordering_key = d.ordering_key AND p.state = 'pending' AND p.event_seq < d.event_seq)"
        "  ORDER BY d.next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED),"
        " taken AS ("
        "  UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + %s"
        "  FROM due WHERE d.endpoint_id = due.endpoint_id AND d.event_seq = due.event_seq"
        "  RETURNING d.endpoint_id, d.event_seq, d.attempts, d.window_start)"
        " SELECT t.*, e.url, e.secret, o.id AS event_id, o.type AS event_type, o.payload"
        " FROM taken t JOIN webhook_endpoints e ON e.id = t.endpoint_id JOIN outbox_events o ON o.seq = t.event_seq"
        " ORDER BY t.event_seq",
        (limit, lease),
    )
    return [Delivery(**row) for row in await cur.fetchall()]


async def delivered(conn: Conn, d: Delivery, *, status: int) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = now(), last_status = %s, last_error = NULL"
        " WHERE endpoint_id = %s AND event_seq = %s",
        (status, d.endpoint_id, d.event_seq),
    )


async def failed(conn: Conn, d: Delivery, *, status: int | None, error: str, retry_in: timedelta | None) -> None:
    """Try again in `retry_in`, or (None) give up: the delivery goes to the dead-letter list."""
    await conn.execute(
        "UPDATE webhook_deliveries SET last_status = %s, last_error = %s,"
        " state = CASE WHEN %s::interval IS NULL THEN 'dead' ELSE 'pending' END,"
        " next_attempt_at = now() + COALESCE(%s::interval, '0')"
        " WHERE endpoint_id = %s AND event_seq = %s",
        (status, error[:500], retry_in, retry_in, d.endpoint_id, d.event_seq),
    )


async def deliveries(conn: Conn, *, endpoint_id: int, state: str, limit: int) -> list[DeliveryRecord]:
    await _endpoint_exists(conn, endpoint_id)
    query = (
        f"SELECT {_DELIVERY_COLUMNS} {_DELIVERY_FROM}"
        " WHERE d.endpoint_id = %s AND d.state = %s ORDER BY d.event_seq DESC LIMIT %s"
    )
    return await fetch_all(conn, DeliveryRecord, query, (endpoint_id, state, limit))


async def redeliver(conn: Conn, *, endpoint_id: int, event_id: UUID) -> DeliveryRecord:
    """A dead delivery is pending again, with a fresh retry window."""
    cur = await conn.execute(
        "UPDATE webhook_deliveries d SET state = 'pending', attempts = 0, next_attempt_at = now(),"
        " window_start = now(), last_error = NULL FROM outbox_events o"
        " WHERE o.seq = d.event_seq AND d.endpoint_id = %s AND o.id = %s AND d.state = 'dead' RETURNING d.event_seq",
        (endpoint_id, event_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError(f"no dead delivery of event {event_id} to endpoint {endpoint_id}")
    await conn.execute("SELECT pg_notify(current_schema() || '.outbox', '')")
    query = f"SELECT {_DELIVERY_COLUMNS} {_DELIVERY_FROM} WHERE d.endpoint_id = %s AND d.event_seq = %s"
    return await fetch_one(conn, DeliveryRecord, query, (endpoint_id, row["event_seq"]), missing="delivery gone")


async def _endpoint_exists(conn: Conn, endpoint_id: int) -> None:
    cur = await conn.execute("SELECT 1 FROM webhook_endpoints WHERE id = %s", (endpoint_id,))
    if await cur.fetchone() is None:
        raise NotFoundError(f"webhook endpoint {endpoint_id} not found")


def prune_sync(conn: SyncConn, *, older_than: timedelta) -> int:
    """Forget events older than `older_than` that no endpoint still waits for (pending ones and
    dead ones, which may be redelivered, stay). Returns how many went."""
    cur = conn.execute(
        "DELETE FROM outbox_events o WHERE o.created_at < now() - %s AND NOT EXISTS (SELECT 1 FROM"
        " webhook_deliveries d WHERE d.event_seq = o.seq AND d.state IN ('pending', 'dead'))",
        (older_than,),
    )
    return cur.rowcount
