"""Folding condition transitions into a rule's own: compound expressions and hard levels.

A rule's conditions are bits of a per-vehicle mask; the expression over the main conditions is a
truth table indexed by the mask, and the hard level (if any) is the highest bit. Events arrive in
(slot, time, condition) order; an outcome is emitted when the rule turns active, when it rises to
the hard level while active, and when it turns inactive.
"""

from __future__ import annotations

import numpy as np

from rules.kernels.config import njit

MAX_CONDITIONS = 12  # the truth table has 2**main conditions entries


def fold(
    slot: np.ndarray,
    kind: np.ndarray,
    cond: np.ndarray,
    since: np.ndarray,
    table: np.ndarray,
    n_main: int,
    has_hard: bool,
    state_mask: np.ndarray,
    state_active: np.ndarray,
    state_level: np.ndarray,
    state_since: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Updates the rule's state in place; returns (event index, fired, level) per outcome."""
    n = len(slot)
    out_idx, out_fired, out_level = np.empty(n, np.int64), np.empty(n, np.int8), np.empty(n, np.int8)
    count = _fold_kernel(
        np.ascontiguousarray(slot, dtype=np.int64),
        np.ascontiguousarray(kind, dtype=np.int8),
        np.ascontiguousarray(cond, dtype=np.int64),
        np.ascontiguousarray(since, dtype=np.int64),
        table,
        (1 << n_main) - 1,
        (1 << n_main) if has_hard else 0,
        state_mask,
        state_active,
        state_level,
        state_since,
        out_idx,
        out_fired,
        out_level,
    )
    return out_idx[:count], out_fired[:count], out_level[:count]


@njit
def _fold_kernel(
    slot,
    kind,
    cond,
    since,
    table,
    main_mask,
    hard_bit,
    state_mask,
    state_active,
    state_level,
    state_since,
    out_idx,
    out_fired,
    out_level,
):
    n_out = 0
    for j in range(slot.shape[0]):
        s = slot[j]
        bit = np.int64(1) << cond[j]
        mask = (state_mask[s] | bit) if kind[j] == 1 else (state_mask[s] & ~bit)
        state_mask[s] = mask
        hard = hard_bit != 0 and (mask & hard_bit) != 0
        active_now = table[mask & main_mask] or hard
        level = 1 if hard else 0
        was_active = state_active[s]
        was_level = state_level[s]
        if active_now and (was_active == 0 or level > was_level):
            state_active[s] = 1
            state_level[s] = max(level, was_level)
            if was_active == 0:
                state_since[s] = since[j]
            out_idx[n_out] = j
            out_fired[n_out] = 1
            out_level[n_out] = state_level[s]
            n_out += 1
        elif was_active == 1 and not active_now:
            state_active[s] = 0
            state_level[s] = 0
            out_idx[n_out] = j
            out_fired[n_out] = 0
            out_level[n_out] = level
            n_out += 1
    return n_out
