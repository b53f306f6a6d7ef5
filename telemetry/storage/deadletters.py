"""Dead letters: everything that could not be stored, with the raw payload and a precise reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from telemetry.reasons import Rejection
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, select_list
from telemetry.timeutil import to_datetime

PAYLOAD_KEEP_BYTES = 64 * 1024  # an oversize payload is kept truncated, with its full size


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    received_ms: int
    rejection: Rejection
    vin: str | None = None

    def row(self) -> tuple[object, ...]:
        r = self.rejection
        return (
            to_datetime(self.received_ms),
            self.topic,
            self.vin,
            r.reason.value,
            r.detail,
            r.signal,
            to_datetime(r.ts_ms) if r.ts_ms is not None and -62135596800000 < r.ts_ms < 253402300800000 else None,
            self.payload[:PAYLOAD_KEEP_BYTES],
            len(self.payload),
            message_hash(self.topic, self.payload),
        )


def message_hash(topic: str, payload: bytes) -> bytes:
    return hashlib.blake2b(topic.encode() + b"\x00" + payload, digest_size=16).digest()


async def insert(conn: Conn, letters: list[DeadLetter]) -> None:
    """Store inside the caller's transaction; a redelivered message adds nothing."""
    if not letters:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO dead_letters (received_at, topic, vin, reason, detail, signal, sample_ts, payload,"
            " payload_size, message_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (message_hash, reason, detail) DO NOTHING",
            [d.row() for d in letters],
        )


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A dead letter as stored: the raw payload (its first 64 KiB) and why it was refused."""

    id: int
    received_at: datetime
    topic: str
    vin: str | None
    reason: str  # a telemetry.reasons.Reason; a stored value outside it still shows
    detail: str
    signal: str | None
    sample_ts: datetime | None
    payload: bytes
    payload_size: int  # of the whole payload, kept or not


async def recent(
    conn: Conn,
    *,
    reason: str | None = None,
    vin: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[StoredDeadLetter]:
    query = (
        f"SELECT {select_list(StoredDeadLetter, 'dead_letters')}"
        " FROM dead_letters WHERE (%(reason)s::text IS NULL OR reason = %(reason)s)"
        " AND (%(vin)s::text IS NULL OR vin = %(vin)s) AND (%(before)s::bigint IS NULL OR id < %(before)s)"
        " ORDER BY id DESC LIMIT %(limit)s"
    )
    params = {"reason": reason, "vin": vin, "before": before_id, "limit": limit}
    return await fetch_all(conn, StoredDeadLetter, query, params)
