"""Per-vehicle flood protection: a token bucket per VIN, in messages.

Each ingest worker keeps its own buckets; with N workers sharing the fleet a vehicle can get up to
N times the rate through, which still stops a flood from crowding out other vehicles.
"""

from __future__ import annotations


class VehicleRateLimiter:
    def __init__(self, per_second: float, burst: float, *, max_vehicles: int = 1_000_000) -> None:
        self.per_second = per_second
        self.burst = burst
        self.max_vehicles = max_vehicles
        self._tokens: dict[str, tuple[float, float]] = {}  # vin -> (tokens, at seconds)

    def allow(self, vin: str, now_s: float) -> bool:
        """Take one token for `vin` at `now_s`; False when the vehicle is over its rate.
        Call it once per message, when it arrives; time never runs backwards here."""
        tokens, at = self._tokens.get(vin, (self.burst, now_s))
        now_s = max(now_s, at)
        tokens = min(self.burst, tokens + (now_s - at) * self.per_second)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._tokens) >= self.max_vehicles and vin not in self._tokens:
            self._tokens.clear()  # bounded memory; forgetting only ever allows more, never less
        self._tokens[vin] = (tokens, now_s)
        return allowed
