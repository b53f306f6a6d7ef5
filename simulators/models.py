"""The vehicle models the simulator knows: what differs between them is what a maintenance
plan, a tyre placard or a battery spec sheet says."""

from __future__ import annotations

import random
from dataclasses import dataclass

from telemetry.vin import with_check_digit

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class VehicleModel:
    make: str
    model: str
    powertrain: str  # combustion | electric
    wmi: str  # world manufacturer identifier (first 3 VIN characters)
    service_km: float  # maintenance plan, whichever comes first
    service_months: int
    tyre_kpa: tuple[float, float]  # placard cold pressure, front and rear
    energy_capacity: float  # fuel tank (l) or usable traction battery (kWh)
    consumption_per_100km: float  # l or kWh at a steady 80 km/h
    mass_t: float  # tonnes: braking energy and so pad wear
    rpm_per_kmh: float = 0.0  # engine speed in a typical gear

    @property
    def electric(self) -> bool:
        return self.powertrain == "electric"


MODELS = (
    VehicleModel("Aurora", "Compact 1.5", "combustion", "WA1", 15_000, 12, (230, 220), 45, 6.0, 1.3, 26.0),
    VehicleModel("Aurora", "Estate 2.0d", "combustion", "WA1", 30_000, 24, (250, 260), 60, 5.2, 1.7, 22.0),
    VehicleModel("Fleetline", "Van 2.2d", "combustion", "WF0", 40_000, 12, (280, 300), 80, 8.5, 2.6, 27.0),
    VehicleModel("Voltra", "City EV", "electric", "5YJ", 30_000, 24, (250, 250), 42, 14.0, 1.5),
    VehicleModel("Voltra", "Saloon EV", "electric", "5YJ", 30_000, 24, (290, 290), 82, 16.5, 2.0),
    VehicleModel("Voltra", "SUV EV", "electric", "5YJ", 25_000, 12, (270, 280), 100, 20.0, 2.4),
)
MODEL_BY_NAME = {m.model: m for m in MODELS}


def make_vin(rng: random.Random, wmi: str) -> str:
    body = "".join(rng.choice(VIN_ALPHABET) for _ in range(14))
    return with_check_digit(wmi + body)
