"""The rule engine of one worker: dense per-vehicle state for every rule, no I/O.

Vehicles get slots (0, 1, 2, ...) in the order the worker first sees them; a rule applies to a
slot only when the vehicle is in the rule's scope. Per batch: one sort, then each condition's
kernel runs over its signal's contiguous run, selected by scope, gate and residual in one compiled
pass that conditions sharing all four reuse; the kernels emit sparse transitions, which
`_combine` turns into alert outcomes (compound expressions, hard levels) in plain Python.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import cast

import numpy as np

from rules.kernels.base import SEEN, Events, SlotState, StateBlock, field_width
from rules.kernels.fold import Kleene, fold
from rules.kernels.grouping import first_per_step
from rules.kernels.select import select
from rules.kernels.service import ServiceParams
from rules.model import Condition, Rule
from rules.outcome import Outcome, VehicleInfo
from rules.rule_tables import (
    clock_conditions,
    kleene_table,
    residual_key,
    rule_state_spec,
    selection_key,
    signals_read,
    truth_table,
)
from rules.sorted_batch import SortedBatch
from telemetry.rulebatch import RuleBatch
from telemetry.vocabulary import DAYS_PER_MONTH


class RuleEngine:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.slot_of: dict[int, int] = {}
        self.vehicle_of_slot: list[int] = []
        self.infos: list[VehicleInfo] = []
        self.baselines: dict[int, tuple[int, float]] = {}  # vehicle -> last service (epoch ms, km)
        self.evaluations = 0  # sample-rule evaluations: samples taken by a condition's kernel
        # vehicles whose state `tick` and `set_service` changed; callers clear it (`evaluate` may
        # change the state of every vehicle in the batch: its callers take them all)
        self.touched: set[int] = set()
        self._slot_lookup = np.full(0, -1, dtype=np.int64)  # vehicle id -> slot, -1: unknown
        self.applies = {r.scope: np.zeros(0, dtype=bool) for r in rules}  # per scope: per slot
        self._everyone = {r.scope: True for r in rules}  # the scope takes every registered vehicle
        self._tables = {r.id: truth_table(r) for r in rules}
        self._watched = {r.id: {c.signal.id if c.signal else None for c in r.conditions} for r in rules}
        self.rule_states = {r.id: SlotState(rule_state_spec(r), 0) for r in rules}
        self._kleene_tables = {r.id: kleene_table(r) for r in rules if r.kind == "compound"}
        self.states = {(r.id, c.name): c.kernel.new_state(0) for r in rules for c in r.conditions}
        self._residual_of = {
            (r.id, c.name): residual_key(c.residual) for r in rules for c in r.conditions if c.residual
        }
        self._residuals = {
            self._residual_of[(r.id, c.name)]: c.residual for r in rules for c in r.conditions if c.residual
        }
        self.coefficients = {  # per residual model: one row of coefficients per slot (NaN: none)
            key: np.zeros((0, len(residual.inputs) + 1)) for key, residual in self._residuals.items()
        }
        keys: dict[tuple[object, ...], int] = {}  # conditions with equal keys take the same samples
        self._selection = {
            (r.id, c.name): keys.setdefault(selection_key(r, c), len(keys)) for r in rules for c in r.conditions
        }
        self._reads = signals_read(rules)
        self.layout = [
            (f"{r.key}/{part}/{name}", np.dtype(dtype).str, list(tail))
            for r in rules
            for part, spec in [("rule", rule_state_spec(r))]
            + [(c.name, self.states[(r.id, c.name)].spec) for c in r.conditions]
            for name, (dtype, _, tail) in spec.items()
        ]
        self.layout_id = hashlib.blake2b(json.dumps(self.layout).encode(), digest_size=8).hexdigest()
        self._fields: dict[str, tuple[str, list[int], int]] = {}  # name -> (dtype, shape, offset in a blob)
        offset = 0
        for name, dtype, tail in self.layout:
            self._fields[name] = (dtype, list(tail), offset)
            offset += field_width(dtype, tail)
        self.block = StateBlock(
            [s for r in rules for s in [self.rule_states[r.id]] + [self.states[(r.id, c.name)] for c in r.conditions]]
        )

    # --- vehicles -------------------------------------------------------------------------------
    def knows(self, vehicle_id: int) -> bool:
        return vehicle_id in self.slot_of

    def register(self, info: VehicleInfo) -> None:
        if info.vehicle_id in self.slot_of:
            return
        slot = len(self.vehicle_of_slot)
        self.slot_of[info.vehicle_id] = slot
        self.vehicle_of_slot.append(info.vehicle_id)
        self.infos.append(info)
        self.block.grow(slot + 1)
        if info.vehicle_id >= len(self._slot_lookup):
            grown = np.full(max(2 * len(self._slot_lookup), info.vehicle_id + 1, 1024), -1, dtype=np.int64)
            grown[: len(self._slot_lookup)] = self._slot_lookup
            self._slot_lookup = grown
        self._slot_lookup[info.vehicle_id] = slot
        for scope, applies in self.applies.items():
            self.applies[scope] = _grow(applies, slot + 1, False)
        for key, coefficients in self.coefficients.items():
            self.coefficients[key] = _grow(coefficients, slot + 1, np.nan)
        self._setup(slot, info)

    def _setup(self, slot: int, info: VehicleInfo) -> None:
        """What a fresh slot knows about its vehicle: scope, maintenance plan, residual model."""
        for scope in self.applies:
            applies = scope.applies(powertrain=info.powertrain, make=info.make, model=info.model)
            self.applies[scope][slot] = applies
            self._everyone[scope] &= applies
        for key, residual in self._residuals.items():
            self.coefficients[key][slot] = residual.for_model(info.model) or np.nan
        for rule in self.rules:
            if not self.applies[rule.scope][slot]:
                continue
            for c in rule.conditions:
                plan = c.plans.get(info.model) or c.plans.get("default")
                if plan is not None:
                    ServiceParams.plan(self.states[(rule.id, c.name)], slot, *plan)
        if info.vehicle_id in self.baselines:
            self.set_service(info.vehicle_id, *self.baselines[info.vehicle_id])

    def reset(self, vehicle_id: int) -> None:
        """Forget a registered vehicle's state (before loading what was last saved)."""
        slot = self.slot_of[vehicle_id]
        self.block.reset(slot)
        self._setup(slot, self.infos[slot])

    def set_service(self, vehicle_id: int, ts_ms: int, km: float) -> None:
        """The vehicle's last service (or delivery): maintenance plans count from it."""
        self.baselines[vehicle_id] = (ts_ms, km)
        slot = self.slot_of.get(vehicle_id)
        if slot is None:
            return
        self.touched.add(vehicle_id)
        for rule in self.rules:
            for c in rule.conditions:
                if c.kind == "service_plan":
                    ServiceParams.baseline(self.states[(rule.id, c.name)], slot, ts_ms, km)

    # --- state snapshots ------------------------------------------------------------------------
    def pack(self, vehicle_ids: list[int]) -> np.ndarray:
        """The vehicles' whole state, one row of bytes each (a copy)."""
        slots: np.ndarray | list[int] = (
            self._slot_lookup[np.asarray(vehicle_ids, dtype=np.int64)] if len(vehicle_ids) else []
        )
        packed: np.ndarray = self.block.rows(slots)
        return packed

    def unpack(
        self, vehicle_id: int, blob: bytes, layout: Sequence[Sequence[object]], layout_id: str | None = None
    ) -> None:
        """Load a registered vehicle's saved state. With another layout (the rules changed), fields
        are matched by name, type and shape, so rules whose id or version changed start fresh and
        the others resume. A caller that knows the saved layout's id saves comparing it field by
        field (hundreds of fields, for every vehicle a worker loads)."""
        slot = self.slot_of[vehicle_id]
        saved = np.frombuffer(blob, dtype=np.uint8)
        if layout_id == self.layout_id or [list(f) for f in layout] == [list(f) for f in self.layout]:
            self.block.write(slot, 0, saved)
            return
        offset = 0
        for field_name, field_dtype, field_tail in layout:  # as saved: JSON, so loosely typed
            name, dtype, tail = str(field_name), str(field_dtype), cast(list[int], field_tail)
            width = field_width(dtype, tail)
            ours = self._fields.get(name)
            if ours is not None and ours[0] == dtype and ours[1] == list(tail):
                self.block.write(slot, ours[2], saved[offset : offset + width])
            offset += width

    def with_rules(self, rules: list[Rule]) -> RuleEngine:
        """A new engine for a changed rule set, keeping every vehicle and the state of every rule
        whose id and version are unchanged."""
        engine = RuleEngine(rules)
        engine.baselines = dict(self.baselines)
        packed = self.pack(self.vehicle_of_slot) if self.infos else None
        for i, info in enumerate(self.infos):
            engine.register(info)
            assert packed is not None
            engine.unpack(info.vehicle_id, packed[i].tobytes(), self.layout, self.layout_id)
        return engine

    # --- evaluation -----------------------------------------------------------------------------
    def evaluate(self, batch: RuleBatch, *, arrived_ms: int | None = None) -> list[Outcome]:
        """Samples of registered vehicles only (register first). Silence is judged from `arrived_ms`
        when given: a vehicle uploading days of backlog is heard now (a backtest: the samples' times)."""
        if not len(batch):
            return []
        sb = SortedBatch(batch, self._slot_lookup, len(self.vehicle_of_slot), self._reads)
        present = sb.signals()
        selected: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}
        outcomes: list[Outcome] = []
        for rule in self.rules:
            if self._watched[rule.id].isdisjoint(present) and None not in self._watched[rule.id]:
                continue  # none of its signals in this batch (most of the one-per-code DTC rules, say)
            found = []
            for i, c in enumerate(rule.conditions):
                key = self._selection[(rule.id, c.name)]
                if key not in selected:
                    selected[key] = self._rows(sb, rule, c)
                rows = selected[key]
                if rows is None:
                    continue
                if arrived_ms is not None and c.kind == "stale":
                    rows = (rows[0], np.maximum(rows[1], arrived_ms), rows[2])
                self.evaluations += len(rows[0])
                events = c.kernel.evaluate(*rows, self.states[(rule.id, c.name)], presorted=True)
                if len(events):
                    found.append((i, events))
            if rule.kind == "compound":
                found += self._sampled(sb, rule)
            if found:
                outcomes += self._combine(rule, found, sb)
        return outcomes

    def tick(self, now_ms: int) -> list[Outcome]:
        """What the clock alone decides: silent vehicles, maintenance by date, escalations."""
        outcomes: list[Outcome] = []
        for rule in self.rules:
            found = []
            for i, c in enumerate(rule.conditions):
                tick = getattr(c.kernel, "tick", None)
                if tick is not None:
                    events = tick(now_ms, self.states[(rule.id, c.name)])
                    if len(events):
                        found.append((i, events))
            if found:
                for _, events in found:
                    self.touched.update(self.vehicle_of_slot[s] for s in np.unique(events.slot).tolist())
                outcomes += self._combine(rule, found, None)
            if rule.escalate_after_ms is not None:
                outcomes += self._escalate(rule, now_ms)
        return outcomes

    def _rows(self, sb: SortedBatch, rule: Rule, c: Condition) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The samples the condition's kernel takes: its signal's run (every signal's when it has
        none) within the rule's scope, through its gate, less its residual model's prediction."""
        run_id = c.signal.id if c.signal is not None else None
        slot, ts, value = sb.run(run_id)
        if not len(slot):
            return None
        applies = None if self._everyone[rule.scope] else self.applies[rule.scope]
        if applies is None and c.gate is None and c.residual is None:
            return slot, ts, value
        gate = residual = None
        if c.gate is not None or c.residual is not None:
            assert run_id is not None  # definitions give gates and residuals to signal conditions only
            if c.gate is not None:
                gate = (sb.lookup_in_run(c.gate.signal.id, run_id), c.gate.above, c.gate.below)
            if c.residual is not None:
                inputs = [sb.lookup_in_run(signal.id, run_id) for signal in c.residual.inputs]
                matrix = inputs[0][np.newaxis] if len(inputs) == 1 else np.array(inputs).reshape(len(inputs), len(slot))
                residual = (self.coefficients[self._residual_of[(rule.id, c.name)]], matrix)
        rows = select(slot, ts, value, applies=applies, gate=gate, residual=residual)
        return rows if len(rows[0]) else None

    def _combine(self, rule: Rule, found: list[tuple[int, Events]], sb: SortedBatch | None) -> list[Outcome]:
        """Fold condition transitions, in time order per vehicle, into the rule's own transitions."""
        cond = np.concatenate([np.full(len(ev), i) for i, ev in found])
        slot, kind, ts, since, value, detail = (np.concatenate([ev.columns()[k] for _, ev in found]) for k in range(6))
        order = np.lexsort((cond, ts, slot))
        slot, kind, ts, since, value, detail, cond = (a[order] for a in (slot, kind, ts, since, value, detail, cond))
        rs = self.rule_states[rule.id]
        hard = rule.hard is not None
        n_main = len(rule.conditions) - hard
        kleene = None
        if rule.kind == "compound":
            kleene = Kleene(self._kleene_tables[rule.id], rs["seen"], rule.unknown_after_ms, clock_conditions(rule))
        picked, fired, level = fold(
            slot, kind, cond, ts, since, self._tables[rule.id], n_main, hard,
            rs["mask"], rs["active"], rs["level"], rs["since"], kleene,
        )  # fmt: skip
        outcomes = []
        for k, f, lv in zip(picked.tolist(), fired.tolist(), level.tolist(), strict=True):
            s = int(slot[k])
            context = {}
            if f and sb is not None:
                one_slot, one_ts = np.array([s]), np.array([ts[k]])
                context = {name: float(sb.lookup(sig.id, one_slot, one_ts)[0]) for name, sig in rule.context}
            c = rule.conditions[int(cond[k])]
            outcomes.append(self._outcome(rule, c, s, bool(f), lv, ts[k], since[k], value[k], detail[k], context))
        return outcomes

    def _sampled(self, sb: SortedBatch, rule: Rule) -> list[tuple[int, Events]]:
        """SEEN events of a compound rule's conditions: a signal's sampling makes its condition known
        (three-valued logic, `rules/kernels/fold.py`). One per vehicle and half `unknown_after`
        suffices to keep a condition known while its signal keeps coming."""
        half = max(rule.unknown_after_ms // 2, 1)
        found = []
        for i, c in enumerate(rule.conditions[: len(rule.conditions) - (rule.hard is not None)]):
            if c.signal is None:
                continue
            slot, ts, _ = sb.run(c.signal.id)
            first = first_per_step(slot, ts, half, None if self._everyone[rule.scope] else self.applies[rule.scope])
            n = len(first)
            if n:
                at = ts[first]
                nan = np.full(n, np.nan)
                found.append((i, Events(slot[first], np.full(n, SEEN, np.int8), at, at, nan, nan)))
        return found

    def _escalate(self, rule: Rule, now_ms: int) -> list[Outcome]:
        rs = self.rule_states[rule.id]
        assert rule.escalate_after_ms is not None
        due = np.flatnonzero(
            (rs["active"] == 1) & (rs["level"] == 0) & (now_ms - rs["since"] >= rule.escalate_after_ms)
        )
        rs["level"][due] = 1
        self.touched.update(self.vehicle_of_slot[int(x)] for x in due)
        return [
            self._outcome(
                rule,
                rule.conditions[0],
                int(s),
                True,
                1,
                now_ms,
                int(rs["since"][s]),
                math.nan,
                math.nan,
                {},
                escalated=True,
            )
            for s in due
        ]

    def _outcome(
        self,
        rule: Rule,
        c: Condition,
        slot: int,
        fired: bool,
        level: int,
        ts: int,
        since: int,
        value: float,
        detail: float,
        context: dict[str, float],
        *,
        escalated: bool = False,
    ) -> Outcome:
        severity = rule.severity
        if level:
            severity = (
                rule.hard_severity if rule.hard_severity is not None and not escalated else rule.escalate_severity
            )
        plan = None
        if c.kind == "service_plan":
            state = self.states[(rule.id, c.name)]
            plan = (float(state["plan_km"][slot]), float(state["plan_ms"][slot]) / (DAYS_PER_MONTH * 86_400_000))
        return Outcome(
            rule=rule,
            condition=c,
            vehicle_id=self.vehicle_of_slot[slot],
            fired=fired,
            severity=severity,
            ts=int(ts),
            since=int(since),
            value=float(value),
            detail=float(detail),
            context=context,
            escalated=escalated,
            plan=plan,
        )


def _grow(array: np.ndarray, rows: int, fill: object) -> np.ndarray:
    if rows <= len(array):
        return array
    bigger = np.full((max(rows, 2 * len(array)), *array.shape[1:]), fill, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger
