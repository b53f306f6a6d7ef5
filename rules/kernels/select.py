"""What a condition's kernel takes from its signal's run, in one compiled pass: the samples of
vehicles in the rule's scope, taken while the gate signal is inside its band, with the residual
model's prediction taken out of the value (and, when there is a gate or a residual, only the
samples whose value is known).

The numpy formulation of the same (one array operation per step) is `select_reference` in
`tests/naive.py`; on the engine's small runs its per-call overhead, not the arithmetic, was a
third of the rule engine's time.
"""

from __future__ import annotations

import numpy as np

from rules.kernels.config import njit

NO_SCOPE = np.zeros(0, dtype=np.bool_)
NO_GATE = np.zeros(0, dtype=np.float64)
NO_COEFFICIENTS = np.zeros((0, 1), dtype=np.float64)
NO_INPUTS = np.zeros((0, 0), dtype=np.float64)


def select(
    slot: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    *,
    applies: np.ndarray | None,
    gate: tuple[np.ndarray, float, float] | None,
    residual: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`applies`: per slot, whether the rule applies; `gate`: the gate signal's value beside each
    sample (NaN: absent) and its open band (above, below); `residual`: per-slot coefficients
    (c0, c1, ...) and the inputs' values beside each sample, one row per input."""
    gate_values, above, below = gate if gate is not None else (NO_GATE, -np.inf, np.inf)
    coefficients, inputs = residual if residual is not None else (NO_COEFFICIENTS, NO_INPUTS)
    return _select(
        slot,
        ts,
        value,
        applies if applies is not None else NO_SCOPE,
        applies is not None,
        gate_values,
        float(above),
        float(below),
        gate is not None,
        coefficients,
        inputs,
        residual is not None,
    )


@njit
def _select(slot, ts, value, applies, use_scope, gate, above, below, use_gate, coef, inputs, use_residual):
    n = slot.shape[0]
    out_slot, out_ts, out_value = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64)
    drop_unknown = use_gate or use_residual
    count = 0
    for i in range(n):
        s = slot[i]
        if use_scope and not applies[s]:
            continue
        if use_gate and not (gate[i] > above and gate[i] < below):
            continue
        v = value[i]
        if use_residual:
            predicted = coef[s, 0]
            for j in range(inputs.shape[0]):
                predicted += coef[s, j + 1] * inputs[j, i]
            v = v - predicted
        if drop_unknown and np.isnan(v):
            continue
        out_slot[count], out_ts[count], out_value[count] = s, ts[i], v
        count += 1
    return out_slot[:count], out_ts[:count], out_value[:count]
