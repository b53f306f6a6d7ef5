"""Software options: whether a vehicle may have one, and for how long an entitlement runs.
Pure functions over the catalog row and the vehicle; storage and the API call them."""

from __future__ import annotations

import calendar
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from telemetry.vocabulary import PriceModel

KINDS = ("purchase", "subscription", "trial")


@dataclass(frozen=True, slots=True)
class Feature:
    """A software option of the catalog, as stored."""

    code: str
    name: str
    description: str | None
    models: list[str] | None  # None: every model
    min_software_version: str | None
    requires_hardware: list[str]
    conflicts_with: list[str]
    price_model: PriceModel
    price: Decimal | None
    currency: str | None
    trial_days: int | None  # None: no trial
    created_at: datetime


def version(text: str) -> tuple[int, ...]:
    """'2.10.1' -> (2, 10, 1): compared number by number, so 2.10 is newer than 2.9."""
    return tuple(int(part) for part in text.split("."))


class Fitment(Protocol):
    """What eligibility reads of a vehicle (a record, a segment member, a vehicle to call about)."""

    @property
    def model(self) -> str: ...

    @property
    def software_version(self) -> str | None: ...

    @property
    def hardware(self) -> list[str]: ...


def ineligibility(
    feature: Feature,
    vehicle: Fitment,
    *,
    kind: str,
    live: Collection[str],
    trials_had: Collection[str],
) -> str | None:
    """Why the vehicle cannot have the option as `kind`, or None when it can. `live` are the
    vehicle's pending or active options, `trials_had` the options it has ever had a trial of."""
    code, models = feature.code, feature.models
    if models is not None and vehicle.model not in models:
        return f"{code} is not offered for the {vehicle.model} (only {', '.join(models)})"
    wanted = feature.min_software_version
    if wanted is not None:
        have = vehicle.software_version
        if have is None:
            return f"{code} needs software {wanted} or newer, and the vehicle's software version is not known"
        if version(have) < version(wanted):
            return f"{code} needs software {wanted} or newer; the vehicle runs {have}"
    missing = [h for h in feature.requires_hardware if h not in vehicle.hardware]
    if missing:
        return f"{code} needs hardware the vehicle lacks: {', '.join(missing)}"
    if code in live:
        return f"{code} is active or being activated on the vehicle already"
    clashing = sorted(set(feature.conflicts_with) & set(live))
    if clashing:
        return f"{code} conflicts with the vehicle's active option {', '.join(clashing)}"
    return _kind_problem(feature, kind, trials_had)


def _kind_problem(feature: Feature, kind: str, trials_had: Collection[str]) -> str | None:
    code, price_model = feature.code, feature.price_model
    if kind == "trial":
        if feature.trial_days is None:
            return f"{code} has no trial"
        if code in trials_had:
            return f"the vehicle has had its trial of {code} already"
    elif kind == "purchase" and price_model != "one_off":
        return f"{code} is sold as a {price_model} subscription, not as a one-off purchase"
    elif kind == "subscription" and price_model == "one_off":
        return f"{code} is sold as a one-off purchase, not as a subscription"
    return None


def ends_at(feature: Feature, kind: str, starts_at: datetime, periods: int = 1) -> datetime | None:
    """A trial runs its days; a subscription `periods` months or years; a purchase for good."""
    if kind == "trial":
        if feature.trial_days is None:
            raise ValueError(f"{feature.code} has no trial")  # ineligibility says so first
        return starts_at + timedelta(days=feature.trial_days)
    if kind == "subscription":
        months = periods * (12 if feature.price_model == "yearly" else 1)
        return add_months(starts_at, months)
    return None


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1: 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
