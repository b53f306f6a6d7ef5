"""`GET /alerts/stream`: new and reopened alerts as Server-Sent Events, as they are written.

The alerts table announces each new or reopened alert on the PostgreSQL channel
`<schema>.alerts` (migration 0008); each stream holds one listening connection of its own, loads
the alert and passes it on if the key may see it. A comment line every KEEPALIVE_S seconds keeps
proxies from closing an idle stream and notices a client that has gone. Every RECHECK_S seconds
the stream asks whether its key (and console session) still stands: a revoked key or an ended
session closes it within that time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from psycopg import sql

from api.auth import Anyone, sees_dealer
from api.deps import SettingsDep
from api.schemas.alerts import AlertOut
from api.schemas.common import AUTH_ERRORS
from crm import records
from telemetry.errors import NotFoundError
from telemetry.settings import Settings
from telemetry.storage import alerts, sessions
from telemetry.storage.apikeys import Principal
from telemetry.storage.db import Conn, connect, schema_name

router = APIRouter(prefix="/alerts", tags=["alerts"])
KEEPALIVE_S = 15.0
RECHECK_S = 2.0


def channel(settings: Settings) -> str:
    return f"{schema_name(settings)}.alerts"


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses=AUTH_ERRORS | {200: {"content": {"text/event-stream": {}}, "description": "`event: alert` lines"}},
    summary="New and reopened alerts as Server-Sent Events (`event: alert`, `data`: the alert as JSON)",
)
async def alert_stream(request: Request, principal: Anyone, settings: SettingsDep) -> StreamingResponse:
    return StreamingResponse(_events(request, principal, settings), media_type="text/event-stream")


async def _still_valid(conn: Conn, principal: Principal, session_id: str | None) -> bool:
    """False also when the database cannot say (its schema dropped, say): a stream nobody can
    vouch for ends rather than fails."""
    try:
        return await sessions.still_valid(conn, principal, session_id)
    except psycopg.Error:
        return False


async def _events(request: Request, principal: Principal, settings: Settings) -> AsyncIterator[bytes]:
    session_id: str | None = getattr(request.state, "session_id", None)
    async with await connect(settings, autocommit=True) as conn:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(settings))))
        yield b": listening\n\n"
        quiet_since = time.monotonic()
        while not await request.is_disconnected():
            ids = [int(n.payload) async for n in conn.notifies(timeout=RECHECK_S, stop_after=1)]
            if not await _still_valid(conn, principal, session_id):
                yield b"event: end\ndata: the key was revoked or the session ended\n\n"
                return
            if not ids:
                if time.monotonic() - quiet_since >= KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield b": keep-alive\n\n"
                continue
            for alert_id in ids:
                try:
                    alert = await alerts.get(conn, alert_id=alert_id)
                    vehicle = await records.get_vehicle(conn, vin=alert.vin)
                except NotFoundError:
                    continue  # gone since (a test schema dropped, say)
                if sees_dealer(principal, vehicle.dealer_id):
                    body = AlertOut.model_validate(alert).model_dump(mode="json")
                    quiet_since = time.monotonic()
                    yield b"event: alert\nid: %d\ndata: %s\n\n" % (alert_id, orjson.dumps(body))
