"""Request and response models of the HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from telemetry.bounds import day_problem, moment_problem, past_moment_problem
from telemetry.vin import vin_problem
from telemetry.vocabulary import AlertState, ConsentPurpose, ContactPurpose, Powertrain, Severity

T = TypeVar("T")
Resolution = Literal["booked", "declined", "customer_unreachable", "not_our_vehicle", "no_fault_found"]


def _require_offset(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone offset, e.g. 2026-11-22T09:30:00+01:00")
    return value


def _checked(problem_of: Callable[[T], str | None]) -> Callable[[T], T]:
    def check(value: T) -> T:
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value

    return check


# every date and time a person gives has a range (telemetry/bounds.py, docs/security.md)
Day = Annotated[date, AfterValidator(_checked(day_problem))]  # 1950-01-01 .. 2100-12-31
# a time a person gives: never ambiguous, 1950 .. 2100
Moment = Annotated[datetime, AfterValidator(_require_offset), AfterValidator(_checked(moment_problem))]
# a time in a query, where a missing offset means UTC: 1950 .. 2100
AnyMoment = Annotated[datetime, AfterValidator(_checked(moment_problem))]
# a time something happened: 1950 .. now + 5 minutes
PastMoment = Annotated[datetime, AfterValidator(_require_offset), AfterValidator(_checked(past_moment_problem))]


class ErrorOut(BaseModel):
    detail: str


class FieldErrorOut(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query or path, then the field")
    msg: str
    type: str


class InvalidOut(ErrorOut):
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="Per field, when the request did not match its schema"
    )


AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "The body could not be read (not UTF-8 text)"},
    401: {"model": ErrorOut, "description": "No API key, or an unknown or revoked one"},
    403: {"model": ErrorOut, "description": "The key's role may not do this"},
    422: {"model": InvalidOut, "description": "Invalid input: a field, or a business rule (see `detail`)"},
}
# what endpoints on one record answer: the auth errors, and 404 (also for another dealer's record)
RECORD_ERRORS: dict[int | str, dict[str, object]] = AUTH_ERRORS | {404: {"model": ErrorOut}}


class DealerIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)


class DealerOut(DealerIn):
    id: int
    created_at: datetime


class CustomerIn(BaseModel):
    kind: Literal["person", "company"] = "person"
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


class ConsentOut(BaseModel):
    id: int
    customer_id: int
    purpose: Purpose
    granted: bool
    given_at: datetime
    source: str
    recorded_at: datetime


class ConsentState(BaseModel):
    granted: bool
    given_at: datetime
    source: str


class ConsentsOut(BaseModel):
    current: dict[Purpose, ConsentState] = Field(
        description="Per purpose; a purpose never asked is absent: not granted"
    )
    history: list[ConsentOut]


class CustomerOut(CustomerIn):
    id: int
    merged_into: int | None = Field(default=None, description="Set on a source record: its golden record")
    created_at: datetime


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


class MergeOut(BaseModel):
    id: int
    golden_id: int
    source_id: int
    merged_at: datetime
    merged_by: str
    reasons: list[str]
    golden_before: dict[str, object] = Field(description="The golden record's fields the merge changed, before")
    golden_after: dict[str, object]
    moved: dict[str, list[int]] = Field(description="Per table, the ids moved from the source to the golden record")
    unmerged_at: datetime | None
    unmerged_by: str | None


class SourceRecord(BaseModel):
    customer_id: int
    kind: Literal["person", "company"]
    name: str
    email: str | None
    phone: str | None
    postcode: str | None
    dealer_id: int | None
    created_at: datetime
    merge_id: int
    merged_at: datetime
    merged_by: str
    reasons: list[str]


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


class VehicleOut(VehicleIn):
    id: int
    created_at: datetime
    # what is stored is shown as it is: the input ranges must never make a read fail
    delivered_on: date | None
    warranty_start: date | None
    warranty_end: date | None


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


class BranchIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    city: str | None = Field(default=None, max_length=120)
    postcode: str | None = Field(default=None, max_length=20)


class BranchOut(BranchIn):
    id: int
    dealer_id: int
    created_at: datetime


HouseholdRole = Literal["owner", "driver", "family_member"]


class MemberIn(BaseModel):
    customer_id: int
    role: HouseholdRole
    start_on: Day | None = Field(default=None, description="Default: today")


class MemberOut(BaseModel):
    id: int
    household_id: int
    customer_id: int
    customer_name: str
    role: HouseholdRole
    start_on: date
    end_on: date | None


class HouseholdIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    dealer_id: int | None = None
    members: list[MemberIn] = Field(default_factory=list, max_length=50)


class HouseholdOut(BaseModel):
    id: int
    name: str
    dealer_id: int | None
    created_at: datetime
    members: list[MemberOut] = Field(description="Current members first, then past ones")


class EndMembershipIn(BaseModel):
    end_on: Day | None = Field(default=None, description="Default: today")


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


class RecallOut(BaseModel):
    id: int
    code: str
    title: str
    description: str | None
    make: str | None
    models: list[str] | None
    model_year_from: int | None
    model_year_to: int | None
    issued_on: date


class RecallStatus(RecallOut):
    vehicles: int = Field(description="Registered vehicles it concerns")
    done: int = Field(description="Of those, how many have had it carried out")


ServiceKind = Literal["scheduled", "repair", "inspection", "tyres", "recall"]


class PartIn(BaseModel):
    number: str = Field(min_length=1, max_length=60)
    description: str | None = Field(default=None, max_length=200)
    quantity: float = Field(default=1.0, gt=0, le=100_000)


class ServiceIn(BaseModel):
    performed_at: PastMoment = Field(description="When the work was done (RFC 3339 with an offset)")
    odometer_km: float = Field(ge=0, le=5_000_000)
    kind: ServiceKind = Field(
        default="scheduled", description="A 'scheduled' service restarts the maintenance plan's interval"
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


class ServiceOut(ServiceIn):
    id: int
    vehicle_id: int
    performed_at: datetime  # shown as stored: the input range must never make a read fail
    recall_id: int | None = None
    created_at: datetime


class ImportLineError(BaseModel):
    line: int = Field(description="Line number in the file, the header being line 1")
    error: str


class ServiceImportOut(BaseModel):
    imported: int
    already_recorded: int = Field(description="Invoices this dealer had recorded before (a re-import)")
    errors: list[ImportLineError]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    vin: str
    rule_id: str
    rule_version: int
    severity: Severity
    state: AlertState
    title: str
    explanation: str
    first_seen: datetime
    last_seen: datetime
    cleared_at: datetime | None
    occurrences: int
    peak_value: float | None
    evidence: dict[str, object]
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: Resolution | None = None
    note: str | None = None
    assigned_to: str | None = None
    assigned_at: datetime | None = None


class QueuedAlertOut(AlertOut):
    due_at: datetime = Field(description="The trend's projected date, or raised + 1 day / 7 days / 30 days by severity")
    customer_id: int | None
    customer_name: str | None


class AssignIn(BaseModel):
    to: str | None = Field(min_length=1, max_length=120, description="The advisor; null puts it back in the queue")


class NoteIn(BaseModel):
    author: str = Field(min_length=1, max_length=120)
    text: str = Field(min_length=1, max_length=4000)


class NoteOut(NoteIn):
    id: int
    alert_id: int
    created_at: datetime


class AcknowledgeIn(BaseModel):
    by: str = Field(min_length=1, max_length=120, description="Who takes the alert")
    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(BaseModel):
    by: str = Field(min_length=1, max_length=120)
    resolution: Resolution
    note: str | None = Field(default=None, max_length=2000)


class VehicleSummary(BaseModel):
    last_seen: datetime | None = Field(description="Newest of the values below (last 30 days)")
    odometer_km: float | None
    fuel_percent: float | None
    charge_percent: float | None
    state_of_health_percent: float | None
    open_alerts: int
    worst_open_severity: Severity | None


class NextService(BaseModel):
    due_on: date
    due_at_km: float
    plan: str


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
    price_model: Literal["one_off", "monthly", "yearly"]
    price: Decimal | None = Field(default=None, ge=0, max_digits=10, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    trial_days: int | None = Field(default=None, ge=1, le=365, description="Null: no trial")


class FeatureOut(FeatureIn):
    created_at: datetime


EntitlementKind = Literal["purchase", "subscription", "trial"]


class ActivationIn(BaseModel):
    kind: EntitlementKind = Field(description="purchase (one-off), subscription (monthly or yearly) or trial")
    periods: int = Field(default=1, ge=1, le=120, description="Subscription: months or years paid for")
    purchase_reference: str | None = Field(default=None, max_length=120)


class RenewalIn(BaseModel):
    periods: int = Field(default=1, ge=1, le=120, description="Months or years added to the subscription")


class DeactivationIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CommandOut(BaseModel):
    id: str
    action: Literal["enable", "disable"]
    state: Literal["pending", "sent", "timed_out", "accepted", "rejected", "superseded"]
    attempts: int
    sent_at: datetime | None
    acked_at: datetime | None
    reason: str | None = Field(description="The vehicle's, when it rejected the command")


class EntitlementOut(BaseModel):
    id: int
    vin: str
    feature_code: str
    kind: EntitlementKind
    state: Literal["pending", "active", "failed", "ended"] = Field(
        description="pending until the vehicle accepts; failed with the vehicle's reason; ended when expired or"
        " deactivated"
    )
    granted_by: str
    dealer_id: int | None
    purchase_reference: str | None
    starts_at: datetime
    ends_at: datetime | None = Field(description="Null: a purchase, for the vehicle's life")
    ended_reason: str | None
    created_at: datetime
    updated_at: datetime
    last_command: CommandOut | None


class OfferOut(BaseModel):
    id: int
    vin: str
    feature_code: str
    rule_id: str = Field(description="The usage rule that found it")
    state: Literal["open", "accepted", "dismissed", "withdrawn"]
    reason: str = Field(description="What in the vehicle's use suggests the option")
    first_seen: datetime
    last_seen: datetime
    closed_at: datetime | None
    closed_by: str | None
    entitlement_id: int | None = Field(description="The trial it became")
    created_at: datetime


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


class ContactOut(BaseModel):
    id: int
    customer_id: int
    vin: str | None
    dealer_id: int | None
    alert_id: int | None
    channel: str
    purpose: ContactPurpose
    outcome: str
    note: str | None
    contacted_at: datetime
    by: str
    created_at: datetime


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


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    vin: str | None
    reason: str
    detail: str
    signal: str | None
    sample_ts: datetime | None
    payload: str | None = Field(description="The raw payload as text, when it is UTF-8")
    payload_base64: str
    payload_size: int


class ComponentStatus(BaseModel):
    ok: bool
    detail: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentStatus
    broker: ComponentStatus
    samples_layout: str


EventFamily = Literal["alert", "service_due", "activation"]


class WebhookIn(BaseModel):
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2000, description="Receives a POST per event")
    event_types: list[EventFamily] = Field(
        min_length=1, description="Families delivered: alert.*, service_due.*, activation.*"
    )
    dealer_id: int | None = Field(default=None, description="Only this dealer's vehicles; null: every dealer")
    description: str | None = Field(default=None, max_length=200)
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="Signing secret; default: a new random one"
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    event_types: list[EventFamily]
    dealer_id: int | None
    description: str | None
    active: bool
    created_at: datetime
    pending: int = Field(default=0, description="Deliveries waiting or being retried")
    dead: int = Field(default=0, description="Deliveries given up on (see /deliveries?state=dead)")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: verify `Telemetry-Signature` with it")


class DeliveryOut(BaseModel):
    endpoint_id: int
    event_id: UUID
    event_type: str
    created_at: datetime
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    payload: dict[str, object]


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
    alert_id: int | None
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


class EntitlementEventOut(BaseModel):
    id: int
    at: datetime
    event: str = Field(description="requested, sent, resent, timed_out, active, failed, renewed, expired, disabled,"
                       " switched_off")  # fmt: skip
    detail: str
    by: str


class EntitlementDetail(EntitlementOut):
    events: list[EntitlementEventOut] = Field(description="The audit log, oldest first")


class VehicleCommandOut(CommandOut):
    entitlement_id: int | None
    feature_code: str
    expires_at: datetime | None
    timed_out_at: datetime | None
    created_at: datetime


class OfferTrialOut(BaseModel):
    offer: OfferOut
    entitlement: EntitlementOut


class DismissIn(BaseModel):
    by: str = Field(min_length=1, max_length=120)
