"""Merging two records of one real customer into a golden record, and undoing it.

The source record stays as it was, behind the golden record (`merged_into`), so that the advisor
sees what came from where. The golden record takes the source's contact data where it has none
(or, field by field, where asked to prefer the source). The source's vehicles, consents,
household memberships and contacts move to the golden record. The merge row keeps what moved and
what the golden fields were, which is what un-merging puts back. An un-merge leaves alone what
was changed since the merge: a vehicle sold on, a field edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from crm.customer_matches import likeness
from telemetry.errors import ConflictError, InvalidRequestError, NotFoundError
from telemetry.storage.db import Conn
from telemetry.storage.typed_rows import fetch_all, fetch_one
from telemetry.vocabulary import CustomerKind

FIELDS = ("kind", "name", "email", "phone", "postcode")
# (table, customer column): what belongs to a customer and moves with a merge
MOVABLE = (
    ("vehicles", "owner_customer_id"),
    ("consents", "customer_id"),
    ("household_members", "customer_id"),
    ("contacts", "customer_id"),
)
# the golden record's current household membership wins; the source's current one stays behind
_ONLY_IF = {
    "household_members": " AND (end_on IS NOT NULL OR NOT EXISTS (SELECT 1 FROM household_members g"
    " WHERE g.customer_id = %(golden)s AND g.end_on IS NULL))",
}
_MERGE_COLUMNS = (
    "id, golden_id, source_id, merged_at, merged_by, reasons, golden_before, golden_after, moved,"
    " unmerged_at, unmerged_by"
)


@dataclass(frozen=True, slots=True)
class Merge:
    """One merge: what moved and what the golden record's fields were, which undoing it puts back."""

    id: int
    golden_id: int
    source_id: int
    merged_at: datetime
    merged_by: str
    reasons: list[str]
    golden_before: dict[str, object]  # the golden record's fields the merge changed, before
    golden_after: dict[str, object]
    moved: dict[str, list[int]]  # per table, the ids moved from the source to the golden record
    unmerged_at: datetime | None
    unmerged_by: str | None


async def merge(conn: Conn, *, golden_id: int, source_id: int, by: str, prefer_source: list[str]) -> Merge:
    if golden_id == source_id:
        raise InvalidRequestError("a customer cannot be merged into itself")
    cur = await conn.execute(
        f"SELECT id, {', '.join(FIELDS)}, merged_into, erased_at FROM customers WHERE id = ANY(%s) ORDER BY id"
        " FOR UPDATE",
        ([golden_id, source_id],),
    )
    found = {r["id"]: r for r in await cur.fetchall()}
    for cid in (golden_id, source_id):
        if cid not in found:
            raise NotFoundError(f"customer {cid} not found")
        if found[cid]["merged_into"] is not None:
            raise ConflictError(f"customer {cid} was merged into {found[cid]['merged_into']} already")
        if found[cid]["erased_at"] is not None:
            raise ConflictError(f"customer {cid} is erased")
    golden, source = found[golden_id], found[source_id]
    changes = {
        f: source[f]
        for f in FIELDS
        if source[f] is not None and (golden[f] is None or f in prefer_source) and source[f] != golden[f]
    }
    if changes:
        await conn.execute(
            sql.SQL("UPDATE customers SET {} WHERE id = {}").format(
                sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(f), sql.Placeholder()) for f in changes),
                sql.Placeholder(),
            ),
            [*changes.values(), golden_id],
        )
    moved: dict[str, list[int]] = {}
    for table, column in MOVABLE:
        cur = await conn.execute(
            sql.SQL(
                "UPDATE {} SET {} = %(golden)s WHERE {} = %(source)s" + _ONLY_IF.get(table, "") + " RETURNING id"
            ).format(sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)),
            {"golden": golden_id, "source": source_id},
        )
        moved[table] = [int(r["id"]) for r in await cur.fetchall()]
    await conn.execute("UPDATE customers SET merged_into = %s WHERE id = %s", (golden_id, source_id))
    reasons = likeness(golden, source)[0] or ["merged by hand"]
    return await fetch_one(
        conn,
        Merge,
        "INSERT INTO customer_merges (golden_id, source_id, merged_by, reasons, golden_before, golden_after, moved)"
        f" VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_MERGE_COLUMNS}",
        (
            golden_id,
            source_id,
            by,
            reasons,
            Jsonb({f: golden[f] for f in changes}),
            Jsonb(changes),
            Jsonb(moved),
        ),
        missing="no merge returned",
    )


