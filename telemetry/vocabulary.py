"""The words every layer shares, spelled once: storage checks them (migrations), rules produce
them, the API's schemas and the console show them. StrEnums, so each member is also its string."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITIES_WORST_FIRST = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLEARED = "cleared"


WORKING_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)  # an advisor still has to act


class Powertrain(StrEnum):
    COMBUSTION = "combustion"
    HYBRID = "hybrid"
    ELECTRIC = "electric"


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


DAYS_PER_MONTH = 30.4375  # 365.25 / 12: maintenance plans count months of this length
