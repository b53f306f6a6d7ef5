from __future__ import annotations

from fastapi import APIRouter

from api.deps import ConnDep
from api.models import DealerIn, DealerOut, ErrorOut
from telemetry.storage import records

router = APIRouter(prefix="/dealers", tags=["dealers"])


@router.post("", response_model=DealerOut, status_code=201, responses={409: {"model": ErrorOut}})
async def create_dealer(body: DealerIn, conn: ConnDep) -> dict[str, object]:
    return await records.create_dealer(conn, code=body.code, name=body.name)


@router.get("", response_model=list[DealerOut])
async def list_dealers(conn: ConnDep) -> list[dict[str, object]]:
    return await records.list_dealers(conn)


@router.get("/{dealer_id}", response_model=DealerOut, responses={404: {"model": ErrorOut}})
async def get_dealer(dealer_id: int, conn: ConnDep) -> dict[str, object]:
    return await records.get_dealer(conn, dealer_id=dealer_id)
