"""Consent per purpose: recorded as a history, the latest grant or withdrawal in force.

Location history is enforced where samples are written: the ingest worker asks, batch by
batch, which of the batch's vehicles belong to a customer who allows it (`location_allowed`),
so a withdrawal takes effect with the next batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.errors import ForeignKeyViolation

from telemetry.errors import NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, insert_one, select_list
from telemetry.vocabulary import ConsentPurpose

PURPOSES = tuple(ConsentPurpose)


@dataclass(frozen=True, slots=True)
class Consent:
    """One grant or withdrawal, as the customer gave it."""

    id: int
    customer_id: int
    purpose: ConsentPurpose
    granted: bool  # false: withdrawn
    given_at: datetime
    source: str
    recorded_at: datetime


_COLUMNS = select_list(Consent, "consents")


async def record(
    conn: Conn, *, customer_id: int, purpose: str, granted: bool, given_at: datetime, source: str
) -> Consent:
    try:
        values = {"customer_id": customer_id, "purpose": purpose, "granted": granted, "given_at": given_at,
                  "source": source}  # fmt: skip
        return await insert_one(conn, Consent, "consents", values)
    except ForeignKeyViolation as exc:
        raise NotFoundError(f"customer {customer_id} not found") from exc


async def current(conn: Conn, *, customer_id: int) -> dict[ConsentPurpose, Consent]:
    """Purpose -> the grant or withdrawal in force; a purpose never asked is absent (not granted)."""
    query = (  # the view current_consents, with the ids
        f"SELECT DISTINCT ON (purpose) {_COLUMNS} FROM consents WHERE customer_id = %s"
        " ORDER BY purpose, given_at DESC, id DESC"
    )
    return {c.purpose: c for c in await fetch_all(conn, Consent, query, (customer_id,))}


async def history(conn: Conn, *, customer_id: int) -> list[Consent]:
    query = f"SELECT {_COLUMNS} FROM consents WHERE customer_id = %s ORDER BY given_at DESC, id DESC"
    return await fetch_all(conn, Consent, query, (customer_id,))
