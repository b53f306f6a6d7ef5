"""What each rule kind and combination tells a service advisor, through the engine as it runs live."""

from __future__ import annotations

import numpy as np
import pytest

from rules.definitions import parse_rules
from rules.engine import RuleEngine
from rules.kernels.service import DAY_MS
from rules.outcome import VehicleInfo
from telemetry import dtc
from telemetry.errors import RuleDefinitionError
from telemetry.rulebatch import RuleBatch
from tests.rule_harness import CATALOG, COOLANT, HOUR, LOAD, RPM, SPEED, TYRE, batch, drive, engine_for


def test_threshold_explanation_has_the_numbers_and_the_context() -> None:
    engine = engine_for(f"""
[[rule]]
id = "coolant_hot"
kind = "threshold"
signal = "{COOLANT}"
above = 110.0
for = "30s"
context = {{ rpm = "{RPM}" }}
explanation = "coolant {{peak:.0f}} {{unit}} for {{duration}} at {{rpm:,.0f}} rpm"
""")
    [fired] = engine.evaluate(batch(drive(range(46), coolant=lambda t: 112 + t % 7, rpm=2300)))
    assert fired.explanation() == "coolant 118 °C for 30 s at 2,300 rpm"


def test_hard_level_raises_the_same_alert_to_critical() -> None:
    engine = engine_for(f"""
[[rule]]
id = "coolant"
kind = "threshold"
signal = "{COOLANT}"
above = 105.0
for = "10s"
clear_below = 100.0
severity = "warning"
hard = {{ above = 115.0, for = "5s" }}
""")
    rows = drive(range(20), coolant=108) + drive(range(20, 40), coolant=118) + drive(range(40, 60), coolant=95)
    outcomes = engine.evaluate(batch(rows))
    assert [(o.fired, o.severity, o.ts // 1000) for o in outcomes] == [
        (True, "warning", 10),
        (True, "critical", 25),
        (False, "warning", 40),
    ]


def test_compound_condition_needs_both_and_clears_when_one_ends() -> None:
    engine = engine_for(f"""
[[rule]]
id = "hot_under_load"
kind = "compound"
condition = "hot and loaded and not parked"
[rule.conditions.hot]
kind = "threshold"
signal = "{COOLANT}"
above = 105.0
for = "5s"
[rule.conditions.loaded]
kind = "threshold"
signal = "{LOAD}"
above = 60.0
[rule.conditions.parked]
kind = "threshold"
signal = "{SPEED}"
below = 1.0
""")
    hot_idle = drive(range(20), coolant=110, load=20, speed=50)
    hot_loaded = drive(range(20, 40), coolant=110, load=80, speed=50)
    cool_loaded = drive(range(40, 60), coolant=95, load=80, speed=50)
    outcomes = engine.evaluate(batch(hot_idle + hot_loaded + cool_loaded))
    assert [(o.fired, o.ts // 1000) for o in outcomes] == [(True, 20), (False, 40)]


AMBIENT = "Vehicle.Exterior.AirTemperature"
FAN_SUSPECT = f"""
[[rule]]
id = "fan_suspect"
kind = "compound"
condition = "hot and slow and not hot_day"
unknown_after = "10m"
[rule.conditions.hot]
kind = "threshold"
signal = "{COOLANT}"
above = 105.0
[rule.conditions.slow]
kind = "threshold"
signal = "{SPEED}"
below = 15.0
[rule.conditions.hot_day]
kind = "threshold"
signal = "{AMBIENT}"
above = 35.0
"""


def test_a_rule_file_written_for_vss_5_still_loads() -> None:
    """`celsius` and `Tire.Temperature` are VSS 5 spellings of `Celsius` and `Tire.AirTemperature`."""
    engine = engine_for("""
[[rule]]
id = "tyre_hot"
kind = "threshold"
signal = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Temperature"
unit = "celsius"
above = 90.0
""")
    [rule] = engine.rules
    assert rule.conditions[0].signal.path == "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.AirTemperature"


def test_a_compound_rule_over_a_signal_never_sent_cannot_fire() -> None:
    """`not hot_day` with no ambient temperature is unknown, not true: a car that does not report
    the weather is not said to overheat "on a mild day"."""
    engine = engine_for(FAN_SUSPECT)
    assert engine.evaluate(batch(drive(range(60), coolant=110, speed=5))) == []
    mild = [(1, t * 1000, AMBIENT, 20.0) for t in range(60, 62)]
    [fired] = engine.evaluate(batch(drive(range(60, 62), coolant=110, speed=5) + mild))
    assert (fired.fired, fired.ts // 1000) == (True, 60), "fires once the weather is known to be mild"


def test_a_compound_condition_whose_signal_went_quiet_is_unknown_again() -> None:
    engine = engine_for(FAN_SUSPECT)
    hot_day = [(1, t * 1000, AMBIENT, 38.0) for t in range(2)]
    assert engine.evaluate(batch(drive(range(2), coolant=110, speed=5) + hot_day)) == []
    later = range(20 * 60, 20 * 60 + 30)  # 20 min on, the ambient reading is 20 min old: unknown
    assert engine.evaluate(batch(drive(later, coolant=110, speed=5))) == [], "unknown, not a mild day"
    cleared = engine.evaluate(batch(drive(range(40 * 60, 40 * 60 + 5), coolant=110, speed=50)))
    assert cleared == [], "never fired, so nothing clears"


def test_escalation_makes_a_lasting_warning_critical() -> None:
    engine = engine_for(f"""
[[rule]]
id = "tyre_low"
kind = "threshold"
signal = "{TYRE}"
below = 200.0
severity = "warning"
escalate_after = "4h"
""")
    [fired] = engine.evaluate(batch(drive(range(3), tyre=190)))
    assert fired.severity == "warning"
    assert engine.tick(2 * HOUR) == []
    [escalated] = engine.tick(5 * HOUR)
    assert (escalated.severity, escalated.escalated) == ("critical", True)
    assert "escalated" in escalated.explanation()
    assert engine.tick(6 * HOUR) == []  # once


def test_a_gate_keeps_only_samples_taken_while_parked() -> None:
    engine = engine_for(f"""
[[rule]]
id = "slow_puncture"
kind = "rate"
signal = "{TYRE}"
falls_faster_than = 10.0
window = "30m"
when = {{ signal = "{SPEED}", below = 1.0 }}
""")
    minutes = range(0, 121, 5)
    driving = [(1, m * 60_000, path, v) for m in minutes for path, v in ((TYRE, 240 - m * 0.5), (SPEED, 80.0))]
    assert engine.evaluate(batch(driving)) == []  # 30 kPa/h, but while driving (warm tyres): ignored
    parked = [(1, (200 + m) * 60_000, p, v) for m in minutes for p, v in ((TYRE, 220 - m * 0.5), (SPEED, 0.0))]
    [fired] = engine.evaluate(batch(parked))
    assert fired.value == pytest.approx(-30.0)
    assert "-30.0 kPa/h" in fired.explanation()


def test_a_band_gate_keeps_only_samples_between_its_bounds() -> None:
    """The 12 V battery at rest: not charging (current above 1 A) and not cranking (far below -5 A)."""
    volts, amps = "Vehicle.LowVoltageBattery.CurrentVoltage", "Vehicle.LowVoltageBattery.CurrentCurrent"
    engine = engine_for(f"""
[[rule]]
id = "resting_low"
kind = "threshold"
signal = "{volts}"
below = 12.2
when = {{ signal = "{amps}", above = -5.0, below = 1.0 }}
""")
    cranking = [(1, 1000, volts, 9.8), (1, 1000, amps, -180.0)]
    charging = [(1, 2000, volts, 11.9), (1, 2000, amps, 20.0)]  # a deep battery, just charging
    assert engine.evaluate(batch(cranking + charging)) == []
    [fired] = engine.evaluate(batch([(1, 3000, volts, 12.1), (1, 3000, amps, -0.03)]))
    assert fired.value == pytest.approx(12.1)
    with pytest.raises(RuleDefinitionError, match="'above' must be less than 'below'"):
        engine_for(f"""
[[rule]]
id = "empty_band"
kind = "threshold"
signal = "{volts}"
below = 12.2
when = {{ signal = "{amps}", above = 1.0, below = -5.0 }}
""")


def test_residual_takes_out_what_load_explains() -> None:
    engine = engine_for(f"""
[[rule]]
id = "coolant_residual"
kind = "threshold"
signal = "{COOLANT}"
above = 12.0
for = "10s"
residual = {{ inputs = ["{LOAD}"], coefficients = {{ default = [80.0, 0.3] }} }}
explanation = "{{peak:.0f}} {{unit}} hotter than expected"
""")
    heavy = drive(range(30), coolant=lambda t: 80 + 0.3 * 90, load=90)  # hot, and load says why
    assert engine.evaluate(batch(heavy)) == []
    fault = drive(range(30, 60), coolant=lambda t: 80 + 0.3 * 30 + 20, load=30)
    [fired] = engine.evaluate(batch(fault))
    assert fired.explanation() == "20 °C hotter than expected"


def test_dtc_rules_are_one_alert_per_code_with_the_table_severity() -> None:
    engine = engine_for("""
[[rule]]
id = "dtc"
kind = "dtc"
codes = ["P0217", "P0420"]
""")
    assert [r.id for r in engine.rules] == ["dtc.P0217", "dtc.P0420"]
    sid = CATALOG["Vehicle.Diagnostics.DTCList"].id
    rows = RuleBatch(
        np.array([1, 1, 1], dtype=np.int32),
        np.array([0, 0, 1000], dtype=np.int64),
        np.full(3, sid, dtype=np.int16),
        np.array([dtc.encode("P0217"), dtc.encode("P0300"), np.nan]),
    )
    outcomes = engine.evaluate(rows)
    assert [(o.rule.id, o.fired, o.severity) for o in outcomes] == [
        ("dtc.P0217", True, "critical"),
        ("dtc.P0217", False, "critical"),
    ]
    assert outcomes[0].explanation() == "P0217: Engine coolant over temperature condition"


def test_silence_fires_on_the_clock_and_clears_with_the_next_message() -> None:
    engine = engine_for("""
[[rule]]
id = "silent"
kind = "stale"
after = "48h"
""")
    engine.evaluate(batch(drive(range(2), speed=0)))
    assert engine.tick(47 * HOUR) == []
    [fired] = engine.tick(49 * HOUR)
    assert fired.explanation() == "no telemetry for 2.0 days"
    [cleared] = engine.evaluate(batch([(1, 50 * HOUR, SPEED, 0.0)]))
    assert not cleared.fired


def test_a_vehicle_uploading_its_backlog_is_heard_now_not_days_ago() -> None:
    """Silence is judged from arrival: a car offline for 3 days that uploads its buffer oldest first
    is not 'silent' while its data arrives, and its silence alert clears when it is back."""
    engine = engine_for("""
[[rule]]
id = "silent"
kind = "stale"
after = "48h"
""")
    engine.evaluate(batch(drive(range(2), speed=0)), arrived_ms=2000)
    [fired] = engine.tick(72 * HOUR)  # offline for three days
    assert fired.fired
    back = 72 * HOUR + 60_000
    backlog = [(1, HOUR + i * 60_000, SPEED, 0.0) for i in range(30)]  # the first half hour of the outage
    [cleared] = engine.evaluate(batch(backlog), arrived_ms=back)
    assert not cleared.fired, "heard from again, though its samples are three days old"
    assert engine.tick(back + 60_000) == [], "not silent while the backlog is still coming"
    later = [(1, 2 * HOUR + i * 60_000, SPEED, 0.0) for i in range(30)]
    assert engine.evaluate(batch(later), arrived_ms=back + 120_000) == []
    assert engine.tick(back + 47 * HOUR) == []


def test_maintenance_plan_due_soon_then_overdue_then_cleared_by_a_service() -> None:
    engine = engine_for("""
[[rule]]
id = "service"
kind = "service_plan"
severity = "info"
overdue_severity = "warning"
due_soon_km = 1000
due_soon_days = 30
[rule.plans]
default = { km = 30000, months = 24 }
Tourer = { km = 15000, months = 12 }
""")
    engine.set_service(1, 0, 10_000.0)
    odometer = "Vehicle.TraveledDistance"
    [soon] = engine.evaluate(batch([(1, 100 * DAY_MS, odometer, 24_500_000.0)]))  # 14,500 km
    assert (soon.fired, soon.severity) == (True, "info")
    assert "14,500 km and 100 days since the last service" in soon.explanation()
    [overdue] = engine.evaluate(batch([(1, 120 * DAY_MS, odometer, 25_100_000.0)]))
    assert (overdue.fired, overdue.severity) == (True, "warning")
    engine.set_service(1, 121 * DAY_MS, 25_100.0)
    [cleared] = engine.tick(122 * DAY_MS)
    assert not cleared.fired


def test_state_survives_a_pack_and_unpack_and_a_changed_rule_starts_fresh() -> None:
    text = f"""
[[rule]]
id = "coolant"
kind = "threshold"
signal = "{COOLANT}"
above = 110.0
for = "30s"
"""
    engine = engine_for(text)
    engine.evaluate(batch(drive(range(20), coolant=115)))  # 20 s of the 30 s
    saved = engine.pack([1])[0].tobytes()
    restored = engine_for(text)
    restored.unpack(1, saved, engine.layout)
    assert [o.ts for o in restored.evaluate(batch(drive(range(20, 35), coolant=115)))] == [30_000]
    changed = engine_for(text.replace('"30s"', '"31s"').replace('id = "coolant"', 'id = "coolant"\nversion = 2'))
    changed.unpack(1, saved, engine.layout)
    assert changed.evaluate(batch(drive(range(20, 35), coolant=115))) == []  # its duration restarted


def test_samples_of_vehicles_the_engine_does_not_know_are_ignored() -> None:
    engine = RuleEngine(
        parse_rules(f'[[rule]]\nid = "hot"\nkind = "threshold"\nsignal = "{COOLANT}"\nabove = 1.0', CATALOG, "t")
    )
    assert engine.evaluate(batch(drive(range(5), coolant=120))) == []  # no vehicle registered at all
    engine.register(VehicleInfo(7, "combustion", "Aurora", "Tourer"))
    assert engine.evaluate(batch(drive(range(5), coolant=120))) == []  # vehicle 1 is not ours


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('kind = "compound"\ncondition = "a and b"\n[rule.conditions.a]\nkind = "stale"', "'b', which is not one of"),
        ('kind = "compound"\ncondition = "a + 1"\n[rule.conditions.a]\nkind = "stale"', "may only combine names"),
        (f'kind = "threshold"\nsignal = "{COOLANT}"\nabove = 1\nresidual = {{ inputs = ["{LOAD}"] }}', "coefficients"),
        (f'kind = "trend"\nsignal = "{COOLANT}"\nfalls_to = 1\nwindow = 5\nmin_points = 9', "min_points"),
        ('kind = "dtc"\ncodes = ["X123"]', "OBD-II codes"),
        ('kind = "dtc"\ncodes = ["P4217"]', "OBD-II codes"),  # not SAE J2012: could never match a report
        ('kind = "service_plan"', "plans"),
        (f'kind = "rate"\nsignal = "{TYRE}"\nfalls_faster_than = -3', "positive"),
        (f'kind = "threshold"\nsignal = "{COOLANT}"\nabove = 1\nexplanation = "{{nope}}"', "explanation"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_error(snippet: str, message: str) -> None:
    with pytest.raises(RuleDefinitionError, match=message):
        parse_rules(f'[[rule]]\nid = "r"\n{snippet}\n', CATALOG, "bad.toml")
