"""Segments and campaigns: the OEM's filters over the fleet and activations over a segment.
Vehicles and counts only, never a customer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import schema_of
from oem.campaigns import Campaign
from oem.segments import SegmentVehicle, SizedSegment
from telemetry.bounds import SOFTWARE_VERSION

VERSION = SOFTWARE_VERSION.pattern  # what vehicles report: dotted numbers
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Kind = Literal["purchase", "subscription", "trial"]


class SegmentFilter(BaseModel):
    """Every field narrows the segment; a field left out does not. Ranges are those of the records."""

    model_config = ConfigDict(extra="forbid")

    models: list[Annotated[str, Field(min_length=1, max_length=80)]] | None = Field(default=None, max_length=200)
    model_year_from: int | None = Field(default=None, ge=1981, le=2100)
    model_year_to: int | None = Field(default=None, ge=1981, le=2100)
    software_versions: list[Annotated[str, Field(pattern=VERSION)]] | None = Field(default=None, max_length=200)
    min_software_version: str | None = Field(default=None, pattern=VERSION, description="This version or newer")
    below_software_version: str | None = Field(default=None, pattern=VERSION, description="Older than this")
    hardware: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(
        default=None, max_length=50, description="Vehicles fitted with all of these"
    )
    dealer_ids: list[int] | None = Field(default=None, max_length=1000, description="Vehicles of these dealers")
    offer_state: Literal["open", "accepted", "dismissed", "withdrawn"] | None = Field(
        default=None, description="Vehicles with a usage-based offer of `offer_feature` in this state"
    )
    offer_feature: Code | None = Field(default=None, description="Default: `eligible_for`")
    eligible_for: Code | None = Field(default=None, description="Only vehicles that may have this option now")
    eligible_kind: Kind = "trial"

    @model_validator(mode="after")
    def _consistent(self) -> SegmentFilter:
        if self.model_year_from and self.model_year_to and self.model_year_to < self.model_year_from:
            raise ValueError("model_year_to is before model_year_from")
        if self.offer_state is not None and (self.offer_feature or self.eligible_for) is None:
            raise ValueError("offer_state needs offer_feature (or eligible_for)")
        return self


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    filter: SegmentFilter


class SegmentOut(schema_of(SizedSegment, descriptions={"vehicles": "Members now"})):  # type: ignore[misc]  # derived at run time
    filter: SegmentFilter


class SegmentVehicleOut(schema_of(SegmentVehicle, exclude={"id"})):  # type: ignore[misc]  # derived at run time
    pass


class CampaignTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment_id: int
    feature_code: Code
    kind: Kind = Field(default="trial", description="trial: offer a trial; purchase/subscription: activate")


class ReasonCount(BaseModel):
    reason: str
    vehicles: int


class DryRunOut(BaseModel):
    segment_vehicles: int
    eligible: int = Field(description="Vehicles a campaign would activate now")
    not_eligible: list[ReasonCount] = Field(description="Why the others would not be, most frequent first")


class CampaignIn(CampaignTarget):
    name: str = Field(min_length=1, max_length=120)
    rate_per_minute: int = Field(default=600, ge=1, le=60000, description="Vehicles released per minute")


class ProgressOut(BaseModel):
    vehicles: int
    waiting: int = Field(description="Not released yet (the rate, or the campaign is paused)")
    queued: int = Field(description="Released; the command waits for the dispatcher")
    sent: int = Field(description="Sent, no answer yet")
    timed_out: int = Field(description="No answer in time: sent again when the vehicle is seen or the retry is due")
    acknowledged: int
    rejected: int
    skipped: int = Field(description="Not eligible when its turn came")
    cancelled: int = Field(description="Still waiting when the campaign was cancelled")
    retried: int = Field(description="Commands sent more than once")
    rejections: dict[str, int] = Field(description="The vehicles' reasons, with counts")
    skip_reasons: dict[str, int]


class CampaignOut(schema_of(Campaign)):  # type: ignore[misc]  # derived at run time
    progress: ProgressOut
