"""Software options: the OEM's catalog, activations on vehicles, renewals, deactivations, and the
commands the vehicle was sent for them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Header, Response

from api import activation
from api.auth import Anyone, OemOrAdmin, SeenVehicle, VehicleWriter, visible_vehicle
from api.deps import ConnDep, SettingsDep
from api.schemas.common import AUTH_ERRORS, RECORD_ERRORS, ErrorOut
from api.schemas.features import (
    ActivationIn,
    DeactivationIn,
    EntitlementDetail,
    EntitlementOut,
    FeatureIn,
    FeatureOut,
    RenewalIn,
    VehicleCommandOut,
)
from commands import vehicle_commands
from commands.vehicle_commands import Command
from crm import entitlements, features
from crm.entitlements import Entitlement
from crm.features import Feature
from telemetry.errors import ConflictError, NotFoundError
from telemetry.vocabulary import EntitlementKind

router = APIRouter(tags=["software options"])
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorOut, "description": "Not eligible, or in a state that does not allow it: `detail`"}
}


@router.post("/features", response_model=FeatureOut, status_code=201, responses=AUTH_ERRORS | _CONFLICT)
async def create_feature(body: FeatureIn, conn: ConnDep, _principal: OemOrAdmin) -> Feature:
    return await entitlements.create_feature(conn, **body.model_dump())


@router.get("/features", response_model=list[FeatureOut], responses=AUTH_ERRORS, summary="The option catalog")
async def list_features(conn: ConnDep, _principal: Anyone) -> list[Feature]:
    return await entitlements.list_features(conn)


@router.post(
    "/vehicles/{vin}/features/{code}/activations",
    response_model=EntitlementOut,
    status_code=202,
    responses=RECORD_ERRORS | _CONFLICT | {503: {"model": ErrorOut, "description": "Commands cannot be signed"}},
    summary="Activate an option: checks eligibility (409 with the reason), then sends the vehicle a signed "
    "enable command; the entitlement is pending until the vehicle accepts. A repeat with the same "
    "Idempotency-Key returns the first answer",
)
async def activate(
    vin: str,
    code: str,
    body: ActivationIn,
    response: Response,
    conn: ConnDep,
    settings: SettingsDep,
    principal: VehicleWriter,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Entitlement:
    vehicle = await visible_vehicle(conn, principal, vin)
    if idempotency_key is not None:
        earlier = await entitlements.by_idempotency_key(conn, key=idempotency_key)
        if earlier is not None:
            if (earlier.vin, earlier.feature_code, earlier.kind) != (vin, code, body.kind):
                raise ConflictError("this Idempotency-Key was used for another activation")
            response.status_code = 200
            return earlier
    return await activation.start(
        conn,
        settings,
        principal,
        vehicle,
        code,
        kind=body.kind,
        periods=body.periods,
        purchase_reference=body.purchase_reference,
        idempotency_key=idempotency_key,
    )


@router.get(
    "/vehicles/{vin}/features",
    response_model=list[EntitlementOut],
    responses=RECORD_ERRORS,
    summary="The vehicle's options: live ones first, then the history",
)
async def vehicle_features(vehicle: SeenVehicle, conn: ConnDep) -> list[Entitlement]:
    return await entitlements.of_vehicle(conn, vehicle_id=vehicle.id)


@router.get(
    "/vehicles/{vin}/entitlements/{entitlement_id}",
    response_model=EntitlementDetail,
    responses=RECORD_ERRORS,
    summary="One entitlement with its audit log",
)
async def entitlement(vin: str, entitlement_id: int, conn: ConnDep, principal: Anyone) -> dict[str, object]:
    await visible_vehicle(conn, principal, vin)
    missing = NotFoundError(f"vehicle {vin} has no entitlement {entitlement_id}")  # also when it is another's
    try:
        row = await entitlements.get(conn, entitlement_id=entitlement_id)
    except NotFoundError:
        raise missing from None
    if row.vin != vin:
        raise missing
    return {**asdict(row), "events": await entitlements.events(conn, entitlement_id=entitlement_id)}


@router.post(
    "/vehicles/{vin}/features/{code}/renewals",
    response_model=EntitlementOut,
    responses=RECORD_ERRORS | _CONFLICT,
    summary="Extend a subscription by whole periods; the vehicle is sent the new expiry",
)
async def renew(vin: str, code: str, body: RenewalIn, conn: ConnDep, principal: OemOrAdmin) -> Entitlement:
    vehicle = await visible_vehicle(conn, principal, vin)
    live = await entitlements.live_one(conn, vehicle_id=vehicle.id, feature_code=code)
    if live.kind != EntitlementKind.SUBSCRIPTION:
        raise ConflictError(f"only a subscription is renewed; this is a {live.kind}")
    if live.ends_at is None:
        raise ConflictError("the subscription has no end date to extend")
    feature = await entitlements.get_feature(conn, code=code)
    until = features.ends_at(feature, "subscription", live.ends_at, body.periods)
    assert until is not None
    return await entitlements.extend(conn, entitlement_id=live.id, until=until, by=activation.granted_by(principal))


@router.post(
    "/vehicles/{vin}/features/{code}/deactivations",
    response_model=EntitlementOut,
    responses=RECORD_ERRORS,
    summary="End the option now (refund, misuse, ownership change); the vehicle is sent a disable command",
)
async def deactivate(vin: str, code: str, body: DeactivationIn, conn: ConnDep, principal: OemOrAdmin) -> Entitlement:
    vehicle = await visible_vehicle(conn, principal, vin)
    live = await entitlements.live_one(conn, vehicle_id=vehicle.id, feature_code=code)
    return await entitlements.end(conn, entitlement_id=live.id, event="disabled", reason=body.reason,
                                  by=activation.granted_by(principal))  # fmt: skip


@router.get(
    "/vehicles/{vin}/commands",
    response_model=list[VehicleCommandOut],
    responses=RECORD_ERRORS,
    summary="Commands sent to the vehicle, newest first, with their state",
)
async def commands_of_vehicle(vehicle: SeenVehicle, conn: ConnDep) -> list[Command]:
    return await vehicle_commands.of_vehicle(conn, vehicle_id=vehicle.id)
