"""The engine routes each rule to its signal, its scope and known vehicles, whatever the batch order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.definitions import parse_rules
from rules.engine import RuleEngine
from rules.outcome import VehicleInfo
from telemetry.catalog import default_catalog
from telemetry.rulebatch import RuleBatch
from tests.naive import threshold_reference

CATALOG = default_catalog()
COOLANT = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
HV_TEMP = "Vehicle.Powertrain.TractionBattery.Temperature.Average"
RULES = parse_rules(
    f"""
[[rule]]
id = "coolant_warm"
kind = "threshold"
signal = "{COOLANT}"
above = 105.0
for = "5s"
clear_below = 100.0
[[rule]]
id = "coolant_hot"
kind = "threshold"
signal = "{COOLANT}"
above = 110.0
for = "3s"
scope = {{ powertrain = ["combustion"] }}
[[rule]]
id = "hv_hot"
kind = "threshold"
signal = "{HV_TEMP}"
above = 55.0
for = "2s"
scope = {{ powertrain = ["electric"] }}
""",
    CATALOG,
    "test",
)
POWERTRAIN = {10: "combustion", 11: "electric", 12: "hybrid"}  # vehicle 13 is not registered


def engine() -> RuleEngine:
    e = RuleEngine(RULES)
    for vid, powertrain in POWERTRAIN.items():
        e.register(VehicleInfo(vid, powertrain, "Aurora", "X"))
    return e


sample = st.tuples(
    st.sampled_from([10, 11, 12, 13]),
    st.integers(0, 60).map(lambda s: s * 1000),
    st.sampled_from([COOLANT, HV_TEMP, "Vehicle.Speed"]),
    st.floats(90, 120),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(sample, max_size=150), st.randoms())
def test_engine_matches_the_reference_per_rule(samples: list[tuple], rnd: object) -> None:
    shuffled = list(samples)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    batch = RuleBatch(
        np.array([s[0] for s in shuffled], dtype=np.int32),
        np.array([s[1] for s in shuffled], dtype=np.int64),
        np.array([CATALOG[s[2]].id for s in shuffled], dtype=np.int16),
        np.array([s[3] for s in shuffled], dtype=np.float64),
    )
    got = sorted((o.rule.id, o.vehicle_id, o.fired, o.ts) for o in engine().evaluate(batch))
    want = []
    for rule in RULES:
        mine = [  # in the batch's order: for equal (vehicle, time) the first sample wins, as in storage
            (vid, ts, value)
            for vid, ts, path, value in shuffled
            if path == rule.conditions[0].signal.path
            and vid in POWERTRAIN
            and rule.scope.applies(powertrain=POWERTRAIN[vid], make="Aurora", model="X")
        ]
        want += [(rule.id, e[0], e[1] == 1, e[2]) for e in threshold_reference(mine, rule.conditions[0].kernel)]
    assert got == sorted(want)
