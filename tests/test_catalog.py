from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.catalog import default_catalog, load_catalog
from telemetry.errors import CatalogError

REQUIRED = {
    "Vehicle.Speed": "km/h",
    "Vehicle.TraveledDistance": "m",
    "Vehicle.Powertrain.CombustionEngine.Speed": "rpm",
    "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": "celsius",
    "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature": "celsius",
    "Vehicle.Powertrain.CombustionEngine.EngineHours": "h",
    "Vehicle.LowVoltageBattery.CurrentVoltage": "V",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": "percent",
    "Vehicle.Powertrain.TractionBattery.StateOfHealth": "percent",
    "Vehicle.Powertrain.TractionBattery.Temperature.Average": "celsius",
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
