from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Admin
from api.deps import ConnDep
from api.schemas.common import AUTH_ERRORS
from api.schemas.operations import DeadLetterOut
from telemetry.reasons import Reason
from telemetry.storage import deadletters

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])


@router.get(
    "", response_model=list[DeadLetterOut], responses=AUTH_ERRORS, summary="What could not be stored, newest first"
)
async def list_dead_letters(
    conn: ConnDep,
    _principal: Admin,
    reason: Reason | None = None,
    vin: str | None = None,
    before_id: Annotated[int | None, Query(description="Page: entries older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetterOut]:
    rows = await deadletters.recent(
        conn, reason=reason.value if reason else None, vin=vin, before_id=before_id, limit=limit
    )
    return [DeadLetterOut.of(r) for r in rows]
