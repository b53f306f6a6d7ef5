"""Feeding kernels batch by batch, and comparing their events with a reference's."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np

from rules.kernels.base import Kernel, SlotState
from rules.kernels.service import ServiceParams
from rules.kernels.stale import StaleParams


def run_batches(
    kernel: Kernel,
    samples: list[tuple[int, int, float]],
    cuts: list[int],
    slots: int = 8,
    rnd: random.Random | None = None,
) -> list[tuple]:
    """Feed the samples in batches split at `cuts`, carrying state across batches; with `rnd`,
    each batch arrives in a shuffled order."""
    state = kernel.new_state(slots)
    events: list[tuple] = []
    for a, b in itertools.pairwise([0, *sorted(set(cuts)), len(samples)]):
        part = list(samples[a:b])
        if rnd is not None:
            rnd.shuffle(part)
        if part:
            ev = kernel.evaluate(
                np.array([s[0] for s in part], dtype=np.int64),
                np.array([s[1] for s in part], dtype=np.int64),
                np.array([s[2] for s in part], dtype=np.float64),
                state,
            )
            events += ev.tuples()
    return events


def run_steps(kernel: StaleParams | ServiceParams, state: SlotState, steps: list[tuple[str, object]]) -> list[tuple]:
    """Feed a clock-watching kernel its steps in order: ("tick", now) or ("samples", [(slot, ts,
    value), ...]); returns the events of both."""
    events: list[tuple] = []
    for step, arg in steps:
        if step == "tick":
            events += kernel.tick(arg, state).tuples()  # type: ignore[arg-type]
        elif arg:
            columns = [np.array([a[i] for a in arg]) for i in range(3)]  # type: ignore[attr-defined]
            events += kernel.evaluate(*columns, state).tuples()
    return events


def normalised(events: list[tuple]) -> list[tuple]:
    """Events in (slot, time, kind) order, floats rounded so that last-bit differences between
    numba and Python (a median, a sum) do not count, NaN made comparable."""

    def norm(x: object) -> object:
        if isinstance(x, float):
            return "nan" if math.isnan(x) else x if math.isinf(x) else float(f"{x:.9g}")
        return x

    return sorted((tuple(norm(x) for x in e) for e in events), key=lambda e: (e[0], e[2], e[1]))
