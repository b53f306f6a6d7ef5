"""Customer records: customers, merges, consents, households, contacts, the 360° view, who to call today."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.alerts import AlertOut
from api.schemas.common import Day, ErrorOut, PastMoment, descriptions_of, schema_of
from api.schemas.features import EntitlementOut, OfferOut
from api.schemas.vehicles import NextService, RecallOut, ServiceOut, VehicleOut, VehicleSummary
from crm.consents import Consent
from crm.contacts import Contact
from crm.customer_merges import Merge, Source
from crm.households import Household, Member
from crm.records import Customer
from telemetry.vocabulary import ConsentPurpose, ContactPurpose, CustomerKind, HouseholdRole


class CustomerIn(BaseModel):
    kind: CustomerKind = CustomerKind.PERSON
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    postcode: str | None = Field(default=None, max_length=20)
    dealer_id: int | None = None


class DuplicateCandidate(BaseModel):
    customer_id: int | None = Field(description="Absent for an advisor when the customer is another dealer's")
    name: str | None
    dealer_id: int | None
    reasons: list[str]
    score: float = Field(description="1.0: the same e-mail; 0.95: the same phone; else the name similarity")


class DuplicateOut(ErrorOut):
    candidates: list[DuplicateCandidate]


Purpose = ConsentPurpose


class ConsentIn(BaseModel):
    purpose: Purpose
    granted: bool = Field(description="false: withdrawn (in force at once)")
    given_at: PastMoment | None = Field(default=None, description="When the customer gave it (RFC 3339); default now")
    source: str = Field(min_length=1, max_length=200, description="Where: 'web form', 'service desk', 'app', ...")


class ConsentOut(schema_of(Consent, descriptions=descriptions_of(ConsentIn))):  # type: ignore[misc]  # derived at run time
    pass


class ConsentState(BaseModel):
    granted: bool
    given_at: datetime
    source: str


class ConsentsOut(BaseModel):
    current: dict[Purpose, ConsentState] = Field(
        description="Per purpose; a purpose never asked is absent: not granted"
    )
    history: list[ConsentOut]


class CustomerOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        Customer,
        descriptions=descriptions_of(CustomerIn) | {"merged_into": "Set on a source record: its golden record"},
    )
):
    pass


MergeField = Literal["kind", "name", "email", "phone", "postcode"]


class PairMember(BaseModel):
    id: int | None = Field(description="Absent for an advisor when the record is another dealer's")
    name: str | None
    email: str | None
    phone: str | None
    postcode: str | None
    dealer_id: int | None


class DuplicatePairOut(BaseModel):
    customers: list[PairMember] = Field(description="The two records, older first")
    reasons: list[str]
    score: float


class MergeIn(BaseModel):
    source_id: int = Field(description="The record that goes behind the golden record")
    by: str = Field(min_length=1, max_length=120, description="Who decided it")
    prefer_source: list[MergeField] = Field(
        default_factory=list,
        description="Fields the golden record takes from the source even where it has a value of its own",
    )


class UnmergeIn(BaseModel):
    by: str = Field(min_length=1, max_length=120)


class MergeOut(
    schema_of(  # type: ignore[misc]  # derived at run time
        Merge,
        descriptions={
            "golden_before": "The golden record's fields the merge changed, before",
            "moved": "Per table, the ids moved from the source to the golden record",
        },
    )
):
    pass


class SourceRecord(schema_of(Source)):  # type: ignore[misc]  # derived at run time
    pass


class MemberIn(BaseModel):
    customer_id: int
    role: HouseholdRole
    start_on: Day | None = Field(default=None, description="Default: today")


class MemberOut(schema_of(Member)):  # type: ignore[misc]  # derived at run time
    pass


class HouseholdIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    dealer_id: int | None = None
    members: list[MemberIn] = Field(default_factory=list, max_length=50)


class HouseholdOut(schema_of(Household)):  # type: ignore[misc]  # derived at run time
    members: list[MemberOut] = Field(description="Current members first, then past ones")


class EndMembershipIn(BaseModel):
    end_on: Day | None = Field(default=None, description="Default: today")


class VehicleView(VehicleOut):
    latest: VehicleSummary
    open_recalls: list[RecallOut]
    options: list[EntitlementOut] = Field(description="Software options pending or active")
    offers: list[OfferOut] = Field(description="Open offers of options the vehicle's use suggests")
    next_service: NextService | None = Field(description="From the last scheduled service (or delivery) and the plan")


class CustomerServiceOut(ServiceOut):
    vin: str


class TimelineEntry(BaseModel):
    at: datetime
    kind: Literal["alert", "service", "consent", "contact", "activation"]
    vin: str | None
    ref_id: int
    summary: str


class ContactIn(BaseModel):
    channel: Literal["phone", "email", "sms", "letter", "in_person", "app"]
    purpose: ContactPurpose = Field(
        description="safety (critical alert, recall), service (other alerts, service due) or marketing (offers)"
    )
    outcome: Literal["reached", "no_answer", "voicemail", "booked", "declined", "sent"]
    by: str = Field(min_length=1, max_length=120)
    vin: str | None = Field(default=None, min_length=17, max_length=17, description="The vehicle it was about")
    alert_id: int | None = Field(default=None, description="The alert it was about (its vehicle by default)")
    dealer_id: int | None = None
    note: str | None = Field(default=None, max_length=4000)
    contacted_at: PastMoment | None = Field(default=None, description="Default: now")


class ContactOut(schema_of(Contact, descriptions=descriptions_of(ContactIn))):  # type: ignore[misc]  # derived at run time
    pass


class CustomerRecord(CustomerOut):
    sources: list[SourceRecord] = Field(description="Source records merged into this golden record, as they were")
    household: HouseholdOut | None = Field(description="The customer's current household, with its members")
    vehicles: list[VehicleView]
    alerts: list[AlertOut] = Field(description="Alerts on the customer's vehicles, newest first")
    services: list[CustomerServiceOut] = Field(description="Service history of the customer's vehicles, newest first")
    consents: dict[Purpose, ConsentState] = Field(description="In force per purpose; absent: not granted")
    contacts: list[ContactOut] = Field(description="Contacts with the customer, newest first")
    timeline: list[TimelineEntry] = Field(
        description="Alerts, services, consents, contacts and software-option events, newest first (at most 200)"
    )


class SignalHeld(BaseModel):
    values: int
    first: datetime
    last: datetime
    fetch: str = Field(description="Where to fetch the values")


class CustomerExport(BaseModel):
    exported_at: datetime
    record: CustomerRecord
    consent_history: list[ConsentOut]
    telemetry: dict[str, dict[str, SignalHeld]] = Field(description="Per VIN, per VSS path: what is stored")


class RuleVerdictOut(BaseModel):
    rule: str = Field(description="safety_always, maintenance_consent, quiet_after_service, marketing_consent, "
                      "marketing_per_quarter, not_again_so_soon")  # fmt: skip
    passed: bool
    explanation: str


class ReasonOut(BaseModel):
    kind: Literal["alert", "recall", "warranty", "offer"]
    purpose: ContactPurpose
    summary: str
    due_at: datetime | None
    alert_id: int | None = Field(description="For an incident: the alert that names its likely cause")
    incident_id: int | None = Field(default=None, description="The incident (kind 'alert'): GET /incidents/{id}")
    offer_id: int | None = Field(default=None, description="POST /offers/{id}/trial starts the trial")


class RecommendationOut(BaseModel):
    vin: str
    model: str
    customer_id: int
    customer_name: str
    purpose: ContactPurpose = Field(description="The strongest of the reasons")
    due_at: datetime | None = Field(description="The earliest of the reasons' due dates")
    reasons: list[ReasonOut]
    allowed: bool = Field(description="Whether contact pressure lets the call happen today")
    rules: list[RuleVerdictOut] = Field(description="Each contact-pressure rule that applies, with why")
