"""The packaged rule library: it loads, and its usage rules find what they promise an OEM."""

from __future__ import annotations

from rules.definitions import load_rules
from rules.engine import RuleEngine
from rules.outcome import VehicleInfo
from tests.rule_harness import CAR, CATALOG, SPEED, batch, drive


def test_the_packaged_rule_library_loads() -> None:
    rules = load_rules(CATALOG)
    kinds = {r.kind for r in rules}
    assert {"threshold", "rate", "stale", "dtc", "anomaly", "trend", "service_plan", "compound"} <= kinds
    assert len({r.id for r in rules if r.kind != "dtc"}) >= 20


def library_engine(*vehicles: VehicleInfo) -> RuleEngine:
    engine = RuleEngine([r for r in load_rules(CATALOG) if r.offer is not None])
    for v in vehicles:
        engine.register(v)
    return engine


def offers_of(outcomes: list) -> list[tuple[str, bool]]:
    return [(o.rule.offer, o.fired) for o in outcomes]


def test_the_library_finds_a_driver_who_tows_and_not_one_who_climbs_a_hill() -> None:
    """Four half-hour stretches at 80 % load and 90 km/h within a month: towing. A 5-minute climb
    at full load does not count, and neither does high load in town (below 50 km/h)."""
    engine = library_engine(CAR)
    day_s = 24 * 3600
    for day in range(4):
        t0 = day * day_s
        not_towing = drive(range(t0, t0 + 300), load=100.0, speed=80.0)  # a short climb
        not_towing += drive(range(t0 + 400, t0 + 2200), load=80.0, speed=40.0)  # town, loaded
        not_towing += drive(range(t0 + 2300, t0 + 2400), load=30.0, speed=90.0)
        assert offers_of(engine.evaluate(batch(not_towing))) == []
    outcomes = []
    for day in range(4, 8):
        t0 = day * day_s
        towing = drive(range(t0, t0 + 1800, 10), load=80.0, speed=90.0)
        towing += drive(range(t0 + 1800, t0 + 1900, 10), load=30.0, speed=90.0)
        outcomes += engine.evaluate(batch(towing))
    assert offers_of(outcomes) == [("trailer_assist", True)]
    assert outcomes[0].explanation().startswith("4 stretches of 10 minutes or more at over 75 % engine load")


def test_the_library_finds_an_ev_driven_beyond_its_comfortable_range() -> None:
    ev = VehicleInfo(2, "electric", "Aurora", "City EV")
    engine = library_engine(ev)
    soc = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
    rows = []
    for trip in range(4):  # four long trips a week apart, each ending under 15 %
        t0 = trip * 7 * 24 * 3600
        rows += [(2, (t0 + s) * 1000, soc, 60.0 - s / 60) for s in range(0, 3000, 30)]
        rows += [(2, (t0 + s) * 1000, SPEED, 110.0) for s in range(0, 3000, 30)]
    outcomes = engine.evaluate(batch(sorted(rows, key=lambda r: r[1])))
    assert offers_of(outcomes) == [("extended_range", True)]
    assert outcomes[0].explanation() == (
        "Driven below 15 % charge 4 times within 30 days: the trips go beyond the comfortable range."
    )
