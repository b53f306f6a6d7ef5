"""Fleet health for OEMs: aggregates and vehicles, never a customer."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from telemetry.vocabulary import Severity


class SystemRateOut(BaseModel):
    affected: int = Field(description="Vehicles of the group with an open incident of this system")
    per_1000: float = Field(description="The same per 1,000 vehicles of the group")


class FleetGroupOut(BaseModel):
    group: str = Field(description="The model, model year or software version")
    vehicles: int
    affected: int = Field(description="Vehicles with any open incident")
    per_1000: float
    systems: dict[str, SystemRateOut] = Field(description="By system: cooling, charging, tyres, ...")


class WeeklyRateOut(BaseModel):
    week: datetime = Field(description="Monday 00:00 UTC of the ISO week")
    group: str
    system: str
    affected: int = Field(description="Vehicles with an incident of the system open at any time that week")
    vehicles: int
    per_1000: float


class FleetVehicleOut(BaseModel):
    vin: str
    model: str
    model_year: int
    software_version: str | None
    incident_id: int
    system: str
    severity: Severity
    title: str
    first_seen: datetime


class VersionOut(BaseModel):
    version: str = Field(description="'unknown' for vehicles that never reported one")
    vehicles: int
    share: float = Field(description="Of the model's vehicles")
    affected: int = Field(description="Vehicles on this version with an open incident")
    per_1000: float
    z: float | None = Field(description="Two-proportion z score against the model's other versions")
    higher_than_model: bool = Field(description="z >= 2.58 (99 %) with at least 3 affected vehicles")


class ModelVersionsOut(BaseModel):
    model: str
    vehicles: int
    affected: int
    per_1000: float = Field(description="The model's average, per 1,000 vehicles")
    versions: list[VersionOut]


class OptionMonthOut(BaseModel):
    feature_code: str
    month: str = Field(description="YYYY-MM, UTC")
    trials_started: int
    trials_converted: int = Field(description="Trials of the month followed by a purchase or subscription")
    paid_activations: int
    renewals: int
    cancellations: int
    expiries: int
    offers: int = Field(description="Usage-based offers found in the month")
    offers_to_trial: int
    offers_to_paid: int
    trial_conversion: float | None
    offer_to_trial: float | None
    offer_trial_to_paid: float | None
