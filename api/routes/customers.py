from __future__ import annotations

from fastapi import APIRouter

from api.auth import CustomerUser, require_dealer, visible_customer
from api.deps import ConnDep
from api.models import AUTH_ERRORS, CustomerIn, CustomerOut, CustomerRecord, ErrorOut
from telemetry.storage import alerts, records

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("", response_model=CustomerOut, status_code=201, responses=AUTH_ERRORS | {404: {"model": ErrorOut}})
async def create_customer(body: CustomerIn, conn: ConnDep, principal: CustomerUser) -> dict[str, object]:
    require_dealer(principal, body.dealer_id)
    return await records.create_customer(conn, **body.model_dump())


@router.get(
    "/{customer_id}",
    response_model=CustomerRecord,
    responses=AUTH_ERRORS | {404: {"model": ErrorOut}},
    summary="The customer record with their vehicles and the alerts on them, newest first",
)
async def get_customer(customer_id: int, conn: ConnDep, principal: CustomerUser) -> dict[str, object]:
    customer = await visible_customer(conn, principal, customer_id)
    owned = await records.vehicles_of_customer(conn, customer_id=customer_id)
    found = await alerts.for_vehicles(conn, vehicle_ids=[int(v["id"]) for v in owned]) if owned else []
    return {**customer, "vehicles": owned, "alerts": found}
