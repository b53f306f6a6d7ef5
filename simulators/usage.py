"""Daily usage patterns: when each vehicle drives, for how long and on what roads.

Plans are drawn per simulated day from (seed, day) alone, so any day of a scenario can be
generated without the days before it, and live and recorded runs of one seed drive alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMMUTE, LONG_TRIPS, WEEKEND, FLEET_VAN, ALWAYS = range(5)
PROFILE_NAMES = ("commute", "long_trips", "weekend", "fleet_van", "always")  # always: demos and load tests
USAGES = ("mixed", "always")
MAX_TRIPS = 14
URBAN, MIXED, HIGHWAY = 35.0, 60.0, 110.0  # cruise speeds, km/h
MIN_PAUSE_S = 300.0
DAY_S = 86_400.0


@dataclass(frozen=True)
class DayPlan:
    """Trips of one day per vehicle, in seconds after midnight; unused trip slots have count <= k."""

    start_s: np.ndarray  # float64 [vehicles, MAX_TRIPS]
    duration_s: np.ndarray  # float64 [vehicles, MAX_TRIPS]
    cruise_kmh: np.ndarray  # float64 [vehicles, MAX_TRIPS]
    count: np.ndarray  # int64 [vehicles]

    def take(self, rows: np.ndarray) -> DayPlan:
        return DayPlan(self.start_s[rows], self.duration_s[rows], self.cruise_kmh[rows], self.count[rows])


def assign_profiles(vans: np.ndarray, rng: np.random.Generator, usage: str = "mixed") -> np.ndarray:
    """Vans are fleet vans; private cars commute (60 %), do long trips (15 %) or drive at weekends.
    With usage `always` every vehicle drives round the clock (short stops between long trips)."""
    private = rng.choice([COMMUTE, LONG_TRIPS, WEEKEND], size=len(vans), p=[0.6, 0.15, 0.25])
    if usage == "always":
        return np.full(len(vans), ALWAYS, dtype=np.int8)
    return np.where(vans, FLEET_VAN, private).astype(np.int8)


def day_plan(profiles: np.ndarray, seed: int, day: int, weekday: int) -> DayPlan:
    """Trips of `day` (days since the scenario start; `weekday` 0 is Monday)."""
    rng = np.random.default_rng([seed, 7_919, day])
    n = len(profiles)
    start = np.zeros((n, MAX_TRIPS))
    duration = np.zeros((n, MAX_TRIPS))
    cruise = np.full((n, MAX_TRIPS), MIXED)
    count = np.zeros(n, dtype=np.int64)
    weekend = weekday >= 5

    def put(rows: np.ndarray, k: int, at_h: np.ndarray, minutes: np.ndarray, kmh: np.ndarray | float) -> None:
        start[rows, k] = at_h * 3600.0
        duration[rows, k] = minutes * 60.0
        cruise[rows, k] = kmh
        count[rows] = np.maximum(count[rows], k + 1)

    def pick(profile: int, probability: float) -> np.ndarray:
        rows = np.flatnonzero(profiles == profile)
        return rows[rng.random(len(rows)) < probability]

    if not weekend:
        rows = pick(COMMUTE, 0.95)
        put(
            rows,
            0,
            rng.normal(7.6, 0.4, len(rows)),
            rng.uniform(15, 45, len(rows)),
            rng.choice([URBAN, MIXED], len(rows)),
        )
        put(
            rows,
            1,
            rng.normal(17.3, 0.6, len(rows)),
            rng.uniform(15, 50, len(rows)),
            rng.choice([URBAN, MIXED], len(rows)),
        )
        rows = pick(LONG_TRIPS, 0.85)
        put(rows, 0, rng.normal(8.0, 0.7, len(rows)), rng.uniform(60, 150, len(rows)), HIGHWAY)
        put(rows, 1, rng.normal(15.5, 1.0, len(rows)), rng.uniform(45, 150, len(rows)), HIGHWAY)
        rows = pick(WEEKEND, 0.1)
        put(rows, 0, rng.uniform(9, 19, len(rows)), rng.uniform(10, 30, len(rows)), URBAN)
    else:
        for profile in (COMMUTE, LONG_TRIPS, WEEKEND):
            rows = pick(profile, 0.75 if profile == WEEKEND else 0.5)
            put(
                rows,
                0,
                rng.uniform(9, 13, len(rows)),
                rng.uniform(15, 90, len(rows)),
                rng.choice([URBAN, MIXED], len(rows)),
            )
            away = rows[rng.random(len(rows)) < 0.15]  # a trip out of town and back
            put(away, 1, rng.uniform(14, 16, len(away)), rng.uniform(60, 180, len(away)), HIGHWAY)
    working = pick(FLEET_VAN, 1.0 if not weekend else (0.5 if weekday == 5 else 0.0))
    stops = rng.integers(6, MAX_TRIPS + 1, len(working))
    at = rng.uniform(6.5, 8.0, len(working))
    for k in range(MAX_TRIPS):
        rows = working[stops > k]
        minutes = rng.uniform(12, 40, len(rows))
        put(rows, k, at[stops > k], minutes, rng.choice([URBAN, URBAN, MIXED, HIGHWAY], len(rows)))
        at[stops > k] += (minutes + rng.uniform(10, 30, len(rows))) / 60
    rows = np.flatnonzero(profiles == ALWAYS)
    for k in range(MAX_TRIPS):
        put(
            rows,
            k,
            np.full(len(rows), k * 103 / 60),
            np.full(len(rows), 100.0),
            rng.choice([URBAN, MIXED, HIGHWAY], len(rows)),
        )
    _separate(start, duration, count)
    return DayPlan(start, duration, cruise, count)


def _separate(start: np.ndarray, duration: np.ndarray, count: np.ndarray) -> None:
    """Trips in order, a pause between them, all within the day (a late trip is shortened)."""
    start[:, 0] = np.clip(start[:, 0], 60.0, DAY_S - 600.0)
    for k in range(1, MAX_TRIPS):
        start[:, k] = np.maximum(start[:, k], start[:, k - 1] + duration[:, k - 1] + MIN_PAUSE_S)
    used = np.arange(MAX_TRIPS)[None, :] < count[:, None]
    end = np.minimum(start + duration, DAY_S - 60.0)
    duration[:] = np.where(used, np.maximum(end - start, 0.0), 0.0)
