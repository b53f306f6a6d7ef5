from __future__ import annotations

from fastapi import APIRouter

from api.auth import Admin, DealerReader, sees_dealer
from api.deps import ConnDep
from api.models import AUTH_ERRORS, DealerIn, DealerOut, ErrorOut
from telemetry.errors import NotFoundError
from telemetry.storage import records

router = APIRouter(prefix="/dealers", tags=["dealers"])


@router.post("", response_model=DealerOut, status_code=201, responses=AUTH_ERRORS | {409: {"model": ErrorOut}})
async def create_dealer(body: DealerIn, conn: ConnDep, _principal: Admin) -> dict[str, object]:
    return await records.create_dealer(conn, code=body.code, name=body.name)


@router.get("", response_model=list[DealerOut], responses=AUTH_ERRORS, summary="Dealers (an advisor's own only)")
async def list_dealers(conn: ConnDep, principal: DealerReader) -> list[dict[str, object]]:
    return [d for d in await records.list_dealers(conn) if sees_dealer(principal, d["id"])]


@router.get("/{dealer_id}", response_model=DealerOut, responses=AUTH_ERRORS | {404: {"model": ErrorOut}})
async def get_dealer(dealer_id: int, conn: ConnDep, principal: DealerReader) -> dict[str, object]:
    if not sees_dealer(principal, dealer_id):
        raise NotFoundError(f"dealer {dealer_id} not found")
    return await records.get_dealer(conn, dealer_id=dealer_id)
