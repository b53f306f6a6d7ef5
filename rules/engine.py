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
        self.infos: list[VehicleInfo] = []
        self._slot_lookup = np.full(0, -1, dtype=np.int64)  # vehicle id -> slot, -1: unknown
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
        self.infos.append(info)
        if info.vehicle_id >= len(self._slot_lookup):
            grown = np.full(max(2 * len(self._slot_lookup), info.vehicle_id + 1, 1024), -1, dtype=np.int64)
            grown[: len(self._slot_lookup)] = self._slot_lookup
            self._slot_lookup = grown
        self._slot_lookup[info.vehicle_id] = slot
        for rule in self.rules:
            flag = rule.scope.applies(powertrain=info.powertrain, make=info.make, model=info.model)
            self.applies[rule.id] = np.append(self.applies[rule.id], flag)
            self.states[rule.id] = self.states[rule.id].grow(slot + 1)

    def state_of(self, vehicle_id: int) -> dict[str, list[float | int | None]]:
        """The vehicle's state for every rule, keyed `id@version`, as JSON-ready lists."""
        slot = self.slot_of[vehicle_id]
        out: dict[str, list[float | int | None]] = {}
        for rule in self.rules:
            s = self.states[rule.id]
            peak = float(s.peak[slot])
            out[f"{rule.id}@{rule.version}"] = [
                int(s.last_ts[slot]),
                int(s.since[slot]),
                int(s.clear_since[slot]),
                int(s.active[slot]),
                None if np.isnan(peak) else peak,
            ]
        return out

    def restore(self, vehicle_id: int, saved: dict[str, list[float | int | None]]) -> None:
        """Load saved state of a registered vehicle; rules whose id or version changed start fresh."""
        slot = self.slot_of[vehicle_id]
        for rule in self.rules:
            values = saved.get(f"{rule.id}@{rule.version}")
            if values is None:
                continue
            last_ts, since, clear_since, active, peak = values
            s = self.states[rule.id]
            s.last_ts[slot], s.since[slot], s.clear_since[slot] = last_ts, since, clear_since
            s.active[slot] = active
            s.peak[slot] = np.nan if peak is None else peak

    def with_rules(self, rules: list[ThresholdRule]) -> RuleEngine:
        """A new engine for a changed rule set, keeping every vehicle and the state of every rule
        whose id and version are unchanged."""
        engine = RuleEngine(rules)
        for info in self.infos:
            engine.register(info)
            engine.restore(info.vehicle_id, self.state_of(info.vehicle_id))
        return engine

    def evaluate(self, batch: RuleBatch) -> list[Outcome]:
        """Samples of registered vehicles only; callers register vehicles first."""
        if not len(batch):
            return []
        vid = batch.vehicle_id.astype(np.int64)
        known = (vid >= 0) & (vid < len(self._slot_lookup))
        slots = np.where(known, self._slot_lookup[np.where(known, vid, 0)], -1)
        # One sort per batch, by signal then vehicle then time: each rule reads its signal's
        # contiguous run, already in the (slot, ts) order its kernel needs.
        order = np.lexsort((batch.ts, slots, batch.signal))
        slots, ts, signal, value = slots[order], batch.ts[order], batch.signal[order], batch.value[order]
        outcomes: list[Outcome] = []
        for rule in self.rules:
            lo, hi = np.searchsorted(signal, [rule.signal.id, rule.signal.id + 1])
            lo += np.searchsorted(slots[lo:hi], 0)  # unknown vehicles (slot -1) sort first
            if lo >= hi:
                continue
            run_slots = slots[lo:hi]
            keep = self.applies[rule.id][run_slots]
            if not keep.any():
                continue
            events = evaluate_threshold(
                run_slots[keep],
                ts[lo:hi][keep],
                value[lo:hi][keep],
                rule.params,
                self.states[rule.id],
                presorted=True,
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
