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
