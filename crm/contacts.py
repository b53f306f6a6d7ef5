"""The contact log: who was contacted, about which vehicle, why, how, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.errors import ForeignKeyViolation

from telemetry.errors import NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one, insert_id
from telemetry.vocabulary import ContactPurpose

_COLUMNS = (
    "k.id, k.customer_id, v.vin, k.dealer_id, k.alert_id, k.channel, k.purpose, k.outcome, k.note, k.contacted_at,"
    " k.by, k.created_at"
)
_FROM = "FROM contacts k LEFT JOIN vehicles v ON v.id = k.vehicle_id"


@dataclass(frozen=True, slots=True)
class Contact:
    """One contact as logged, with its vehicle's VIN (None: about the customer, no vehicle)."""

    id: int
    customer_id: int
    vin: str | None
    dealer_id: int | None
    alert_id: int | None
    channel: str
    purpose: ContactPurpose
    outcome: str
    note: str | None
    contacted_at: datetime
    by: str
    created_at: datetime


async def record(
    conn: Conn,
    *,
    customer_id: int,
    vehicle_id: int | None,
    dealer_id: int | None,
    alert_id: int | None,
    channel: str,
    purpose: str,
    outcome: str,
    note: str | None,
    contacted_at: datetime,
    by: str,
) -> Contact:
    try:
        contact_id = await insert_id(conn, "contacts", {
            "customer_id": customer_id, "vehicle_id": vehicle_id, "dealer_id": dealer_id, "alert_id": alert_id,
            "channel": channel, "purpose": purpose, "outcome": outcome, "note": note, "contacted_at": contacted_at,
            "by": by,
        })  # fmt: skip
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"dealer or alert not found: {exc.diag.message_detail}") from exc
    query = f"SELECT {_COLUMNS} {_FROM} WHERE k.id = %s"
    return await fetch_one(conn, Contact, query, (contact_id,), missing="no contact returned")


async def of_customer(conn: Conn, *, customer_id: int, limit: int = 200) -> list[Contact]:
    """The customer's contacts, newest first."""
    query = f"SELECT {_COLUMNS} {_FROM} WHERE k.customer_id = %s ORDER BY k.contacted_at DESC, k.id DESC LIMIT %s"
    return await fetch_all(conn, Contact, query, (customer_id, limit))
