"""Starting a software option on a vehicle: the checks and the grant, shared by the activation
endpoint and by turning an offer into a trial."""

from __future__ import annotations

from datetime import UTC, datetime

from crm import entitlements, features
from crm.records import Vehicle
from telemetry.errors import ConflictError, PermissionDeniedError, UnavailableError
from telemetry.settings import Settings
from telemetry.storage.apikeys import Principal
from telemetry.storage.db import Conn


def granted_by(principal: Principal) -> str:
    scope = f" of dealer {principal.dealer_id}" if principal.dealer_id is not None else ""
    return f"key {principal.key_id} ({principal.role}{scope})"


async def start(
    conn: Conn,
    settings: Settings,
    principal: Principal,
    vehicle: Vehicle,
    code: str,
    *,
    kind: str,
    periods: int = 1,
    purchase_reference: str | None = None,
    idempotency_key: str | None = None,
) -> entitlements.Entitlement:
    """A pending entitlement and its enable command, or the error that says why not."""
    if principal.role == "advisor" and kind != "trial":
        raise PermissionDeniedError("an advisor key may start trials only; purchases and subscriptions are the OEM's")
    if settings.command_secret is None:
        raise UnavailableError("commands to vehicles are not configured (TELEMETRY_COMMAND_SECRET)")
    feature = await entitlements.get_feature(conn, code=code)
    live, trials_had = await entitlements.vehicle_history(conn, vehicle_id=vehicle.id)
    reason = features.ineligibility(feature, vehicle, kind=kind, live=live, trials_had=trials_had)
    if reason is not None:
        raise ConflictError(f"not eligible: {reason}", details={"reason": reason})
    now = datetime.now(UTC)
    return await entitlements.grant(
        conn,
        vehicle_id=vehicle.id,
        feature_code=code,
        kind=kind,
        by=granted_by(principal),
        dealer_id=principal.dealer_id,
        purchase_reference=purchase_reference,
        starts_at=now,
        ends_at=features.ends_at(feature, kind, now, periods),
        idempotency_key=idempotency_key,
    )
