"""The words every layer shares, spelled once: storage checks them (migrations), rules produce
them, the API's schemas and the console show them. StrEnums, so each member is also its string."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITIES_WORST_FIRST = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)


def severity_rank_sql(column: str) -> str:
    """SQL ranking `column` worst first (0: critical), for ORDER BY."""
    whens = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES_WORST_FIRST))
    return f"CASE {column} {whens} END"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLEARED = "cleared"


WORKING_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)  # an advisor still has to act


class System(StrEnum):
    """What part of the vehicle a rule is about: alerts of one vehicle and system (and, for
    per-wheel systems, one wheel) that overlap in time form one incident."""

    COOLING = "cooling"
    OIL = "oil"
    ENGINE = "engine"  # fuel and air metering, ignition, misfire, idle
    EMISSIONS = "emissions"
    TRANSMISSION = "transmission"
    CHARGING = "charging"  # the 12 V system: battery, alternator, regulator
    TRACTION_BATTERY = "traction_battery"
    TYRES = "tyres"
    BRAKES = "brakes"
    CHASSIS = "chassis"
    BODY = "body"
    NETWORK = "network"  # ECUs that stopped talking to each other (U codes)
    DIAGNOSTICS = "diagnostics"  # control modules themselves, and codes nothing more is known of
    TELEMATICS = "telematics"  # the connection: a silent vehicle
    SERVICE = "service"  # the maintenance plan


class AlertResolution(StrEnum):
    """What came of an alert an advisor resolved; an incident's outcome, when the incident is
    resolved, becomes its alerts' resolution."""

    BOOKED = "booked"
    DECLINED = "declined"
    CUSTOMER_UNREACHABLE = "customer_unreachable"
    NOT_OUR_VEHICLE = "not_our_vehicle"
    NO_FAULT_FOUND = "no_fault_found"
    REPAIRED = "repaired"
    CUSTOMER_DECLINED = "customer_declined"
    DUPLICATE = "duplicate"
    OTHER = "other"


class IncidentOutcome(StrEnum):
    """What came of an incident, recorded when it is resolved: the field truth behind a rule."""

    REPAIRED = "repaired"  # with the operation; confirms the rules that raised it
    NO_FAULT_FOUND = "no_fault_found"  # refutes them
    CUSTOMER_DECLINED = "customer_declined"
    DUPLICATE = "duplicate"
    OTHER = "other"


class Powertrain(StrEnum):
    COMBUSTION = "combustion"
    HYBRID = "hybrid"
    ELECTRIC = "electric"


class ServiceKind(StrEnum):
    """What a service visit was; a scheduled one restarts the maintenance plan's interval."""

    SCHEDULED = "scheduled"
    REPAIR = "repair"
    INSPECTION = "inspection"
    TYRES = "tyres"
    RECALL = "recall"


class OfferState(StrEnum):
    """A usage-based offer: open until an advisor turns it into a trial (accepted) or not
    (dismissed), or the usage pattern stops (withdrawn)."""

    OPEN = "open"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"
    WITHDRAWN = "withdrawn"


class HouseholdRole(StrEnum):
    OWNER = "owner"
    DRIVER = "driver"
    FAMILY_MEMBER = "family_member"


class EntitlementKind(StrEnum):
    PURCHASE = "purchase"  # one-off, for the vehicle's life
    SUBSCRIPTION = "subscription"  # monthly or yearly
    TRIAL = "trial"


class EntitlementState(StrEnum):
    """pending until the vehicle accepts; failed with the vehicle's reason; ended when expired or deactivated."""

    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"
    ENDED = "ended"


class CommandAction(StrEnum):
    ENABLE = "enable"
    DISABLE = "disable"


class CommandState(StrEnum):
    """pending -> sent -> accepted | rejected, or timed_out (sent again); superseded by a newer one."""

    PENDING = "pending"
    SENT = "sent"
    TIMED_OUT = "timed_out"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


class PriceModel(StrEnum):
    """How a software option is sold: once, or as a monthly or yearly subscription."""

    ONE_OFF = "one_off"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class CustomerKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class ConsentPurpose(StrEnum):
    """What a customer consents to, purpose by purpose."""

    MAINTENANCE_ALERTS = "maintenance_alerts"
    MARKETING = "marketing"
    LOCATION_HISTORY = "location_history"
    DEALER_DATA_SHARING = "dealer_data_sharing"


class ContactPurpose(StrEnum):
    """Why a dealer contacts a customer; contact pressure treats each differently."""

    SAFETY = "safety"
    SERVICE = "service"
    MARKETING = "marketing"


class CampaignState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"  # vehicles still waiting are not activated
    COMPLETED = "completed"  # every vehicle had its turn


class EventFamily(StrEnum):
    """What a CRM webhook endpoint subscribes to: every event type of the family (alert.raised, ...)."""

    ALERT = "alert"
    SERVICE_DUE = "service_due"
    ACTIVATION = "activation"
    INCIDENT = "incident"  # one per problem, however many alerts it raised


class DeliveryState(StrEnum):
    """A webhook delivery: waiting or being retried, done, or given up on (the dead-letter list)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class Role(StrEnum):
    """What an API key may do: everything, an OEM's side, one dealer's records, or read vehicles."""

    ADMIN = "admin"
    OEM = "oem"
    ADVISOR = "advisor"  # needs a dealer
    VEHICLE_READONLY = "vehicle-readonly"


DAYS_PER_MONTH = 30.4375  # 365.25 / 12: maintenance plans count months of this length
