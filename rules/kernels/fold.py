"""Folding condition transitions into a rule's own: compound expressions and hard levels.

A rule's conditions are bits of a per-vehicle mask; the expression over the main conditions is a
truth table indexed by the mask, and the hard level (if any) is the highest bit. Events arrive in
(slot, time, condition) order; an outcome is emitted when the rule turns active, when it rises to
the hard level while active, and when it turns inactive.

Compound rules use three-valued logic (`Expression.kleene_table`): a condition is unknown until
its signal has been sampled, and again once its last sample is older than the rule's
`unknown_after`; SEEN events carry the sampling. The rule fires only on a definite true and
clears only on a definite false (an unknown keeps it as it was).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.config import njit

MAX_CONDITIONS = 12  # the truth table has 2**main conditions entries


@dataclass(frozen=True)
class Kleene:
    """What a compound rule's fold needs for three-valued logic."""

    table: np.ndarray  # int8, 3**n_main entries: 0 false, 1 unknown, 2 true
    seen: np.ndarray  # int64 (slots, n_main): each condition's last sampling, -1 never
    unknown_after_ms: int
    always_known: int  # bit i: condition i has no signal (a clock condition) and is always known


NO_KLEENE = Kleene(np.zeros(1, np.int8), np.full((1, 1), -1, np.int64), 0, 0)


def fold(
    slot: np.ndarray,
    kind: np.ndarray,
    cond: np.ndarray,
    ts: np.ndarray,
    since: np.ndarray,
    table: np.ndarray,
    n_main: int,
    has_hard: bool,
    state_mask: np.ndarray,
    state_active: np.ndarray,
    state_level: np.ndarray,
    state_since: np.ndarray,
    kleene: Kleene | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Updates the rule's state in place; returns (event index, fired, level) per outcome."""
    n = len(slot)
    out_idx, out_fired, out_level = np.empty(n, np.int64), np.empty(n, np.int8), np.empty(n, np.int8)
    k = kleene or NO_KLEENE
    count = _fold_kernel(
        np.ascontiguousarray(slot, dtype=np.int64),
        np.ascontiguousarray(kind, dtype=np.int8),
        np.ascontiguousarray(cond, dtype=np.int64),
        np.ascontiguousarray(ts, dtype=np.int64),
        np.ascontiguousarray(since, dtype=np.int64),
        table,
        n_main,
        (1 << n_main) if has_hard else 0,
        state_mask,
        state_active,
        state_level,
        state_since,
        kleene is not None,
        k.table,
        k.seen,
        k.unknown_after_ms,
        k.always_known,
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
    ts,
    since,
    table,
    n_main,
    hard_bit,
    state_mask,
    state_active,
    state_level,
    state_since,
    use_kleene,
    table3,
    seen,
    unknown_after_ms,
    always_known,
    out_idx,
    out_fired,
    out_level,
):
    main_mask = (np.int64(1) << n_main) - 1
    n_out = 0
    for j in range(slot.shape[0]):
        s = slot[j]
        c = cond[j]
        mask = state_mask[s]
        if kind[j] != 3:  # FIRE or CLEAR change the condition's bit; SEEN only says it was sampled
            bit = np.int64(1) << c
            mask = (mask | bit) if kind[j] == 1 else (mask & ~bit)
            state_mask[s] = mask
        if use_kleene and c < n_main and ts[j] > seen[s, c]:
            seen[s, c] = ts[j]
        hard = hard_bit != 0 and (mask & hard_bit) != 0
        if use_kleene:
            index = 0
            weight = 1
            for i in range(n_main):
                if (always_known >> i) & 1 or (seen[s, i] >= 0 and ts[j] - seen[s, i] <= unknown_after_ms):
                    digit = 2 if (mask >> i) & 1 else 0
                else:
                    digit = 1
                index += digit * weight
                weight *= 3
            active_now = table3[index] == 2 or hard
            inactive_now = table3[index] == 0 and not hard
        else:
            active_now = table[mask & main_mask] or hard
            inactive_now = not active_now
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
        elif was_active == 1 and inactive_now:
            state_active[s] = 0
            state_level[s] = 0
            out_idx[n_out] = j
            out_fired[n_out] = 0
            out_level[n_out] = level
            n_out += 1
    return n_out
