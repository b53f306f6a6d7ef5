"""Software options: the catalog, entitlements and their commands, usage-based offers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import descriptions_of, schema_of
from commands.vehicle_commands import Command
from crm.entitlements import Entitlement, Event
from crm.features import Feature
from telemetry.storage.offers import Offer
from telemetry.vocabulary import CommandAction, CommandState, EntitlementKind, PriceModel

FeatureCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


class FeatureIn(BaseModel):
    code: FeatureCode
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    models: list[str] | None = Field(default=None, max_length=200, description="Null: every model")
    min_software_version: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=40)
    requires_hardware: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=50
    )
    conflicts_with: list[FeatureCode] = Field(default_factory=list, max_length=50)
    price_model: PriceModel
    price: Decimal | None = Field(default=None, ge=0, max_digits=10, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    trial_days: int | None = Field(default=None, ge=1, le=365, description="Null: no trial")


class FeatureOut(schema_of(Feature, descriptions=descriptions_of(FeatureIn))):  # type: ignore[misc]  # derived at run time
    pass


class ActivationIn(BaseModel):
    kind: EntitlementKind = Field(description="purchase (one-off), subscription (monthly or yearly) or trial")
    periods: int = Field(default=1, ge=1, le=120, description="Subscription: months or years paid for")
    purchase_reference: str | None = Field(default=None, max_length=120)


class RenewalIn(BaseModel):
    periods: int = Field(default=1, ge=1, le=120, description="Months or years added to the subscription")


class DeactivationIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CommandOut(BaseModel):
    """An entitlement's newest command (the part of `VehicleCommandOut` an entitlement shows)."""

    id: str
    action: CommandAction
    state: CommandState
    attempts: int
    sent_at: datetime | None
    acked_at: datetime | None
    reason: str | None = Field(description="The vehicle's, when it rejected the command")


class EntitlementOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        Entitlement,
        descriptions={
            "state": "pending until the vehicle accepts; failed with the vehicle's reason; ended when expired or"
            " deactivated",
            "ends_at": "Null: a purchase, for the vehicle's life",
        },
    )
):
    """An entitlement as stored, its newest command typed."""

    last_command: CommandOut | None


class OfferOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        Offer,
        descriptions={
            "rule_id": "The usage rule that found it",
            "reason": "What in the vehicle's use suggests the option",
            "entitlement_id": "The trial it became",
        },
    )
):
    pass


class EntitlementEventOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        Event,
        descriptions={
            "event": "requested, sent, resent, timed_out, active, failed, renewed, expired, disabled, switched_off"
        },
    )
):
    pass


class EntitlementDetail(EntitlementOut):
    events: list[EntitlementEventOut] = Field(description="The audit log, oldest first")


class VehicleCommandOut(schema_of(Command, descriptions={"reason": "The vehicle's, when it rejected the command"})):  # type: ignore[misc]  # derived at run time
    pass


class OfferTrialOut(BaseModel):
    offer: OfferOut
    entitlement: EntitlementOut


class DismissIn(BaseModel):
    by: str = Field(min_length=1, max_length=120)
