from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.catalog import default_catalog, load_catalog
from telemetry.errors import CatalogError

REQUIRED = {
    "Vehicle.Speed": "km/h",
    "Vehicle.TraveledDistance": "m",
    "Vehicle.Powertrain.CombustionEngine.Speed": "rpm",
    "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": "Celsius",
    "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature": "Celsius",
    "Vehicle.Powertrain.CombustionEngine.EngineHours": "h",
    "Vehicle.LowVoltageBattery.CurrentVoltage": "V",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": "percent",
    "Vehicle.Powertrain.TractionBattery.StateOfHealth": "percent",
    "Vehicle.Powertrain.TractionBattery.Temperature.Average": "Celsius",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure": "kPa",
    "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure": "kPa",
    "Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure": "kPa",
    "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure": "kPa",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Brake.PadWear": "percent",
    "Vehicle.CurrentLocation.Latitude": "degrees",
    "Vehicle.CurrentLocation.Longitude": "degrees",
    "Vehicle.Service.DistanceToService": "km",
}


def test_catalog_covers_the_required_signals_with_vss_units() -> None:
    catalog = default_catalog()
    assert catalog.vss_version == "6.0"
    assert len(catalog.signals) >= 25
    for path, unit in REQUIRED.items():
        assert catalog[path].unit == unit, path
    assert catalog["Vehicle.Diagnostics.DTCList"].datatype == "string[]"
    groups = {s.group for s in catalog.signals}
    assert {"combustion", "ev", "tyres", "brakes", "12v", "service", "location", "diagnostics"} <= groups


def test_old_vss_names_map_to_pinned_names() -> None:
    catalog = default_catalog()
    ect = catalog.resolver(6)["Vehicle.Powertrain.CombustionEngine.ECT"]
    assert ect.signal.path == "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
    assert catalog.resolver(4)["Vehicle.OBD.DTCList"].signal.path == "Vehicle.Diagnostics.DTCList"


FRONT_LEFT, REAR_RIGHT = "Vehicle.Chassis.Axle.Row1.Wheel.Left", "Vehicle.Chassis.Axle.Row2.Wheel.Right"


def test_the_names_vss_6_replaced_reach_their_replacements_for_every_version() -> None:
    catalog = default_catalog()
    replacements = {
        "Vehicle.OBD.EngineSpeed": "Vehicle.Powertrain.CombustionEngine.Speed",
        "Vehicle.OBD.Status.DTCCount": "Vehicle.Diagnostics.DTCCount",
        **{f"{wheel}.Tire.Temperature": f"{wheel}.Tire.AirTemperature" for wheel in (FRONT_LEFT, REAR_RIGHT)},
    }
    for old, new in replacements.items():
        assert catalog[new].path == new
        assert {catalog.resolver(major)[old].signal.path for major in (4, 5, 6)} == {new}, old
        assert catalog.named(old) is catalog[new], "readers may use the old name too"
    assert catalog.named("Vehicle.TraveledDistance") is catalog["Vehicle.TraveledDistance"]
    assert catalog.named("Vehicle.Nothing") is None
    assert "positive when charging" in catalog["Vehicle.Powertrain.TractionBattery.CurrentCurrent"].description


def test_odometer_is_converted_from_km_only_for_pre_6_vehicles() -> None:
    catalog = default_catalog()
    assert catalog.resolver(5)["Vehicle.TraveledDistance"].scale == 1000.0
    assert catalog.resolver(6)["Vehicle.TraveledDistance"].scale == 1.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('path = "Vehicle.A"\ncolumn = "a"\ndatatype = "float128"', "unknown datatype 'float128'"),
        ('path = "Speed"\ncolumn = "a"\ndatatype = "float"', "a VSS path starts with 'Vehicle.'"),
        ('path = "Vehicle.A"\ncolumn = "ts"\ndatatype = "float"', "column 'ts' is invalid or used twice"),
    ],
)
def test_a_broken_catalog_names_the_offending_entry(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'vss_version = "6.0"\n[[signal]]\n{entry}\ngroup = "x"\ndescription = "x"\n')
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)
