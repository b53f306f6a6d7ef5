"""Who may have a software option, and for how long: the pure rules behind activations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from crm.features import Feature, add_months, ends_at, ineligibility, version
from oem.segments import SegmentVehicle
from telemetry.vocabulary import PriceModel

FEATURE = Feature(
    code="trailer_assist", name="Trailer assist", description=None, models=["Van 2.2d", "Estate 2.0d"],
    min_software_version="3.2", requires_hardware=["tow_bar", "rear_camera"], conflicts_with=["performance_boost"],
    price_model=PriceModel.YEARLY, price=None, currency=None, trial_days=14,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)  # fmt: skip
VAN = SegmentVehicle(
    id=1, vin="WVWZZZ1KZAW000001", model="Van 2.2d", model_year=2024, software_version="3.10",
    hardware=["tow_bar", "rear_camera"], dealer_id=None,
)  # fmt: skip


def why_not(
    vehicle: SegmentVehicle | None = None,
    kind: str = "trial",
    live: set[str] | None = None,
    trials: set[str] | None = None,
):
    return ineligibility(FEATURE, vehicle or VAN, kind=kind, live=live or set(), trials_had=trials or set())


def test_an_eligible_van_may_have_a_trial_or_a_subscription_but_not_a_one_off_purchase() -> None:
    assert why_not() is None
    assert why_not(kind="subscription") is None
    assert why_not(kind="purchase") == "trailer_assist is sold as a yearly subscription, not as a one-off purchase"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"model": "City EV"}, "trailer_assist is not offered for the City EV (only Van 2.2d, Estate 2.0d)"),
        ({"software_version": "3.1.9"}, "trailer_assist needs software 3.2 or newer; the vehicle runs 3.1.9"),
        ({"software_version": None},
         "trailer_assist needs software 3.2 or newer, and the vehicle's software version is not known"),
        ({"hardware": ["tow_bar"]}, "trailer_assist needs hardware the vehicle lacks: rear_camera"),
    ],
)  # fmt: skip
def test_the_vehicle_must_fit_the_option(change: dict, reason: str) -> None:
    assert why_not(replace(VAN, **change)) == reason


def test_no_second_live_option_no_conflicting_option_and_one_trial_per_vehicle() -> None:
    assert why_not(live={"trailer_assist"}) == "trailer_assist is active or being activated on the vehicle already"
    assert (
        why_not(live={"performance_boost"})
        == "trailer_assist conflicts with the vehicle's active option performance_boost"
    )
    assert why_not(trials={"trailer_assist"}) == "the vehicle has had its trial of trailer_assist already"
    assert why_not(kind="subscription", trials={"trailer_assist"}) is None  # buying after a trial is fine


def test_versions_compare_number_by_number() -> None:
    assert version("2.10") > version("2.9")
    assert version("3.2") == (3, 2)
    assert version("3.2.0") > version("3.2")


def test_a_trial_runs_its_days_and_a_subscription_whole_months_or_years() -> None:
    start = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert ends_at(FEATURE, "trial", start) == datetime(2026, 2, 14, 9, 0, tzinfo=UTC)
    assert ends_at(FEATURE, "subscription", start, 2) == datetime(2028, 1, 31, 9, 0, tzinfo=UTC)
    assert ends_at(replace(FEATURE, price_model=PriceModel.MONTHLY), "subscription", start) == datetime(
        2026, 2, 28, 9, 0, tzinfo=UTC
    )
    assert ends_at(FEATURE, "purchase", start) is None
    assert add_months(datetime(2027, 12, 31, tzinfo=UTC), 2) == datetime(2028, 2, 29, tzinfo=UTC)
