"""The rule engine's saved state: one packed row of bytes per vehicle, described by a layout.

Saved in the same transaction as the alerts the state produced, so a restarted worker resumes
exactly: no alert fires twice and no duration in progress is forgotten.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

Layout = list[list[object]]  # [[field name, numpy dtype, shape], ...]


async def ensure_layout(conn: psycopg.AsyncConnection, layout_id: str, fields: list) -> None:
    await conn.execute(
        "INSERT INTO rule_state_layouts (id, fields) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
        (layout_id, Jsonb(fields)),
    )


async def save(conn: psycopg.AsyncConnection, layout_id: str, vehicle_ids: list[int], blobs: list[bytes]) -> None:
    if not vehicle_ids:
        return
    await conn.execute(
        "INSERT INTO rule_state (vehicle_id, layout, state)"
        " SELECT * FROM unnest(%s::integer[], %s::text[], %s::bytea[])"
        " ON CONFLICT (vehicle_id) DO UPDATE SET layout = EXCLUDED.layout, state = EXCLUDED.state, updated_at = now()",
        (vehicle_ids, [layout_id] * len(vehicle_ids), blobs),
    )


async def fleet(conn: psycopg.AsyncConnection, vehicle_ids: list[int] | None = None) -> list[dict[str, object]]:
    """Vehicles (all, or these) with what the engine needs: attributes and saved state, if any."""
    cur = await conn.execute(
        "SELECT v.id, v.vin, v.powertrain, v.make, v.model, s.state, l.fields AS layout FROM vehicles v"
        " LEFT JOIN rule_state s ON s.vehicle_id = v.id LEFT JOIN rule_state_layouts l ON l.id = s.layout"
        " WHERE %(ids)s::integer[] IS NULL OR v.id = ANY(%(ids)s) ORDER BY v.id",
        {"ids": vehicle_ids},
    )
    return list(await cur.fetchall())
