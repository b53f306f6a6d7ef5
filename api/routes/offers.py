"""Usage-based offers: what the rules found in how a vehicle is used, turned into a trial in one
call or dismissed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import activation
from api.auth import SeenVehicle, VehicleWriter, visible_vehicle
from api.deps import ConnDep, SettingsDep
from api.schemas.common import RECORD_ERRORS, ErrorOut
from api.schemas.features import DismissIn, OfferOut, OfferTrialOut
from crm.records import Vehicle
from telemetry.errors import ConflictError, NotFoundError
from telemetry.storage import offers
from telemetry.storage.apikeys import Principal
from telemetry.storage.db import Conn
from telemetry.storage.offers import Offer
from telemetry.vocabulary import OfferState

router = APIRouter(tags=["software options"])
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorOut, "description": "Not open any more, or the vehicle is not eligible"}
}


async def _visible(conn: Conn, principal: Principal, offer_id: int) -> tuple[offers.Offer, Vehicle]:
    offer = await offers.get(conn, offer_id=offer_id)
    try:
        return offer, await visible_vehicle(conn, principal, offer.vin)
    except NotFoundError:  # another dealer's offer reads like one that does not exist, naming no VIN
        raise NotFoundError(f"offer {offer_id} not found") from None


@router.get(
    "/vehicles/{vin}/offers",
    response_model=list[OfferOut],
    responses=RECORD_ERRORS,
    summary="Offers the vehicle's use suggests, newest first",
)
async def vehicle_offers(
    vehicle: SeenVehicle,
    conn: ConnDep,
    state: Annotated[list[OfferState] | None, Query()] = None,
) -> list[offers.Offer]:
    states = [str(s) for s in state or OfferState]
    return await offers.of_vehicles(conn, vehicle_ids=[vehicle.id], states=states)


@router.post(
    "/offers/{offer_id}/trial",
    response_model=OfferTrialOut,
    status_code=202,
    responses=RECORD_ERRORS | _CONFLICT,
    summary="Turn the offer into a trial of the option (eligibility checked as for any activation)",
)
async def offer_to_trial(
    offer_id: int, conn: ConnDep, settings: SettingsDep, principal: VehicleWriter
) -> dict[str, object]:
    offer, vehicle = await _visible(conn, principal, offer_id)
    if offer.state != OfferState.OPEN:
        raise ConflictError(f"offer {offer_id} is {offer.state}, not open")
    entitlement = await activation.start(conn, settings, principal, vehicle, offer.feature_code, kind="trial")
    closed = await offers.close(
        conn,
        offer_id=offer_id,
        state="accepted",
        by=activation.granted_by(principal),
        entitlement_id=entitlement.id,
    )
    return {"offer": closed, "entitlement": entitlement}


@router.post(
    "/offers/{offer_id}/dismiss",
    response_model=OfferOut,
    responses=RECORD_ERRORS | _CONFLICT,
    summary="Not for this customer; the same offer is not made again for 180 days",
)
async def dismiss(offer_id: int, body: DismissIn, conn: ConnDep, principal: VehicleWriter) -> Offer:
    await _visible(conn, principal, offer_id)
    return await offers.close(conn, offer_id=offer_id, state="dismissed", by=body.by)
