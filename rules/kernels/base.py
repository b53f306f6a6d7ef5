"""What every rule kernel shares: dense per-slot state and the transition events it emits.

A kernel is a frozen params object with `new_state(slots)` and `evaluate(slot, ts, value, state)`
over samples sorted by (slot, ts); kernels that depend on the clock (a silence, a date) also have
`tick(now_ms, state)`. Kernels emit only transitions (fire, clear), so everything above them
works on sparse events.
"""

from __future__ import annotations

import bisect
import math
from abc import ABC
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, ClassVar, Protocol

import numpy as np

FIRE = 1
CLEAR = 2
SEEN = 3  # compound rules: the condition's signal was sampled (it is known), its value unchanged

Spec = dict[str, tuple[Any, float, tuple[int, ...]]]  # name -> (dtype, fill, shape after the slot axis)


def field_width(dtype: Any, tail: tuple[int, ...] | list[int]) -> int:
    """Bytes a field takes in a state row, padded to 8 so that every field stays aligned."""
    raw = int(np.dtype(dtype).itemsize) * math.prod(tail)
    return -(-raw // 8) * 8


class SlotState:
    """Named per-slot arrays (a slot is a vehicle's index in its worker). They are views into a
    byte matrix with one row per slot, so that a vehicle's state is one row: saving it is one
    copy, whatever the number of fields."""

    def __init__(self, spec: Spec, slots: int = 0) -> None:
        self.spec = spec
        self.width = sum(field_width(dtype, tail) for dtype, _, tail in spec.values())
        self.bind(np.empty((slots, self.width), np.uint8))
        self.fill(slice(None))

    def bind(self, buffer: np.ndarray) -> None:
        """Make the fields views of `buffer` (slots x width bytes)."""
        self.buffer = buffer
        self.arrays: dict[str, np.ndarray] = {}
        offset = 0
        for name, (dtype, _, tail) in self.spec.items():
            raw = np.dtype(dtype).itemsize * math.prod(tail)
            self.arrays[name] = buffer[:, offset : offset + raw].view(dtype).reshape((buffer.shape[0], *tail))
            offset += field_width(dtype, tail)
        self.ordered = tuple(self.arrays.values())  # in spec order, as kernels take them

    def grow(self, slots: int) -> None:
        """Room for at least `slots` slots; new slots are fresh, existing ones keep their state."""
        old = len(self.buffer)
        if slots <= old:
            return
        bigger = np.empty((max(slots, 2 * old, 64), self.width), np.uint8)
        bigger[:old] = self.buffer
        self.bind(bigger)
        self.fill(slice(old, None))

    def fill(self, rows: slice | int | np.ndarray) -> None:
        """Set these slots to the fresh state."""
        for name, (_, fill, _) in self.spec.items():
            self.arrays[name][rows] = fill

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __len__(self) -> int:
        return int(self.buffer.shape[0])

    def copy(self) -> SlotState:
        twin = SlotState(self.spec, 0)
        twin.bind(self.buffer.copy())
        return twin


class StateBlock:
    """An engine's SlotStates, each in a matrix of its own: a kernel walking the vehicles in slot
    order reads neighbouring rows (one matrix for them all made rows of 10-14 kB, a page or more
    apart, and the kernels wait on memory). A vehicle's whole state is still one blob: its rows
    in every state, side by side (`rows`, `write`)."""

    def __init__(self, states: list[SlotState]) -> None:
        self.states = states
        self.starts = [0]  # where each state's bytes begin in a vehicle's blob
        for state in states:
            self.starts.append(self.starts[-1] + state.width)
        self.width = self.starts[-1]

    def grow(self, slots: int) -> None:
        for state in self.states:
            state.grow(slots)

    def reset(self, slot: int) -> None:
        for state in self.states:
            state.fill(slot)

    def rows(self, slots: np.ndarray | list[int]) -> np.ndarray:
        """The slots' whole states, one row of `width` bytes each (a copy)."""
        rows = np.asarray(slots, dtype=np.int64)
        out = np.empty((len(rows), self.width), np.uint8)
        for state, lo in zip(self.states, self.starts[:-1], strict=True):
            if state.width:  # each row as one opaque item: numpy copies it whole, not byte by byte
                items = state.buffer.view(np.dtype((np.void, state.width))).ravel()
                out[:, lo : lo + state.width] = items[rows].view(np.uint8).reshape(len(rows), state.width)
        return out

    def write(self, slot: int, start: int, data: np.ndarray) -> None:
        """Put `data` at bytes [start, start + len(data)) of the slot's blob."""
        end = start + len(data)
        for i in range(bisect.bisect_right(self.starts, start) - 1, len(self.states)):
            lo, hi = self.starts[i], self.starts[i + 1]
            if lo >= end:
                break
            a, b = max(start, lo), min(end, hi)
            self.states[i].buffer[slot, a - lo : b - lo] = data[a - start : b - start]


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
        """Room for n events, uninitialised: kernels fill what they emit (`head` keeps that)."""
        return cls(
            np.empty(n, np.int64),
            np.empty(n, np.int8),
            np.empty(n, np.int64),
            np.empty(n, np.int64),
            np.empty(n, np.float64),
            np.empty(n, np.float64),
        )

    def head(self, count: int) -> Events:
        return Events(*(a[:count] for a in self.columns()))

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.slot, self.kind, self.ts, self.since, self.value, self.detail)

    def __len__(self) -> int:
        return len(self.slot)

    def tuples(self) -> list[tuple[int, int, int, int, float, float]]:
        """(slot, kind, ts, since, value, detail) per event; for tests and references."""
        return [
            (int(s), int(k), int(t), int(b), float(v), float(d))
            for s, k, t, b, v, d in zip(*self.columns(), strict=True)
        ]


