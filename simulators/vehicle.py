"""One simulated vehicle: plausible, correlated signals from a simple driving model. No I/O."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from telemetry.vin import with_check_digit

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class VehicleModel:
    make: str
    model: str
    powertrain: str  # combustion | hybrid | electric
    wmi: str  # world manufacturer identifier (first 3 VIN characters)


MODELS = (
    VehicleModel("Aurora", "Compact 1.5", "combustion", "WA1"),
    VehicleModel("Aurora", "Estate 2.0d", "combustion", "WA1"),
    VehicleModel("Voltra", "City EV", "electric", "5YJ"),
)


def make_vin(rng: random.Random, wmi: str) -> str:
    body = "".join(rng.choice(VIN_ALPHABET) for _ in range(14))
    return with_check_digit(wmi + body)


@dataclass
class SimVehicle:
    vin: str
    model: VehicleModel
    rng: random.Random
    faults: set[str] = field(default_factory=set)
    fault_onset_s: float = 20.0
    t_s: float = 0.0
    speed: float = 0.0
    target_speed: float = 50.0
    odometer_m: float = 0.0
    coolant: float = 20.0
    soc: float = 80.0
    lat: float = 48.137
    lon: float = 11.575
    heading: float = 0.0

    @classmethod
    def create(cls, rng: random.Random, model: VehicleModel, faults: set[str] | None = None) -> SimVehicle:
        return cls(
            vin=make_vin(rng, model.wmi),
            model=model,
            rng=rng,
            faults=faults or set(),
            odometer_m=rng.uniform(5_000_000, 90_000_000),
            coolant=rng.uniform(60, 85),
            soc=rng.uniform(40, 95),
            lat=48.137 + rng.uniform(-0.2, 0.2),
            lon=11.575 + rng.uniform(-0.2, 0.2),
            heading=rng.uniform(0, 360),
        )

    def step(self, dt: float, ambient: float = 18.0) -> dict[str, object]:
        """Advance `dt` seconds; returns the signals of this moment by VSS path."""
        rng = self.rng
        self.t_s += dt
        if rng.random() < dt / 30:
            self.target_speed = rng.choice((0.0, 30.0, 50.0, 70.0, 100.0, 120.0))
        self.speed += max(-3 * dt, min(2 * dt, self.target_speed - self.speed)) + rng.gauss(0, 0.3)
        self.speed = min(max(self.speed, 0.0), 180.0)
        self.odometer_m += self.speed / 3.6 * dt
        self.heading = (self.heading + rng.gauss(0, 2)) % 360
        step_deg = self.speed / 3.6 * dt / 111_000
        self.lat += step_deg * math.cos(math.radians(self.heading))
        self.lon += step_deg * math.sin(math.radians(self.heading)) / math.cos(math.radians(self.lat))
        signals: dict[str, object] = {
            "Vehicle.Speed": round(self.speed, 1),
            "Vehicle.TraveledDistance": int(self.odometer_m),
            "Vehicle.Exterior.AirTemperature": round(ambient + rng.gauss(0, 0.2), 1),
            "Vehicle.CurrentLocation.Latitude": round(self.lat, 6),
            "Vehicle.CurrentLocation.Longitude": round(self.lon, 6),
            "Vehicle.LowVoltageBattery.CurrentVoltage": round(14.1 + rng.gauss(0, 0.05), 2),
        }
        if self.model.powertrain == "electric":
            self.soc = max(self.soc - self.speed * dt * 0.00005, 5.0)
            signals |= {
                "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": round(self.soc, 2),
                "Vehicle.Powertrain.TractionBattery.Temperature.Average": round(25 + self.speed / 20, 1),
            }
            return signals
        load = min(max(self.speed / 1.4 + rng.gauss(0, 3), 8.0), 100.0)
        rpm = 780 + self.speed * 28 + rng.gauss(0, 20)
        target = 90.0 + load * 0.05
        if "overheat" in self.faults and self.t_s >= self.fault_onset_s:
            target = 124.0 + load * 0.05  # thermostat stuck closed: coolant runs away under load
        self.coolant += (target - self.coolant) * min(dt / 25, 1.0) + rng.gauss(0, 0.1)
        signals |= {
            "Vehicle.Powertrain.CombustionEngine.Speed": round(rpm),
            "Vehicle.Powertrain.CombustionEngine.EngineLoad": round(load, 1),
            "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": round(self.coolant, 1),
            "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature": round(self.coolant + 6, 1),
        }
        if self.coolant > 115:
            signals["Vehicle.Diagnostics.DTCList"] = ["P0217"]
        return signals
