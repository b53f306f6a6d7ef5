"""Vehicles, their signals, service history and recalls."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.schemas.common import Day, PastMoment, descriptions_of, schema_of
from crm.recalls import Recall, RecallProgress
from crm.records import Vehicle
from crm.services import Service
from telemetry.vin import vin_problem
from telemetry.vocabulary import Powertrain, ServiceKind, Severity


class VehicleIn(BaseModel):
    vin: str = Field(
        min_length=17,
        max_length=17,
        pattern=r"^[A-HJ-NPR-Z0-9]{17}$",
        description="17 characters, VIN alphabet (no I, O, Q); a North American or Chinese VIN"
        " (first character 1-5 or L) must carry its check digit in position 9",
    )
    make: str = Field(min_length=1, max_length=80)
    model: str = Field(min_length=1, max_length=80)
    model_year: int = Field(ge=1981, le=2100)
    powertrain: Powertrain
    owner_customer_id: int | None = None
    dealer_id: int | None = None
    vss_version: str = Field(
        default="6.0",
        pattern=r"^[456](\.[0-9]+)?$",
        description="VSS release the vehicle's software speaks; older names are mapped",
    )
    delivered_on: Day | None = Field(
        default=None, description="Maintenance plans count from here until a first service is recorded"
    )
    registration: str | None = Field(default=None, max_length=20, description="Number plate")
    warranty_start: Day | None = None
    warranty_end: Day | None = None
    preferred_dealer_id: int | None = Field(default=None, description="Where the owner likes to have it serviced")
    software_version: str | None = Field(
        default=None, pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=40, description="e.g. 2.4.1; software options check it"
    )
    hardware: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=100, description="Fitted hardware software options may need, e.g. seat_heaters"
    )

    @model_validator(mode="after")
    def _warranty_order(self) -> VehicleIn:
        _check_warranty(self.warranty_start, self.warranty_end)
        return self

    @field_validator("vin")
    @classmethod
    def _check_vin(cls, value: str) -> str:
        problem = vin_problem(value)
        if problem:
            raise ValueError(problem)
        return value


# what is stored is shown as it is, without the input's ranges: no stored value can make a read fail
class VehicleOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        Vehicle,
        descriptions=descriptions_of(VehicleIn)
        | {"dropped_samples": "Samples the vehicle's own buffer dropped when full, in all, as it last reported"},
    )
):
    pass


def _check_warranty(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValueError("warranty_end is before warranty_start")


class VehicleChange(BaseModel):
    """The fields to change; a field left out stays as it is, null clears it."""

    model_config = ConfigDict(extra="forbid")

    owner_customer_id: int | None = None
    dealer_id: int | None = None
    preferred_dealer_id: int | None = None
    registration: str | None = Field(default=None, max_length=20)
    warranty_start: Day | None = None
    warranty_end: Day | None = None
    delivered_on: Day | None = None
    software_version: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=40)
    hardware: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _warranty_order(self) -> VehicleChange:
        _check_warranty(self.warranty_start, self.warranty_end)
        return self


class RecallIn(BaseModel):
    code: str = Field(min_length=1, max_length=40, description="The manufacturer's campaign code")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    make: str | None = Field(default=None, max_length=80, description="With models and years: the vehicles concerned")
    models: list[str] | None = Field(default=None, max_length=200, description="Null: every model of the make")
    model_year_from: int | None = Field(default=None, ge=1981, le=2100)
    model_year_to: int | None = Field(default=None, ge=1981, le=2100)
    issued_on: Day
    vins: list[str] = Field(default_factory=list, max_length=100_000, description="Vehicles named one by one")

    @model_validator(mode="after")
    def _names_vehicles(self) -> RecallIn:
        if self.make is None and not self.vins:
            raise ValueError("name the vehicles concerned: a make (with models and years) or a list of VINs")
        return self


class RecallOut(schema_of(Recall, descriptions=descriptions_of(RecallIn))):  # type: ignore[misc]  # derived at run time
    pass


class RecallStatus(
    schema_of(  # type: ignore[misc]  # derived at run time
        RecallProgress,
        descriptions=descriptions_of(RecallIn)
        | {"vehicles": "Registered vehicles it concerns", "done": "Of those, how many have had it carried out"},
    )
):
    pass


class PartIn(BaseModel):
    number: str = Field(min_length=1, max_length=60)
    description: str | None = Field(default=None, max_length=200)
    quantity: float = Field(default=1.0, gt=0, le=100_000)


class ServiceIn(BaseModel):
    performed_at: PastMoment = Field(description="When the work was done (RFC 3339 with an offset)")
    odometer_km: float = Field(ge=0, le=5_000_000)
    kind: ServiceKind = Field(
        default=ServiceKind.SCHEDULED, description="A 'scheduled' service restarts the maintenance plan's interval"
    )
    dealer_id: int | None = None
    description: str | None = Field(default=None, max_length=2000)
    branch_id: int | None = None
    operations: list[str] = Field(default_factory=list, max_length=200, description="Labour operations done")
    parts: list[PartIn] = Field(default_factory=list, max_length=500)
    amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2, description="Invoice total")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    invoice_number: str | None = Field(
        default=None, max_length=60, description="Recorded once per dealer: a repeat answers 409"
    )
    recall_code: str | None = Field(default=None, max_length=40, description="The recall this visit carried out")


class PartOut(BaseModel):
    number: str
    description: str | None = None
    quantity: float = 1.0


class ServiceOut(schema_of(Service, descriptions=descriptions_of(ServiceIn))):  # type: ignore[misc]  # derived at run time
    """A visit as stored, without the input's ranges (an old record must still show), its parts typed."""

    parts: list[PartOut]


class ImportLineError(BaseModel):
    line: int = Field(description="Line number in the file, the header being line 1")
    error: str


class ServiceImportOut(BaseModel):
    imported: int
    already_recorded: int = Field(description="Invoices this dealer had recorded before (a re-import)")
    errors: list[ImportLineError]


class VehicleSummary(BaseModel):
    last_seen: datetime | None = Field(description="The vehicle's newest sample of any signal (last 30 days)")
    odometer_km: float | None
    fuel_percent: float | None
    charge_percent: float | None
    state_of_health_percent: float | None
    open_alerts: int
    worst_open_severity: Severity | None
    open_incidents: int = Field(default=0, description="Problems being worked: alerts of one system count once")


class NextService(BaseModel):
    due_on: date
    due_at_km: float
    plan: str


class SignalPoint(BaseModel):
    ts: datetime
    value: float | bool | list[str]


class SignalSeries(BaseModel):
    vin: str
    signal: str
    unit: str | None
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    points: list[SignalPoint]


class BucketOut(BaseModel):
    ts: datetime = Field(description="The bucket's middle")
    min: float
    max: float
    mean: float
    n: int = Field(description="Values in the bucket")


class BucketSeries(BaseModel):
    vin: str
    signal: str
    unit: str | None
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    bucket_s: float = Field(description="Width of a bucket in seconds")
    buckets: list[BucketOut] = Field(description="Non-empty buckets in time order")
