"""The numba threshold kernel agrees with the pure-Python reference, whatever the batching."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.kernels.base import CLEAR, FIRE
from rules.kernels.threshold import ThresholdParams
from tests.kernel_harness import normalised, run_batches
from tests.naive import threshold_reference

PARAMS = ThresholdParams(on_value=110.0, on_ms=30_000, off_value=100.0, off_ms=60_000, max_gap_ms=15_000)


def run(samples: list[tuple[int, int, float]], params: ThresholdParams, cuts: list[int]) -> list[tuple]:
    return run_batches(params, samples, cuts)


def test_fires_once_after_the_minimum_duration_and_clears_with_hysteresis() -> None:
    hot = [(0, t * 1000, 118.0) for t in range(46)]  # 45 s above 110 °C
    warm = [(0, t * 1000, 105.0) for t in range(46, 120)]  # between 100 and 110: still active
    cool = [(0, t * 1000, 95.0) for t in range(120, 200)]  # below 100 °C for > 60 s: clears
    events = run(hot + warm + cool, PARAMS, [])
    assert [(e[1], e[2]) for e in events] == [(FIRE, 30_000), (CLEAR, 180_000)]
    assert events[0][3] == 0
    assert events[0][4] == 118.0


def test_a_gap_longer_than_max_gap_restarts_the_duration() -> None:
    samples = [(0, 0, 120.0), (0, 20_000, 120.0), (0, 40_000, 120.0)]  # 20 s apart > 15 s max gap
    assert run(samples, PARAMS, []) == []


def test_replaying_a_batch_changes_nothing() -> None:
    hot = [(0, t * 1000, 118.0) for t in range(40)]
    state = PARAMS.new_state(1)
    arrays = (np.zeros(40, np.int64), np.array([s[1] for s in hot]), np.array([s[2] for s in hot]))
    assert len(PARAMS.evaluate(*arrays, state)) == 1
    assert len(PARAMS.evaluate(*arrays, state)) == 0


values = st.one_of(st.floats(80, 140), st.just(math.nan), st.sampled_from([99.9, 100.0, 110.0, 110.1]))
sample = st.tuples(st.integers(0, 3), st.integers(0, 400).map(lambda t: t * 1000), values)


@settings(max_examples=300, deadline=None)
@given(
    samples=st.lists(sample, max_size=120),
    cuts=st.lists(st.integers(0, 120), max_size=4),
    on_s=st.integers(0, 40),
    off_s=st.integers(0, 40),
    gap_s=st.integers(1, 30),
    above=st.booleans(),
)
def test_kernel_matches_reference(
    samples: list[tuple[int, int, float]], cuts: list[int], on_s: int, off_s: int, gap_s: int, above: bool
) -> None:
    params = ThresholdParams(
        on_value=110.0 if above else 100.0,
        on_ms=on_s * 1000,
        off_value=100.0 if above else 110.0,
        off_ms=off_s * 1000,
        max_gap_ms=gap_s * 1000,
        above=above,
    )
    # The reference sees everything at once; batching only matches it when every batch is in
    # time order after the previous one, so feed time-sorted samples cut at arbitrary positions
    # (duplicates and out-of-order samples inside a batch still occur).
    ordered = sorted(samples, key=lambda s: s[1])
    got = run(ordered, params, cuts)
    want = threshold_reference(ordered, params)
    assert normalised(got) == normalised(want)
