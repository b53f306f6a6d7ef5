"""Slow, obvious references for the engine's own kernels: a condition's selection and sampling,
and folding conditions into rules (two-valued, or Kleene's three-valued logic for compound rules)."""

from __future__ import annotations

import math

from rules.expression import Expression
from rules.kernels.base import CLEAR, FIRE


def select_reference(
    slot: list[int],
    ts: list[int],
    value: list[float],
    *,
    applies: list[bool] | None,
    gate: tuple[list[float], float, float] | None,
    residual: tuple[list[list[float]], list[list[float]]] | None,
) -> tuple[list[int], list[int], list[float]]:
    """What `rules.kernels.select.select` takes: scope, gate band (NaN: closed), residual."""
    taken: tuple[list[int], list[int], list[float]] = ([], [], [])
    for i, (s, t, v) in enumerate(zip(slot, ts, value, strict=True)):
        if (applies is not None and not applies[s]) or (gate is not None and not gate[1] < gate[0][i] < gate[2]):
            continue
        if residual is not None:
            coefficients, inputs = residual[0][s], residual[1]
            predicted = coefficients[0]
            for j, row in enumerate(inputs):
                predicted += coefficients[j + 1] * row[i]
            v = v - predicted
        if (gate is not None or residual is not None) and math.isnan(v):
            continue
        for column, x in zip(taken, (s, t, v), strict=True):
            column.append(x)  # type: ignore[attr-defined]
    return taken


def first_per_step_reference(slot: list[int], ts: list[int], step_ms: int, applies: list[bool] | None) -> list[int]:
    """What `rules.kernels.grouping.first_per_step` takes: where the (vehicle, step) changes, in scope."""
    taken = []
    for i, (s, t) in enumerate(zip(slot, ts, strict=True)):
        new = i == 0 or (s, t // step_ms) != (slot[i - 1], ts[i - 1] // step_ms)
        if new and (applies is None or applies[s]):
            taken.append(i)
    return taken


def fold_reference(
    events: list[tuple[int, int, int]],
    names: list[str],
    expression: Expression,
    has_hard: bool,
    *,
    ts: list[int] | None = None,
    unknown_after_ms: int | None = None,
) -> list[tuple[int, int, int]]:
    """events: (slot, kind, condition index) in order -> (event index, fired, level) per rule transition.
    With `unknown_after_ms` (compound rules): Kleene logic, a condition unknown until sampled (any
    event of it, SEEN included) and once its last sampling is older than that."""
    masks: dict[int, set[int]] = {}
    seen: dict[tuple[int, int], int] = {}
    active: dict[int, int] = {}  # slot -> level, while active
    out = []
    hard = len(names) if has_hard else None
    for j, (slot, kind, cond) in enumerate(events):
        on = masks.setdefault(slot, set())
        if kind == FIRE:
            on.add(cond)
        elif kind == CLEAR:
            on.discard(cond)
        is_hard = hard is not None and hard in on
        level = 1 if is_hard else 0
        if unknown_after_ms is None:
            now: bool | None = expression({n: i in on for i, n in enumerate(names)}) or is_hard
        else:
            assert ts is not None
            if cond < len(names):
                seen[(slot, cond)] = max(seen.get((slot, cond), -1), ts[j])

            values: dict[str, bool | None] = {}
            for i, n in enumerate(names):
                last = seen.get((slot, i), -1)
                values[n] = None if last < 0 or ts[j] - last > unknown_after_ms else i in on
            now = True if is_hard else expression.kleene(values)
        if now is True and (slot not in active or level > active[slot]):
            active[slot] = max(level, active.get(slot, 0))
            out.append((j, 1, active[slot]))
        elif now is False and slot in active:
            del active[slot]
            out.append((j, 0, level))
    return out