def sort_samples(
    slot: np.ndarray, ts: np.ndarray, value: np.ndarray, presorted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous (slot, ts)-ordered columns in the dtypes the kernels take (presorted columns
    come from the engine, in those dtypes already)."""
    if presorted:
        return slot, ts, value
    order = np.lexsort((ts, slot))
    slot, ts, value = slot[order], ts[order], value[order]
    return (
        np.ascontiguousarray(slot, dtype=np.int64),
        np.ascontiguousarray(ts, dtype=np.int64),
        np.ascontiguousarray(value, dtype=np.float64),
    )


def run_kernel(
    kernel: Callable[..., int],
    params: tuple[object, ...],
    slot: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    state: SlotState,
    presorted: bool,
) -> Events:
    """The frame every numba kernel shares: (slot, ts)-ordered columns and room for one event per
    sample, then the kind's params, then its state arrays in spec order; returns the events."""
    slot, ts, value = sort_samples(slot, ts, value, presorted)
    ev = Events.empty(len(slot))
    count = kernel(slot, ts, value, ev.columns(), *params, *state.ordered)
    return ev.head(count)


class Kernel(Protocol):
    """A rule kind's params; kinds that watch the clock also have `tick(now_ms, state) -> Events`."""

    def new_state(self, slots: int) -> SlotState: ...

    def evaluate(
        self, slot: np.ndarray, ts: np.ndarray, value: np.ndarray, state: SlotState, *, presorted: bool = False
    ) -> Events: ...


KERNEL_PARAM_TYPES: dict[str, type] = {"float": float, "int": int, "bool": bool}


@dataclass(frozen=True)
class SampleKernel(ABC):
    """A kind whose numba kernel walks the samples, declared with it:
    `class ThresholdParams(SampleKernel, kernel=_threshold_kernel, state=STATE)`. A kind's fields
    are its kernel's params, in the order the kernel takes them after the frame (`run_kernel`); its
    state is what a vehicle keeps (a kind whose state depends on its params overrides
    `state_spec`). `evaluate` is the same frame for all of them."""

    _kernel: ClassVar[Callable[..., int]]
    _state: ClassVar[Spec | None]

    def __init_subclass__(cls, *, kernel: Callable[..., int], state: Spec | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._kernel = kernel
        cls._state = state

    def state_spec(self) -> Spec:
        """The per-vehicle state, in the order the kernel takes its arrays."""
        if self._state is None:
            raise TypeError(f"{type(self).__name__} declares no state: pass state= or override state_spec")
        return self._state

    @cached_property
    def params(self) -> tuple[object, ...]:
        """The fields in order, cast to their declared types (one type per param: one compilation)."""
        return tuple(KERNEL_PARAM_TYPES[str(f.type)](getattr(self, f.name)) for f in fields(self))

    def new_state(self, slots: int) -> SlotState:
        return SlotState(self.state_spec(), slots)

    def evaluate(
        self, slot: np.ndarray, ts: np.ndarray, value: np.ndarray, state: SlotState, *, presorted: bool = False
    ) -> Events:
        """Run one signal's samples through the rule, updating `state` in place. Samples may come
        in any order; callers that already sorted them by (slot, ts) say `presorted`."""
        # from the class: a numba dispatcher read through an instance binds as a method
        return run_kernel(type(self)._kernel, self.params, slot, ts, value, state, presorted)
