"""What every rule kernel shares: dense per-slot state and the transition events it emits.

A kernel is a frozen params object with `new_state(slots)` and `evaluate(slot, ts, value, state)`
over samples sorted by (slot, ts); kernels that depend on the clock (a silence, a date) also have
`tick(now_ms, state)`. Kernels emit only transitions (fire, clear), so everything above them
works on sparse events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

FIRE = 1
CLEAR = 2

Spec = dict[str, tuple[type, float, tuple[int, ...]]]  # name -> (dtype, fill, shape after the slot axis)
JsonRow = list[object]


class SlotState:
    """Named numpy arrays whose first axis is the slot (a vehicle's index in its worker)."""

    def __init__(self, spec: Spec, slots: int) -> None:
        self.spec = spec
        self.arrays = {name: np.full((slots, *tail), fill, dtype) for name, (dtype, fill, tail) in spec.items()}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def grow(self, slots: int) -> SlotState:
        """Room for at least `slots` slots; existing slots keep their state."""
        if slots <= len(self):
            return self
        bigger = SlotState(self.spec, max(slots, 2 * len(self)))
        for name, arr in self.arrays.items():
            bigger.arrays[name][: len(arr)] = arr
        return bigger

    def copy(self) -> SlotState:
        twin = SlotState(self.spec, 0)
        twin.arrays = {name: arr.copy() for name, arr in self.arrays.items()}
        return twin

    def row(self, slot: int) -> JsonRow:
        """One slot's state as JSON-ready values, in spec order (NaN becomes None)."""
        return [_jsonable(self.arrays[name][slot]) for name in self.spec]

    def set_row(self, slot: int, values: JsonRow) -> None:
        for name, value in zip(self.spec, values, strict=True):
            self.arrays[name][slot] = _from_json(value)

    def reset(self, slot: int) -> None:
        for name, (_, fill, _) in self.spec.items():
            self.arrays[name][slot] = fill


def _jsonable(value: np.ndarray | np.generic) -> object:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value]
    item = value.item()
    return None if isinstance(item, float) and math.isnan(item) else item


def _from_json(value: object) -> object:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return math.nan if value is None else value


@dataclass
class Events:
    """Transitions of a condition. `value` is the episode's worst value (or the kernel's headline
    number); `detail` is kind-specific: a rate, a z-score, a projected date, a DTC code."""

    slot: np.ndarray  # int64
    kind: np.ndarray  # int8, FIRE or CLEAR
    ts: np.ndarray  # int64, when it fired or cleared
    since: np.ndarray  # int64, start of the run that made it fire or clear
    value: np.ndarray  # float64
    detail: np.ndarray  # float64

    @classmethod
    def empty(cls, n: int = 0) -> Events:
        return cls(
            np.empty(n, np.int64),
            np.empty(n, np.int8),
            np.empty(n, np.int64),
            np.empty(n, np.int64),
            np.empty(n, np.float64),
            np.full(n, np.nan),
        )

    def head(self, count: int) -> Events:
        return Events(*(a[:count] for a in self.columns()))

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.slot, self.kind, self.ts, self.since, self.value, self.detail)

    def __len__(self) -> int:
        return len(self.slot)

    def tuples(self) -> list[tuple]:
        """(slot, kind, ts, since, value, detail) per event; for tests and references."""
        return [
            (int(s), int(k), int(t), int(b), float(v), float(d))
            for s, k, t, b, v, d in zip(*self.columns(), strict=True)
        ]


def sort_samples(
    slot: np.ndarray, ts: np.ndarray, value: np.ndarray, presorted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous (slot, ts)-ordered columns in the dtypes the kernels take."""
    if not presorted:
        order = np.lexsort((ts, slot))
        slot, ts, value = slot[order], ts[order], value[order]
    return (
        np.ascontiguousarray(slot, dtype=np.int64),
        np.ascontiguousarray(ts, dtype=np.int64),
        np.ascontiguousarray(value, dtype=np.float64),
    )


class Kernel(Protocol):
    """A rule kind's params; kinds that watch the clock also have `tick(now_ms, state) -> Events`."""

    def new_state(self, slots: int) -> SlotState: ...

    def evaluate(
        self, slot: np.ndarray, ts: np.ndarray, value: np.ndarray, state: SlotState, *, presorted: bool = False
    ) -> Events: ...
