from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import Admin, CustomerUser, DealerReader, sees_dealer
from api.deps import ConnDep
from api.models import AUTH_ERRORS, RECORD_ERRORS, DealerIn, DealerOut, ErrorOut, QueuedAlertOut
from telemetry.errors import NotFoundError
from telemetry.storage import alert_queue, records

router = APIRouter(prefix="/dealers", tags=["dealers"])


@router.post("", response_model=DealerOut, status_code=201, responses=AUTH_ERRORS | {409: {"model": ErrorOut}})
async def create_dealer(body: DealerIn, conn: ConnDep, _principal: Admin) -> dict[str, object]:
    return await records.create_dealer(conn, code=body.code, name=body.name)


@router.get("", response_model=list[DealerOut], responses=AUTH_ERRORS, summary="Dealers (an advisor's own only)")
async def list_dealers(conn: ConnDep, principal: DealerReader) -> list[dict[str, object]]:
    return [d for d in await records.list_dealers(conn) if sees_dealer(principal, d["id"])]


@router.get("/{dealer_id}", response_model=DealerOut, responses=RECORD_ERRORS)
async def get_dealer(dealer_id: int, conn: ConnDep, principal: DealerReader) -> dict[str, object]:
    if not sees_dealer(principal, dealer_id):
        raise NotFoundError(f"dealer {dealer_id} not found")
    return await records.get_dealer(conn, dealer_id=dealer_id)


@router.get(
    "/{dealer_id}/alerts",
    response_model=list[QueuedAlertOut],
    responses=RECORD_ERRORS,
    summary="The dealer's alert queue: alerts on its vehicles, by severity, due date or age",
)
async def alert_queue_of_dealer(
    dealer_id: int,
    conn: ConnDep,
    principal: CustomerUser,
    sort: Literal["severity", "due", "age"] = "severity",
    state: Annotated[list[Literal["open", "acknowledged", "resolved", "cleared"]] | None, Query()] = None,
    assigned_to: Annotated[str | None, Query(description="Only this advisor's")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, object]]:
    if not sees_dealer(principal, dealer_id):
        raise NotFoundError(f"dealer {dealer_id} not found")
    await records.get_dealer(conn, dealer_id=dealer_id)
    states = list(state or ["open", "acknowledged"])
    return await alert_queue.queue(
        conn, dealer_id=dealer_id, states=states, sort=sort, assigned_to=assigned_to, limit=limit
    )
