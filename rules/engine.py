"""The rule engine of one worker: dense per-vehicle state for each rule, no I/O.

Vehicles get slots (0, 1, 2, ...) in the order the worker first sees them; a rule applies to a
slot only when the vehicle is in the rule's scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.definitions import ThresholdRule
from rules.kernels.threshold import FIRE, ThresholdState, evaluate_threshold
from telemetry.rulebatch import RuleBatch


@dataclass(frozen=True, slots=True)
class VehicleInfo:
    vehicle_id: int
    powertrain: str
    make: str
    model: str


@dataclass(frozen=True, slots=True)
class Outcome:
    rule: ThresholdRule
    vehicle_id: int
    fired: bool  # False: cleared
    ts: int
    since: int
    peak: float


class RuleEngine:
    def __init__(self, rules: list[ThresholdRule]) -> None:
        self.rules = rules
        self.slot_of: dict[int, int] = {}
        self.vehicle_of_slot: list[int] = []
        self.applies = {r.id: np.zeros(0, dtype=bool) for r in rules}
        self.states = {r.id: ThresholdState.empty(0) for r in rules}

    def knows(self, vehicle_id: int) -> bool:
        return vehicle_id in self.slot_of

    def register(self, info: VehicleInfo) -> None:
        if info.vehicle_id in self.slot_of:
            return
        slot = len(self.vehicle_of_slot)
        self.slot_of[info.vehicle_id] = slot
        self.vehicle_of_slot.append(info.vehicle_id)
        for rule in self.rules:
            flag = rule.scope.applies(powertrain=info.powertrain, make=info.make, model=info.model)
            self.applies[rule.id] = np.append(self.applies[rule.id], flag)
            self.states[rule.id] = self.states[rule.id].grow(slot + 1)

    def evaluate(self, batch: RuleBatch) -> list[Outcome]:
        """Samples of registered vehicles only; callers register vehicles first."""
        if not len(batch):
            return []
        slots = np.array([self.slot_of.get(int(v), -1) for v in batch.vehicle_id], dtype=np.int64)
        outcomes: list[Outcome] = []
        for rule in self.rules:
            mask = (batch.signal == rule.signal.id) & (slots >= 0)
            if not mask.any():
                continue
            mask[mask] = self.applies[rule.id][slots[mask]]
            events = evaluate_threshold(
                slots[mask], batch.ts[mask], batch.value[mask], rule.params, self.states[rule.id]
            )
            for i in range(len(events)):
                outcomes.append(
                    Outcome(
                        rule=rule,
                        vehicle_id=self.vehicle_of_slot[int(events.slot[i])],
                        fired=bool(events.kind[i] == FIRE),
                        ts=int(events.ts[i]),
                        since=int(events.since[i]),
                        peak=float(events.peak[i]),
                    )
                )
        return outcomes
