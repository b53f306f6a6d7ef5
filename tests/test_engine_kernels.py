"""The engine's own kernels agree with their array or reference formulations: the batch sort,
a condition's selection and sampling, same-message lookups, and folding conditions into rules
(two-valued and Kleene's three-valued logic)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.expression import Expression
from rules.kernels.base import CLEAR, FIRE, SEEN
from rules.kernels.fold import Kleene, fold
from rules.kernels.grouping import KEY_BITS, first_per_step, merge_lookup, sorted_columns
from rules.kernels.select import select
from tests import naive_engine as naive
from tests.naive_engine import fold_reference


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 5), st.integers(-3, 11), st.integers(0, 30)), max_size=300),
    n_slots=st.sampled_from([10, 10_000]),  # counting sorts per signal's run, or comparison sorts
    read=st.one_of(st.none(), st.sets(st.integers(0, 3))),
)
def test_sorted_columns_are_a_stable_lexsort(rows, n_slots, read) -> None:
    """Vehicle ids 0-9 have slots (9 - id); others (negative, or beyond the lookup) are unknown.
    With `reads`, only the samples of the signals read are kept."""
    signal, vehicle, ts = (np.array([r[i] for r in rows], dtype=np.int64) for i in range(3))
    value = np.arange(len(rows), dtype=np.float64)  # which input row landed where
    lookup = np.arange(9, -1, -1, dtype=np.int64)
    reads = None if read is None else np.array([k in read for k in range(4)])  # ids 4 and 5: beyond it
    slot, got_ts, got_value, key, starts = sorted_columns(vehicle, signal, ts, value, lookup, 6, n_slots, reads)
    kept = np.ones(len(rows), bool) if read is None else np.isin(signal, sorted(read))
    signal, vehicle, ts = signal[kept], vehicle[kept], ts[kept]
    known = (vehicle >= 0) & (vehicle < 10)
    expected_slot = np.where(known, lookup[np.clip(vehicle, 0, 9)], -1)
    order = np.lexsort((ts, expected_slot, signal))
    assert got_value.tolist() == np.flatnonzero(kept)[order].tolist()
    assert slot.tolist() == expected_slot[order].tolist()
    assert got_ts.tolist() == ts[order].tolist()
    assert key.tolist() == ((slot << KEY_BITS) | got_ts).tolist()
    assert starts.tolist() == np.searchsorted(signal[order], np.arange(7)).tolist()


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.one_of(st.floats(-50, 50), st.just(math.nan)),
            st.one_of(st.floats(-50, 50), st.just(math.nan)),
            st.one_of(st.floats(-50, 50), st.just(math.nan)),
        ),
        max_size=60,
    ),
    scoped=st.booleans(),
    gated=st.booleans(),
    with_residual=st.booleans(),
)
def test_select_takes_what_the_array_formulation_takes(rows, scoped, gated, with_residual) -> None:
    slot = np.array(sorted(r[0] for r in rows), dtype=np.int64)
    ts = np.arange(len(rows), dtype=np.int64)
    value, gate_values, input_values = (np.array([r[i] for r in rows], dtype=np.float64) for i in (1, 2, 3))
    applies = np.array([True, False, True, True]) if scoped else None
    gate = (gate_values, -10.0, 20.0) if gated else None
    coefficients = np.array([[1.0, 0.5], [2.0, -1.0], [np.nan, np.nan], [0.0, 0.25]])
    residual = (coefficients, input_values[np.newaxis, :]) if with_residual else None
    got = select(slot, ts, value, applies=applies, gate=gate, residual=residual)
    expected = naive.select_reference(
        slot.tolist(),
        ts.tolist(),
        value.tolist(),
        applies=None if applies is None else applies.tolist(),
        gate=None if gate is None else (gate[0].tolist(), gate[1], gate[2]),
        residual=None if residual is None else (residual[0].tolist(), residual[1].tolist()),
    )
    spelled = lambda xs: ["nan" if x != x else x for x in xs]  # noqa: E731  NaN equals itself here
    assert [spelled(g.tolist()) for g in got] == [spelled(e) for e in expected]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 100)), max_size=60).map(sorted),
    step_ms=st.sampled_from([1, 7, 1000]),
    scoped=st.booleans(),
)
def test_first_per_step_takes_what_the_reference_takes(rows, step_ms, scoped) -> None:
    """A compound rule's SEEN sampling: each vehicle's first sample per step, in scope."""
    slot, ts = (np.array([r[i] for r in rows], dtype=np.int64) for i in range(2))
    applies = [True, False, True, True] if scoped else None
    got = first_per_step(slot, ts, step_ms, None if applies is None else np.array(applies))
    assert got.tolist() == naive.first_per_step_reference(slot.tolist(), ts.tolist(), step_ms, applies)


@settings(max_examples=200, deadline=None)
@given(
    have=st.sets(st.integers(0, 60), max_size=40),
    want=st.lists(st.integers(0, 60), max_size=40).map(sorted),
)
def test_merge_lookup_finds_what_a_search_finds(have, want) -> None:
    keys = np.array(sorted(have), dtype=np.int64)
    values = keys * 0.5
    got = merge_lookup(keys, values, np.array(want, dtype=np.int64))
    expected = [k * 0.5 if k in have else math.nan for k in want]
    assert [("nan" if math.isnan(g) else g) for g in got] == [("nan" if math.isnan(e) else e) for e in expected]


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 2), st.sampled_from([FIRE, CLEAR]), st.integers(0, 2)), max_size=80),
    has_hard=st.booleans(),
    text=st.sampled_from(["a and b", "a or b", "a and not b", "not (a or b)", "a"]),
)
def test_fold_matches_reference(events, has_hard, text) -> None:
    names = ["a", "b"]
    expression = Expression(text, set(names), "test")
    if not has_hard:
        events = [e for e in events if e[2] < 2]
    table = np.array([expression({"a": bool(m & 1), "b": bool(m & 2)}) for m in range(4)], dtype=np.bool_)
    state = [np.zeros(3, np.int64), np.zeros(3, np.int8), np.zeros(3, np.int8), np.full(3, -1, np.int64)]
    arrays = (np.array([e[i] for e in events], dtype=np.int64) for i in range(3))
    slot, kind, cond = arrays
    zeros = np.zeros(len(events), np.int64)
    idx, fired, level = fold(slot, kind, cond, zeros, zeros, table, 2, has_hard, *state)
    got = list(zip(idx.tolist(), fired.tolist(), level.tolist(), strict=True))
    assert got == fold_reference(events, names, expression, has_hard)


@settings(max_examples=400, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([FIRE, CLEAR, SEEN]), st.integers(0, 2), st.integers(0, 40)),
        max_size=60,
    ),
    text=st.sampled_from(["a and b", "a or b", "a and not b", "not (a or c)", "a and (b or not c)", "not a"]),
)
def test_three_valued_fold_matches_the_kleene_reference(steps, text) -> None:
    """Compound rules: a condition is unknown until sampled and after `unknown_after` without a
    sample; `not unknown` is unknown; only a definite true fires, only a definite false clears."""
    names = ["a", "b", "c"]
    expression = Expression(text, set(names), "test")
    clock = 0
    events, ts = [], []
    for slot, kind, cond, gap in steps:  # times only move forward
        clock += gap
        events.append((slot, kind, cond))
        ts.append(clock)
    events_ts = sorted(zip(events, ts, strict=True), key=lambda e: e[0][0])  # (slot, time) order, stable
    events, ts = [e for e, _ in events_ts], [t for _, t in events_ts]
    table = expression.kleene_table(names)
    state = [np.zeros(2, np.int64), np.zeros(2, np.int8), np.zeros(2, np.int8), np.full(2, -1, np.int64)]
    seen = np.full((2, 3), -1, np.int64)
    slot, kind, cond = (np.array([e[i] for e in events], dtype=np.int64) for i in range(3))
    times = np.array(ts, dtype=np.int64)
    two_valued = np.zeros(8, np.bool_)
    idx, fired, level = fold(slot, kind, cond, times, times, two_valued, 3, False, *state, Kleene(table, seen, 25, 0))
    got = list(zip(idx.tolist(), fired.tolist(), level.tolist(), strict=True))
    assert got == fold_reference(events, names, expression, False, ts=ts, unknown_after_ms=25)


def test_the_kleene_table_is_the_kleene_evaluation() -> None:
    names = ["a", "b", "c"]
    code: dict[int, bool | None] = {0: False, 1: None, 2: True}
    for text in ["a and not (b or c)", "a or not a", "not (a and b) or c"]:
        expression = Expression(text, set(names), "test")
        table = expression.kleene_table(names)
        for index in range(27):
            values = {n: code[index // 3**i % 3] for i, n in enumerate(names)}
            assert code[int(table[index])] == expression.kleene(values), (text, values)