async def unmerge(conn: Conn, *, golden_id: int, merge_id: int, by: str) -> Merge:
    m = await fetch_one(
        conn,
        Merge,
        f"SELECT {_MERGE_COLUMNS} FROM customer_merges WHERE id = %s AND golden_id = %s FOR UPDATE",
        (merge_id, golden_id),
        missing=f"customer {golden_id} has no merge {merge_id}",
    )
    if m.unmerged_at is not None:
        raise ConflictError(f"merge {merge_id} was undone at {m.unmerged_at:%Y-%m-%d %H:%M} already")
    cur = await conn.execute("SELECT merged_into FROM customers WHERE id = %s", (golden_id,))
    golden = await cur.fetchone()
    assert golden is not None
    if golden["merged_into"] is not None:
        raise ConflictError(f"customer {golden_id} was merged into {golden['merged_into']} since; undo that first")
    moved, source_id = m.moved, m.source_id
    try:
        for table, column in MOVABLE:
            await conn.execute(
                sql.SQL("UPDATE {} SET {} = %s WHERE id = ANY(%s) AND {} = %s").format(
                    sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)
                ),
                (source_id, moved.get(table, []), golden_id),
            )
    except UniqueViolation as exc:
        raise ConflictError(f"cannot undo merge {merge_id}: {exc.diag.message_primary}") from exc
    after = m.golden_after
    for field, value in m.golden_before.items():  # put back what the merge set and nobody changed since
        await conn.execute(
            sql.SQL("UPDATE customers SET {f} = %s WHERE id = %s AND {f} IS NOT DISTINCT FROM %s").format(
                f=sql.Identifier(field)
            ),
            (value, golden_id, after[field]),
        )
    await conn.execute("UPDATE customers SET merged_into = NULL WHERE id = %s", (source_id,))
    query = f"UPDATE customer_merges SET unmerged_at = now(), unmerged_by = %s WHERE id = %s RETURNING {_MERGE_COLUMNS}"
    return await fetch_one(conn, Merge, query, (by, merge_id), missing=f"customer {golden_id} has no merge {merge_id}")


async def history(conn: Conn, *, customer_id: int) -> list[Merge]:
    """Merges the customer took part in (as golden or source record), newest first."""
    query = f"SELECT {_MERGE_COLUMNS} FROM customer_merges WHERE golden_id = %s OR source_id = %s ORDER BY id DESC"
    return await fetch_all(conn, Merge, query, (customer_id, customer_id))


@dataclass(frozen=True, slots=True)
class Source:
    """A source record behind a golden record, as it was, with when and why it merged."""

    customer_id: int
    kind: CustomerKind
    name: str
    email: str | None
    phone: str | None
    postcode: str | None
    dealer_id: int | None
    created_at: datetime
    merge_id: int
    merged_at: datetime
    merged_by: str
    reasons: list[str]


async def sources(conn: Conn, *, golden_id: int) -> list[Source]:
    query = (
        "SELECT c.id AS customer_id, c.kind, c.name, c.email, c.phone, c.postcode, c.dealer_id, c.created_at,"
        " m.id AS merge_id, m.merged_at, m.merged_by, m.reasons"
        " FROM customers c JOIN customer_merges m ON m.source_id = c.id AND m.golden_id = c.merged_into"
        " AND m.unmerged_at IS NULL WHERE c.merged_into = %s ORDER BY m.merged_at"
    )
    return await fetch_all(conn, Source, query, (golden_id,))
